"""When a concurrency slot (one apply per stack, one canary per app) may be taken from its
holder: the holder is gone, not merely slow.

A holder proves it is alive by refreshing its record on the Prefect server every few seconds;
the record's age is measured on the server's clock (its ``updated`` time against the server's
``Date``), so clocks of different worker hosts never enter the rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# Flow-run state types after which a run holds nothing any more.
FINAL_STATES = frozenset({"COMPLETED", "FAILED", "CANCELLED", "CRASHED"})


@dataclass(frozen=True)
class SlotHolder:
    """What the server knows of the run holding a slot."""

    lease_id: str
    flow_run_id: str | None
    refreshed_at: datetime  # the server's time of the holder's last refresh
    run_state: str | None  # the holder run's state type; None if unknown (not a flow run)


def reclaim_reason(holder: SlotHolder, server_now: datetime, grace_seconds: float) -> str | None:
    """Why the slot may be taken from ``holder``, or None while it must be left alone.

    Reclaimable when the holding run is in a final state (it ended without releasing: killed
    before its ``finally``), or when its record has not been refreshed for more than
    ``grace_seconds`` (its process or host is gone). A record refreshed exactly
    ``grace_seconds`` ago is still alive.
    """
    if holder.run_state in FINAL_STATES:
        return f"its run {holder.flow_run_id} is {holder.run_state.lower()}"
    silent = (server_now - holder.refreshed_at).total_seconds()
    if silent > grace_seconds:
        who = f"run {holder.flow_run_id}" if holder.flow_run_id else "its holder"
        return f"{who} has not refreshed it for {silent:.0f}s (grace {grace_seconds:.0f}s)"
    return None
