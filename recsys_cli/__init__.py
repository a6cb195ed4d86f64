"""recsys_cli: a command-line experiment runner for collaborative-filtering recommenders."""

__version__ = "0.1.0"
