"""Measurement: timing harness, statistics, parity, complexity, memory, environment, plans."""
