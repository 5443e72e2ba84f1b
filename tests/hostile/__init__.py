"""Hostile-input tests: one table of cases per area, run by :mod:`._table` (import it relatively)."""
