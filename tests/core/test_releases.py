from __future__ import annotations

import json
import uuid

import pytest

from shipflow.core.releases import (
    IN_FLIGHT_KEPT,
    RELEASED_KEPT,
    claimed,
    decide_claim,
    finished,
    holder,
    released,
)

SHA = "9c1d4b5e6f708192a3b4c5d6e7f809a1b2c3d4e5"
OTHER = "1" * 40
ME = "run-me"
HOLDER = "run-holder"


@pytest.mark.parametrize(
    ("record", "holder_state", "take", "reason"),
    [
        (None, None, True, "not claimed"),
        ({"sha": OTHER, "state": "released", "run": HOLDER}, None, True, "not claimed"),
        ({"sha": SHA, "state": "released", "run": HOLDER}, "COMPLETED", False, "already released"),
        ({"sha": SHA, "state": "failed", "run": HOLDER}, "FAILED", True, "ended failed"),
        ({"sha": SHA, "state": "releasing", "run": HOLDER}, "RUNNING", False, "(RUNNING)"),
        ({"sha": SHA, "state": "releasing", "run": HOLDER}, "PAUSED", False, "(PAUSED)"),
        ({"sha": SHA, "state": "releasing", "run": HOLDER}, "PENDING", False, "(PENDING)"),
        ({"sha": SHA, "state": "releasing", "run": HOLDER}, "CANCELLING", False, "(CANCELLING)"),
        ({"sha": SHA, "state": "releasing", "run": HOLDER}, "CRASHED", True, "which is crashed"),
        ({"sha": SHA, "state": "releasing", "run": HOLDER}, "CANCELLED", True, "is cancelled"),
        ({"sha": SHA, "state": "releasing", "run": HOLDER}, "FAILED", True, "which is failed"),
        ({"sha": SHA, "state": "releasing", "run": HOLDER}, "COMPLETED", True, "is completed"),
        ({"sha": SHA, "state": "releasing", "run": HOLDER}, None, True, "which is gone"),
        ({"sha": SHA, "state": "releasing"}, None, True, "was not recorded"),
        ({"sha": SHA, "state": "releasing", "run": ME}, "RUNNING", True, "by this run"),
        ("not a mapping", None, True, "not claimed"),
    ],
)
def test_decide_claim(record: object, holder_state: str | None, take: bool, reason: str) -> None:
    decision = decide_claim(record, SHA, ME, holder_state)  # type: ignore[arg-type]
    assert decision.take is take
    assert reason in decision.reason


OLDER = "2" * 40
OTHER_RUN = "run-other"


def test_an_older_commit_released_before_a_newer_one_is_not_released_again() -> None:
    record = finished(claimed(None, OLDER, HOLDER), OLDER, HOLDER, "released")
    record = finished(claimed(record, SHA, ME), SHA, ME, "released")
    decision = decide_claim(record, OLDER, OTHER_RUN, None)
    assert decision.take is False
    assert (
        decision.reason == f"{OLDER} is already released (an earlier release: {SHA} came after it)"
    )
    assert released(record) == [SHA, OLDER]


def test_an_older_commit_still_in_flight_is_not_claimed_twice() -> None:
    record = claimed(None, OLDER, HOLDER)  # still releasing when the next merge comes
    record = claimed(record, SHA, ME)
    assert holder(record, OLDER) == HOLDER
    assert decide_claim(record, OLDER, OTHER_RUN, "RUNNING").take is False
    # ... and taken over once that run died
    assert decide_claim(record, OLDER, OTHER_RUN, "CRASHED").take is True


def test_an_older_release_ending_keeps_the_newer_claim() -> None:
    record = claimed(claimed(None, OLDER, HOLDER), SHA, ME)
    record = finished(record, OLDER, HOLDER, "released")
    assert (record["sha"], record["state"], record["run"]) == (SHA, "releasing", ME)
    assert holder(record, OLDER) is None
    assert OLDER in released(record)
    assert decide_claim(record, SHA, OTHER_RUN, "RUNNING").take is False


def test_a_failed_release_is_not_remembered_as_released() -> None:
    record = finished(claimed(None, SHA, ME), SHA, ME, "failed")
    assert released(record) == []
    assert decide_claim(record, SHA, OTHER_RUN, "FAILED").reason == (
        f"the last release of {SHA} ended failed"
    )


def test_the_history_is_bounded_and_fits_a_prefect_variable() -> None:
    record = None
    for i in range(RELEASED_KEPT + 30):
        sha = f"{i:040x}"
        record = finished(claimed(record, sha, f"{i:032x}"), sha, f"{i:032x}", "released")
    assert record is not None
    assert len(released(record)) == RELEASED_KEPT
    assert released(record)[0] == f"{RELEASED_KEPT + 29:040x}"
    for i in range(IN_FLIGHT_KEPT + 5):  # merges claimed faster than they are released
        record = claimed(record, f"{i:039x}f", str(uuid.UUID(int=i)))
    assert len(record["in_flight"]) == IN_FLIGHT_KEPT
    assert len(json.dumps(record)) < 5000  # Prefect's limit on a variable's value
