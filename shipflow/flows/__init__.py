"""Prefect flows: sequence tasks, pause for approval, branch on verdicts."""
