"""The rule that guards apply, and what of the outputs may be shown."""

from __future__ import annotations

import pytest

from shipflow.core.approval import StateVersion, stale_plan_reason
from shipflow.core.secrets import MASK, redact_outputs

S1 = StateVersion(serial=1, lineage="L")
S2 = StateVersion(serial=2, lineage="L")
OTHER = StateVersion(serial=1, lineage="M")


@pytest.mark.parametrize(
    ("approved", "actual", "planned", "now", "reason"),
    [
        ("a" * 64, "a" * 64, S1, S1, None),
        ("a" * 64, "a" * 64, None, None, None),
        ("a" * 64, "b" * 64, S1, S1, "plan file sha256 bbbb"),
        ("a" * 64, "a" * 64, S1, S2, "moved from serial 1 (lineage L) to serial 2 (lineage L)"),
        ("a" * 64, "a" * 64, S1, OTHER, "to serial 1 (lineage M)"),
        ("a" * 64, "a" * 64, None, S1, "moved from no state to serial 1"),
        ("a" * 64, "a" * 64, S1, None, "to no state"),
    ],
)
def test_stale_plan_rule(
    approved: str,
    actual: str,
    planned: StateVersion | None,
    now: StateVersion | None,
    reason: str | None,
) -> None:
    found = stale_plan_reason(
        stack="web",
        approved_sha256=approved,
        plan_sha256=actual,
        planned_state=planned,
        current_state=now,
    )
    if reason is None:
        assert found is None
    else:
        assert found is not None
        assert reason in found
        assert found.startswith("stale plan, re-plan:")
        assert found.endswith("nothing was applied")


def test_outputs_sensitive_masked_and_known_secrets_redacted_at_any_depth() -> None:
    outputs = {
        "db": {"sensitive": True, "value": {"password": "hunter2-hunter2"}},
        "url": {"sensitive": False, "value": "https://user:tok-1234567@host"},
        "nested": {"sensitive": False, "value": {"list": ["tok-1234567", 3, None]}},
    }
    assert redact_outputs(outputs, {"tok-1234567"}) == {
        "db": MASK,
        "url": f"https://user:{MASK}@host",
        "nested": {"list": [MASK, 3, None]},
    }
