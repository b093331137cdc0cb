"""Profiling: the features view, demand tags, demand types / levels / groups, white paper."""
