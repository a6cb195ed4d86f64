"""The ground floor: atomic writes, locks, errors, interrupts, seeds, strict YAML."""
