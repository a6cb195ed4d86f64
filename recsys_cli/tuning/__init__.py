"""Optuna studies and their search spaces."""
