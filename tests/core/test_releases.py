from __future__ import annotations

import pytest

from shipflow.core.releases import decide_claim

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
