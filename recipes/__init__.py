"""Thin training recipes on top of datakit datasets (none yet: they arrive with the training issues)."""
