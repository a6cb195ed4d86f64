"""Experiment YAML -> validated, typed config: the blocks (blocks.py) and the loader that
reports every error of a file at once (load.py)."""
