"""Incident detection over daily issue clusters: spike scoring and cross-day topic matching."""
