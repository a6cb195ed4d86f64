"""The stages of a run, one module each (ingest, split, tune, train, evaluate, export, report,
compare): functions from the run's `StageEnv` (env.py) and typed inputs to frozen records
(records.py). No stage imports another stage; the driver (run.py) composes them."""
