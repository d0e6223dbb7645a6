"""Prefect flows and tasks: thin wrappers around the stage modules."""
