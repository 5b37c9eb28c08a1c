from __future__ import annotations

import pytest
from pydantic import ValidationError

from shipflow.core.liveness import DeadRunPolicy


@pytest.mark.parametrize(
    ("heartbeat", "crashed_after", "cancel", "crashed_within", "cancelled_within"),
    [
        (30, 90, 60, (60, 95), 65),  # the defaults: Prefect's documented 90 s window
        (30, 45, 30, (15, 50), 35),
        (60, 180, 120, (120, 185), 125),
    ],
)
def test_windows(
    heartbeat: int,
    crashed_after: int,
    cancel: int,
    crashed_within: tuple[int, int],
    cancelled_within: int,
) -> None:
    policy = DeadRunPolicy(
        heartbeat_seconds=heartbeat,
        crashed_after_seconds=crashed_after,
        cancel_confirm_seconds=cancel,
    )
    assert policy.crashed_within() == crashed_within
    assert policy.cancelled_within() == cancelled_within


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"heartbeat_seconds": 10}, "greater than or equal to 30"),
        ({"crashed_after_seconds": 40}, "heartbeat (30) + 15"),
        ({"heartbeat_seconds": 60, "crashed_after_seconds": 70}, "heartbeat (60) + 15"),
        ({"cancel_confirm_seconds": 5}, "greater than or equal to 10"),
    ],
)
def test_windows_that_would_crash_live_runs_are_refused(fields: dict[str, int], words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        DeadRunPolicy(**fields)
    assert words in str(caught.value)


def test_describe_says_the_times() -> None:
    assert DeadRunPolicy().describe() == (
        "heartbeats every 30s; a run whose process died is Crashed 60-95s later; "
        "a cancel no worker confirms ends Cancelled within 65s"
    )
