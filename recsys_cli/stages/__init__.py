"""The stages of a run, one module each (ingest, split, tune, train, evaluate, export, compare,
report) over a shared `RunContext` (stages/context.py). No stage imports another stage; the
driver in recsys_cli/run.py sequences them. Kept empty on purpose: see DESIGN.md on thin
`__init__` files."""
