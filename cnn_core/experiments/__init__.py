"""Experiments built from training runs: comparisons, searches, sanity checks, init statistics, sharing."""
