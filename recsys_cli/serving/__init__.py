"""Answers from a finished run: recommendations, similar items, model comparison."""
