"""When a waiter may take a concurrency slot from its holder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shipflow.core.slots import SlotHolder, reclaim_reason

NOW = datetime(2026, 11, 26, 23, 0, 0, tzinfo=UTC)


def holder(silent: float, state: str | None = "RUNNING", run: str | None = "run-1") -> SlotHolder:
    return SlotHolder(
        lease_id="lease-1",
        flow_run_id=run,
        refreshed_at=NOW - timedelta(seconds=silent),
        run_state=state,
    )


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (holder(0), None),
        (holder(19.9), None),
        (holder(20), None),  # exactly the grace: still alive
        (holder(20.5), "run run-1 has not refreshed it for 20s (grace 20s)"),
        (holder(300), "run run-1 has not refreshed it for 300s (grace 20s)"),
        (holder(0, "CRASHED"), "its run run-1 is crashed"),
        (holder(0, "COMPLETED"), "its run run-1 is completed"),
        (holder(0, "CANCELLED"), "its run run-1 is cancelled"),
        (holder(0, "FAILED"), "its run run-1 is failed"),
        (holder(0, "PAUSED"), None),  # a run paused for approval still holds its slot
        (holder(5, None, None), None),
        (holder(21, None, None), "its holder has not refreshed it for 21s (grace 20s)"),
        # A record from the future (server clock moved back) is alive, never negative-stale.
        (holder(-30), None),
    ],
)
def test_a_slot_is_taken_only_from_a_holder_that_ended_or_fell_silent(
    given: SlotHolder, expected: str | None
) -> None:
    assert reclaim_reason(given, NOW, grace_seconds=20) == expected
