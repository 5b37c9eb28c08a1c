"""One module per outside system, plain Python: no Prefect, no decisions, typed errors."""
