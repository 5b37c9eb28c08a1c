"""Prefect tasks: thin wrappers (retries, artifacts, events) around the shipflow library."""
