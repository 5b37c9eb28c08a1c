"""detect_drift: scheduled drift detection across many Terraform stacks."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.client.schemas.objects import State
from prefect.states import Completed, Failed

from shipflow.core.drift import DriftStatus
from shipflow.errors import ConfigError
from shipflow.tasks.drift import discover_stacks, notify_drift, publish_drift, scan_stacks


@flow(name="detect_drift")
def detect_drift(
    stacks: list[str] | None = None,
    stack_glob: str | None = None,
    max_parallel: int = 4,
    notify_block: str | None = None,
) -> State[Any]:
    """Plan every stack (never apply) and say which drifted, which have pending code, which
    are clean and which could not be checked.

    Args:
        stacks: Stack directories (absolute, or relative to SHIPFLOW_STACKS_ROOT). None: every
            stack under SHIPFLOW_STACKS_ROOT, at any depth (a directory whose HCL declares a
            backend or cloud block, or that holds a local state).
        stack_glob: Also scan the stacks under SHIPFLOW_STACKS_ROOT whose path matches this
            glob (``envs/*/*``; ``**`` for any depth).
        max_parallel: How many stacks are planned at once (each in its own process).
        notify_block: A Prefect Secret block holding a Slack-compatible webhook URL; each
            newly drifted stack is reported once.
    """
    if max_parallel < 1:
        raise ConfigError("max_parallel", f"must be at least 1, got {max_parallel}")
    targets, unusable = discover_stacks(stacks or [], stack_glob)
    logger = get_run_logger()
    logger.info("Scanning %s stack(s), %s at a time", len(targets), max_parallel)
    for report in unusable:
        logger.warning("%s: %s", report.stack, report.reason)
    scanned = scan_stacks(targets, max_parallel) if targets else []
    reports = [*scanned, *unusable]
    publish_drift(targets, scanned, unusable)
    if notify_block:
        sent = notify_drift(targets, scanned, notify_block)
        if sent:
            logger.info("Notified drift of %s", ", ".join(sent))
    counts = {status: sum(r.status is status for r in reports) for status in DriftStatus}
    message = ", ".join(f"{n} {status.value}" for status, n in counts.items() if n)
    if counts[DriftStatus.ERROR] == len(reports):
        return Failed(message=f"every stack errored: {reports[0].reason}")
    return Completed(message=message, data=[r.model_dump(mode="json") for r in reports])
