"""Drift: has a stack changed outside Terraform, or is code waiting to be applied?

Read from the JSON of a normal ``plan`` (``show -json``): Terraform refreshes first and lists
what changed outside it under ``resource_drift``; ``resource_changes`` then holds what apply
would do, which includes putting drifted resources back. A change whose planned values are
exactly the values from before the drift only undoes the drift; any other change is pending
code. A ``-refresh-only`` plan, when given, is the authority on drift.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from shipflow.core.plans import Action, ResourceChange, parse_plan


class DriftStatus(StrEnum):
    CLEAN = "clean"  # state matches the world and the code
    DRIFTED = "drifted"  # something changed outside Terraform
    PENDING = "pending"  # the code differs from state; nothing drifted
    ERROR = "error"  # init or plan failed


class DriftReport(BaseModel):
    """One stack's drift, with addresses and attribute paths (never values)."""

    model_config = ConfigDict(frozen=True)

    stack: str
    status: DriftStatus
    drifted: tuple[ResourceChange, ...] = ()
    pending: tuple[ResourceChange, ...] = ()
    reason: str = ""
    seconds: float = 0.0

    @property
    def fingerprint(self) -> str:
        """Identifies *this* drift: same resources and attributes, same fingerprint."""
        text = "\n".join(
            f"{d.address}|{d.action.value}|{','.join(d.changed_attributes)}" for d in self.drifted
        )
        return hashlib.sha256(f"{self.stack}\n{text}".encode()).hexdigest()[:16]

    def summary(self) -> str:
        if self.status is DriftStatus.ERROR:
            return f"error: {self.reason}"
        if self.status is DriftStatus.DRIFTED:
            more = f", {len(self.pending)} pending change(s)" if self.pending else ""
            return f"{len(self.drifted)} resource(s) changed outside Terraform{more}"
        if self.status is DriftStatus.PENDING:
            return f"{len(self.pending)} pending change(s), no drift"
        return "clean"

    def row(self) -> dict[str, str]:
        return {
            "stack": self.stack,
            "status": self.status.value,
            "drifted resources": ", ".join(d.address for d in self.drifted) or "-",
            "pending changes": ", ".join(f"{p.action.value} {p.address}" for p in self.pending)
            or "-",
            "seconds": f"{self.seconds:.1f}",
            "detail": self.reason or self.summary(),
        }

    def to_markdown(self) -> str:
        lines = [f"# Drift in `{self.stack}`", "", f"**{self.summary()}**", ""]
        if self.drifted:
            lines += [
                "## Changed outside Terraform",
                "",
                "| resource | change | attributes |",
                "|---|---|---|",
            ]
            for d in self.drifted:
                attrs = ", ".join(f"`{a}`" for a in d.changed_attributes) or "-"
                lines.append(f"| `{d.address}` | {d.action.value} | {attrs} |")
            lines.append("")
        if self.pending:
            lines += ["## Pending code changes (not applied yet)", ""]
            for p in self.pending:
                attrs = ", ".join(f"`{a}`" for a in p.changed_attributes)
                lines.append(f"- {p.action.value} `{p.address}`" + (f": {attrs}" if attrs else ""))
            lines.append("")
        return "\n".join(lines)


def classify_drift(
    stack: str,
    plan_json: Mapping[str, Any],
    refresh_json: Mapping[str, Any] | None = None,
    *,
    seconds: float = 0.0,
) -> DriftReport:
    """DRIFTED when anything changed outside Terraform (pending changes listed too); PENDING
    when only the code differs from state; CLEAN otherwise."""
    plan = parse_plan(plan_json)
    drift_source = parse_plan(refresh_json) if refresh_json is not None else plan
    drifted = drift_source.drift
    reversals = _reversals(plan_json)
    pending = tuple(
        c
        for c in plan.changes
        if c.action not in (Action.NO_OP, Action.READ) and c.address not in reversals
    )
    if drifted:
        status = DriftStatus.DRIFTED
    elif pending or plan.output_changes:
        status = DriftStatus.PENDING
    else:
        status = DriftStatus.CLEAN
    return DriftReport(
        stack=stack, status=status, drifted=drifted, pending=pending, seconds=seconds
    )


def error_report(stack: str, reason: str, *, seconds: float = 0.0) -> DriftReport:
    return DriftReport(stack=stack, status=DriftStatus.ERROR, reason=reason, seconds=seconds)


def _reversals(plan_json: Mapping[str, Any]) -> set[str]:
    """Addresses whose planned change only puts back the values from before the drift."""
    before_drift = {
        d.get("address"): (d.get("change") or {}).get("before")
        for d in plan_json.get("resource_drift") or []
    }
    deleted_outside = {
        d.get("address")
        for d in plan_json.get("resource_drift") or []
        if (d.get("change") or {}).get("actions") == ["delete"]
    }
    found = set()
    for rc in plan_json.get("resource_changes") or []:
        address = rc.get("address")
        if address not in before_drift:
            continue
        change = rc.get("change") or {}
        if address in deleted_outside and change.get("actions") == ["create"]:
            found.add(address)  # re-creating what was deleted outside Terraform
            continue
        if change.get("after_unknown") not in (None, {}, False) and any(
            v is True for v in (change.get("after_unknown") or {}).values()
        ):
            continue
        if change.get("after") == before_drift[address]:
            found.add(address)
    return found
