"""The review of a plan as people and CI read it: markdown (the approval form, the artifact,
``shipflow terraform review``), JSON (``--json``) and table rows. Built from a
:class:`~shipflow.core.plans.PlanSummary` only, so no value of the plan can reach it.
"""

from __future__ import annotations

from typing import Any

from shipflow.core.plans import Action, PlanSummary, ResourceChange


def review_rows(summary: PlanSummary) -> list[dict[str, str]]:
    """One row per changed object, for a table artifact."""
    return [
        {
            "address": c.address,
            "action": c.describe(),
            "attributes": ", ".join(c.paths) or "-",
            "forces replacement": ", ".join(c.replace_paths) or "-",
        }
        for c in summary.rows()
    ]


def review_json(summary: PlanSummary) -> dict[str, Any]:
    """The review as JSON (``shipflow terraform review --json``): paths, never values."""
    return {
        "headline": summary.headline(),
        "errored": summary.errored,
        "complete": summary.complete,
        "approvable": summary.approvable,
        "has_changes": summary.has_changes,
        "risk": summary.risk.value,
        "terraform_version": summary.terraform_version,
        "format_version": summary.format_version,
        "counts": summary.counts.as_dict(),
        "resources": [
            {
                "address": c.address,
                "previous_address": c.previous_address,
                "action": c.action.value,
                "importing": c.importing,
                "paths": list(c.paths),
                "replace_paths": list(c.replace_paths),
            }
            for c in summary.changes
            if c.is_change
        ],
        "outputs": [o.model_dump(mode="json") for o in summary.output_changes],
        "failing_checks": [f.model_dump(mode="json") for f in summary.failing_checks],
        "deferred": [d.model_dump(mode="json") for d in summary.deferred],
        "actions": [a.model_dump(mode="json") for a in summary.actions],
        "warnings": list(summary.warnings),
    }


def review_markdown(summary: PlanSummary, *, stack: str, plan_sha256: str | None = None) -> str:
    """The review: failure first, headline and risk, destroys, then everything else."""
    lines = [f"# Terraform plan for `{stack}`", ""]
    if summary.refusal:
        lines += [f":no_entry: **{summary.refusal}.**", ""]
    lines.append(f"**{summary.headline()}** — risk: **{summary.risk.value}**")
    if plan_sha256:
        lines.append(f"\nPlan file sha256: `{plan_sha256}`")
    for warning in summary.warnings:
        lines.append(f"\n:information_source: {warning}")
    if summary.failing_checks:
        lines += ["", "## Failing checks", ""]
        for f in summary.failing_checks:
            why = "; ".join(f.problems) or "no message"
            lines.append(f"- :x: `{f.address}` ({f.status}): {why}")
    destructive = [
        c
        for c in summary.changes
        if c.action in (Action.DELETE, Action.REPLACE, Action.FORGET, Action.CREATE_THEN_FORGET)
    ]
    if destructive:
        lines += ["", "## Destroys and forgets", ""]
        for c in destructive:
            lines.append(f"- :warning: `{c.address}` {_destructive_words(c)}")
    rows = summary.rows()
    if rows:
        lines += ["", "## Resources", "", "| action | address | attributes |", "|---|---|---|"]
        for c in rows:
            attrs = ", ".join(f"`{a}`" for a in c.paths) or "-"
            lines.append(f"| {c.describe()} | `{c.address}` | {attrs} |")
    if summary.deferred:
        lines += ["", "## Deferred (needs another plan after this one)", ""]
        for deferred in summary.deferred:
            lines.append(f"- `{deferred.address}` ({deferred.action.value}): {deferred.reason}")
    if summary.actions:
        lines += ["", "## Actions to invoke", ""]
        for a in summary.actions:
            lines.append(f"- `{a.address}` ({a.trigger})")
    if summary.output_changes:
        lines += ["", "## Outputs", ""]
        for o in summary.output_changes:
            note = " (sensitive)" if o.sensitive else ""
            lines.append(f"- `{o.name}`: {o.action.value}{note}")
    if summary.drift:
        lines += ["", "## Changed outside Terraform (drift)", ""]
        for d in summary.drift:
            attrs = ", ".join(f"`{a}`" for a in d.paths) or "-"
            lines.append(f"- `{d.address}` ({d.action.value}): {attrs}")
    return "\n".join(lines) + "\n"


def _destructive_words(c: ResourceChange) -> str:
    why = f" (forced by {', '.join(f'`{p}`' for p in c.replace_paths)})" if c.replace_paths else ""
    if c.action is Action.FORGET:
        return "will be **removed from state**, not destroyed"
    if c.action is Action.CREATE_THEN_FORGET:
        return f"will be **replaced**; the old object is kept, not destroyed{why}"
    if c.action is Action.REPLACE:
        return f"will be **replaced** (destroyed and created){why}"
    return "will be **destroyed**"


def plan_event_payload(summary: PlanSummary, plan_sha256: str) -> dict[str, Any]:
    """The payload of ``shipflow.terraform.planned``: the headline, counts and check names."""
    return {
        "headline": summary.headline(),
        "risk": summary.risk.value,
        "plan_sha256": plan_sha256,
        "errored": summary.errored,
        "approvable": summary.approvable,
        "counts": summary.counts.as_dict(),
        "failing_checks": [f.address for f in summary.failing_checks],
    }
