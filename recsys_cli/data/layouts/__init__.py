"""Raw source layouts written from the synthetic likes (`recsys generate`); see data/generators.py."""
