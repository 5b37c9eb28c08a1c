"""The rule that guards apply: only the plan that was approved, on the state it was made from.

An approval names a plan file by its sha256. Between approval and apply, the file may be
replaced or the state may move (someone else applied); either way the approved plan is no
longer what would be applied, so nothing is applied and the reason says what moved.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StateVersion(BaseModel):
    """Identity of the remote state at one moment: Terraform bumps ``serial`` on every write."""

    model_config = ConfigDict(frozen=True)

    serial: int
    lineage: str

    def describe(self) -> str:
        return f"serial {self.serial} (lineage {self.lineage})"


def stale_plan_reason(
    *,
    stack: str,
    approved_sha256: str,
    plan_sha256: str,
    planned_state: StateVersion | None,
    current_state: StateVersion | None,
) -> str | None:
    """Why applying would not apply the approved plan; None when it would.

    Stale when the plan file's sha256 is not the approved one, or when the state's serial or
    lineage moved since the plan was made (a state that appeared or vanished counts).
    """
    if plan_sha256 != approved_sha256:
        return (
            f"stale plan, re-plan: plan file sha256 {plan_sha256} is not the approved "
            f"{approved_sha256}; nothing was applied"
        )
    if current_state != planned_state:
        return (
            f"stale plan, re-plan: state of {stack} moved from {_describe(planned_state)} to "
            f"{_describe(current_state)} since the plan; nothing was applied"
        )
    return None


def _describe(state: StateVersion | None) -> str:
    return "no state" if state is None else state.describe()
