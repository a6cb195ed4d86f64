"""Data layer: source formats -> canonical dataset folder -> split folders."""
