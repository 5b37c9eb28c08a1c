"""Drift: has a stack changed outside Terraform, or is code waiting to be applied?

Read from the JSON of a normal ``plan`` (``show -json``): Terraform refreshes first and lists
what changed outside it under ``resource_drift``; ``resource_changes`` then holds what apply
would do, which includes putting drifted resources back. A change whose planned values are
exactly the values from before the drift only undoes the drift; any other change is pending
code. A plan that errored or is incomplete is an error: it cannot tell what is clean.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from shipflow.core.plan_document import PlanDocument, read_plan
from shipflow.core.plan_paths import Shape, ShapeKey, any_marked
from shipflow.core.plans import Action, ResourceChange, summarize


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
        text = "\n".join(f"{d.address}|{d.action.value}|{','.join(d.paths)}" for d in self.drifted)
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
                attrs = ", ".join(f"`{a}`" for a in d.paths) or "-"
                lines.append(f"| `{d.address}` | {d.action.value} | {attrs} |")
            lines.append("")
        if self.pending:
            lines += ["## Pending code changes (not applied yet)", ""]
            for p in self.pending:
                attrs = ", ".join(f"`{a}`" for a in p.paths)
                lines.append(f"- {p.action.value} `{p.address}`" + (f": {attrs}" if attrs else ""))
            lines.append("")
        return "\n".join(lines)


def classify_drift(
    stack: str,
    plan_json: Mapping[str, Any] | PlanDocument,
    *,
    shapes: Mapping[ShapeKey, Shape] | None = None,
    seconds: float = 0.0,
) -> DriftReport:
    """ERROR when the plan errored or is incomplete (Terraform could not see everything);
    DRIFTED when anything changed outside Terraform (pending changes listed too); PENDING when
    only the code differs from state (imports and moves included); CLEAN otherwise."""
    doc = read_plan(plan_json)
    plan = summarize(doc, shapes or {})
    if not plan.approvable:
        checks = "; ".join(
            f"{f.address}: {'; '.join(f.problems) or f.status}" for f in plan.failing_checks
        )
        reason = plan.refusal + (f" ({checks})" if checks else "")
        return error_report(stack, reason, seconds=seconds)
    reversals = _reversals(doc)
    pending = tuple(
        c
        for c in plan.changes
        if c.is_change and c.action is not Action.READ and c.address not in reversals
    )
    if plan.drift:
        status = DriftStatus.DRIFTED
    elif pending or plan.output_changes or plan.actions:
        status = DriftStatus.PENDING
    else:
        status = DriftStatus.CLEAN
    return DriftReport(
        stack=stack, status=status, drifted=plan.drift, pending=pending, seconds=seconds
    )


def error_report(stack: str, reason: str, *, seconds: float = 0.0) -> DriftReport:
    return DriftReport(stack=stack, status=DriftStatus.ERROR, reason=reason, seconds=seconds)


def _reversals(doc: PlanDocument) -> set[str]:
    """Addresses whose planned change only puts back what was there before the drift: the
    planned values equal the values from before it (none unknown until apply), or an object
    deleted outside Terraform is created again."""
    drift = {d.address: d.change for d in doc.resource_drift}
    found = set()
    for rc in doc.resource_changes:
        before_drift = drift.get(rc.address)
        if before_drift is None or rc.moved or rc.change.importing is not None:
            continue
        recreated = before_drift.actions == ("delete",) and rc.change.actions == ("create",)
        unknown = any_marked(rc.change.after_unknown)
        put_back = not unknown and rc.change.after == before_drift.before
        if recreated or put_back:
            found.add(rc.address)
    return found
