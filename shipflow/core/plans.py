"""What a Terraform plan will do: the review a person approves, from the typed plan document.

:func:`parse_plan` reads a ``terraform show -json PLANFILE`` document once
(:mod:`shipflow.core.plan_document`) and summarises it. A :class:`PlanSummary` holds addresses,
actions, attribute *paths*, check results and counts, never values, so it is safe to publish
as an artifact, an event or ``--json`` even when the plan holds sensitive values.

The counts are Terraform's own (its ``Plan:`` line): an import is counted once as an import, a
replace once as an add and once as a destroy, a move only as moved; ``forget`` (a ``removed``
block with ``destroy = false``), which Terraform leaves out of its line, is counted apart. A
plan that errored or is incomplete says so first and is never approvable.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from shipflow.core.plan_document import (
    Change,
    PlanDocument,
    ResourceChangeDoc,
    read_plan,
)
from shipflow.core.plan_paths import Shape, ShapeKey, changed_paths, path_of


class Action(StrEnum):
    """What Terraform will do to one object."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    REPLACE = "replace"  # delete then create, or create then delete
    CREATE_THEN_FORGET = "create-then-forget"  # replaced; the old object is kept, not destroyed
    FORGET = "forget"  # removed from state, not destroyed
    READ = "read"
    NO_OP = "no-op"


_ACTIONS: dict[tuple[str, ...], Action] = {
    ("no-op",): Action.NO_OP,
    ("create",): Action.CREATE,
    ("read",): Action.READ,
    ("update",): Action.UPDATE,
    ("delete",): Action.DELETE,
    ("forget",): Action.FORGET,
    ("delete", "create"): Action.REPLACE,
    ("create", "delete"): Action.REPLACE,
    ("create", "forget"): Action.CREATE_THEN_FORGET,
}


class Risk(StrEnum):
    """How careful a reviewer should be: deletes and replaces destroy something."""

    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class ResourceChange(_Frozen):
    """One object the plan touches, with the attribute paths that change (never values)."""

    address: str
    action: Action
    previous_address: str | None = None  # set when a `moved` block (or refactor) moved it
    paths: tuple[str, ...] = ()
    replace_paths: tuple[str, ...] = ()
    importing: bool = False
    import_id: str | None = None
    mode: str = "managed"
    reason: str = ""  # Terraform's action_reason, for display

    @property
    def moved(self) -> bool:
        return self.previous_address is not None and self.previous_address != self.address

    @property
    def is_change(self) -> bool:
        """Applying it changes state: any action but no-op, or an import or a move."""
        return self.action is not Action.NO_OP or self.importing or self.moved

    def describe(self) -> str:
        """``import``, ``update``, ``move a → b``: the words of the review's table."""
        words = []
        if self.importing:
            words.append("import")
        if self.action is not Action.NO_OP:
            words.append(self.action.value)
        if self.moved:
            words.append(f"move `{self.previous_address}` → `{self.address}`")
        return " + ".join(words) or "no-op"


class OutputChange(_Frozen):
    """An output whose value the plan changes."""

    name: str
    action: Action
    sensitive: bool


class FailingCheck(_Frozen):
    """A check block or condition that failed (or could not be evaluated) during the plan."""

    address: str
    status: str
    problems: tuple[str, ...] = ()


class DeferredChange(_Frozen):
    """A change Terraform could not plan yet, and why."""

    address: str
    action: Action
    reason: str


class ActionInvocation(_Frozen):
    """An action (Terraform ≥ 1.14) that applying the plan invokes."""

    address: str
    trigger: str


class Counts(_Frozen):
    """Terraform's ``Plan:`` numbers, plus what it leaves out of that line."""

    add: int = 0
    change: int = 0
    destroy: int = 0
    replace: int = 0
    import_: int = 0
    move: int = 0
    forget: int = 0
    read: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "add": self.add,
            "change": self.change,
            "destroy": self.destroy,
            "replace": self.replace,
            "import": self.import_,
            "move": self.move,
            "forget": self.forget,
            "read": self.read,
        }


class PlanSummary(_Frozen):
    """What a plan does, grouped the way a reviewer reads it."""

    terraform_version: str
    format_version: str = "1.2"
    changes: tuple[ResourceChange, ...]
    output_changes: tuple[OutputChange, ...] = ()
    drift: tuple[ResourceChange, ...] = ()
    errored: bool = False
    complete: bool = True
    failing_checks: tuple[FailingCheck, ...] = ()
    deferred: tuple[DeferredChange, ...] = ()
    actions: tuple[ActionInvocation, ...] = ()
    warnings: tuple[str, ...] = ()

    def addresses(self, action: Action) -> tuple[str, ...]:
        """Addresses of the objects the plan will ``action``, in plan order."""
        return tuple(c.address for c in self.changes if c.action is action)

    @property
    def creates(self) -> tuple[str, ...]:
        return self.addresses(Action.CREATE)

    @property
    def updates(self) -> tuple[str, ...]:
        return self.addresses(Action.UPDATE)

    @property
    def deletes(self) -> tuple[str, ...]:
        return self.addresses(Action.DELETE)

    @property
    def replaces(self) -> tuple[str, ...]:
        return self.addresses(Action.REPLACE)

    @property
    def imports(self) -> tuple[str, ...]:
        return tuple(c.address for c in self.changes if c.importing)

    @property
    def moves(self) -> tuple[ResourceChange, ...]:
        return tuple(c for c in self.changes if c.moved)

    @property
    def counts(self) -> Counts:
        """Terraform's counting: managed objects only for destroys (a data source "delete" is
        not shown), a replace is one add and one destroy, a create-then-forget one add."""
        n: dict[str, int] = dict.fromkeys(Counts().as_dict(), 0)
        for c in self.changes:
            a = c.action
            n["import"] += c.importing
            n["move"] += c.moved
            n["add"] += a in (Action.CREATE, Action.REPLACE, Action.CREATE_THEN_FORGET)
            n["change"] += a is Action.UPDATE
            n["destroy"] += (a is Action.DELETE and c.mode == "managed") or a is Action.REPLACE
            n["replace"] += a is Action.REPLACE
            n["forget"] += a in (Action.FORGET, Action.CREATE_THEN_FORGET)
            n["read"] += a is Action.READ
        return Counts(**{("import_" if k == "import" else k): v for k, v in n.items()})

    @property
    def has_changes(self) -> bool:
        """True when applying would change anything: an object (imports and moves included),
        a root output, or an action to invoke — Terraform's own rule for exit code 2."""
        return (
            any(c.is_change for c in self.changes)
            or bool(self.output_changes)
            or bool(self.actions)
        )

    @property
    def approvable(self) -> bool:
        """A plan that errored or is incomplete can never be approved or applied."""
        return not self.errored and self.complete

    @property
    def refusal(self) -> str:
        """Why this plan can never be approved ("" when it can)."""
        if self.errored:
            return "Terraform could not finish this plan (it errored); it can never be applied"
        if not self.complete:
            extra = f" ({len(self.deferred)} deferred change(s))" if self.deferred else ""
            return f"this plan is incomplete{extra}; it can never be applied"
        return ""

    @property
    def risk(self) -> Risk:
        """HIGH when anything is destroyed (a delete or a replace); MEDIUM for in-place
        updates, imports, moves, forgets and actions; LOW for creates, reads and outputs."""
        actions = {c.action for c in self.changes}
        if actions & {Action.DELETE, Action.REPLACE}:
            return Risk.HIGH
        medium = {Action.UPDATE, Action.FORGET, Action.CREATE_THEN_FORGET}
        if actions & medium or self.imports or self.moves or self.actions:
            return Risk.MEDIUM
        if self.has_changes:
            return Risk.LOW
        return Risk.NONE

    def headline(self) -> str:
        """Terraform's ``Plan:`` line with imports, forgets and moves, e.g.
        ``Plan: 1 to import, 2 to add, 1 to change, 0 to destroy, 1 to forget; 2 moved``.
        A failed or incomplete plan says so first."""
        n = self.counts
        if self.has_changes:
            text = "Plan: "
            if n.import_:
                text += f"{n.import_} to import, "
            text += f"{n.add} to add, {n.change} to change, {n.destroy} to destroy"
            if n.forget:
                text += f", {n.forget} to forget"
            if n.move:
                text += f"; {n.move} moved"
            if self.actions:
                text += f"; {len(self.actions)} action(s) to invoke"
            if not any(c.is_change for c in self.changes) and not self.actions:
                text = f"{len(self.output_changes)} output(s) to change, no resources"
        else:
            text = "No changes"
        if self.errored:
            return f"Planning failed. {text} (partial)"
        if not self.complete:
            return f"Plan incomplete. {text}" + (
                f"; {len(self.deferred)} deferred" if self.deferred else ""
            )
        return text

    def rows(self) -> list[ResourceChange]:
        """The objects a reviewer must see: every change, import and move."""
        return [c for c in self.changes if c.is_change and c.action is not Action.READ]


def parse_plan(
    show_json: Mapping[str, Any] | PlanDocument,
    shapes: Mapping[ShapeKey, Shape] | None = None,
) -> PlanSummary:
    """Summarise a ``terraform show -json PLANFILE`` document.

    ``shapes`` (from :func:`~shipflow.core.plan_paths.shapes_from_schemas`) tell maps from
    objects and sets from lists; without them, paths are written by the fallback rule.

    Raises:
        ConfigError: the document is not a Terraform JSON plan of format 1.x; the field
            named is the JSON path of the first one that is missing or of the wrong shape.
    """
    doc = read_plan(show_json)
    return summarize(doc, shapes or {})


def summarize(doc: PlanDocument, shapes: Mapping[ShapeKey, Shape]) -> PlanSummary:
    """The value-free summary of a read plan document."""
    warnings = []
    if doc.newer_format:
        warnings.append(
            f"plan format {doc.format_version} is newer than the 1.2 shipflow knows: "
            "fields added since are not shown"
        )
    outputs = tuple(
        OutputChange(
            name=name,
            action=action_of(change),
            sensitive=change.before_sensitive is True or change.after_sensitive is True,
        )
        for name, change in sorted(doc.output_changes.items())
        if action_of(change) is not Action.NO_OP
    )
    failing = tuple(
        FailingCheck(
            address=check.address.to_display,
            status=check.status,
            problems=tuple(
                p.message for i in check.instances if i.status != "pass" for p in i.problems
            ),
        )
        for check in doc.checks
        if check.status in ("fail", "error")
    )
    deferred = tuple(
        DeferredChange(
            address=d.resource_change.address,
            action=action_of(d.resource_change.change),
            reason=d.reason,
        )
        for d in doc.deferred_changes
    )
    actions = tuple(
        ActionInvocation(address=a.address, trigger=_trigger(a.lifecycle_action_trigger))
        for a in doc.action_invocations
    )
    return PlanSummary(
        terraform_version=doc.terraform_version,
        format_version=doc.format_version,
        changes=tuple(resource_change(rc, shapes) for rc in doc.resource_changes),
        output_changes=outputs,
        drift=tuple(resource_change(rc, shapes) for rc in doc.resource_drift),
        errored=doc.errored,
        # Plans from before Terraform 1.8 do not say; an errored one is never complete.
        complete=(doc.complete is not False) and not doc.errored,
        failing_checks=failing,
        deferred=deferred,
        actions=actions,
        warnings=tuple(warnings),
    )


def _trigger(trigger: Any) -> str:
    if trigger is None:
        return "invoked by -invoke"
    return f"{trigger.action_trigger_event} of {trigger.triggering_resource_address}"


def action_of(change: Change) -> Action:
    return _ACTIONS[change.actions]


def resource_change(rc: ResourceChangeDoc, shapes: Mapping[ShapeKey, Shape]) -> ResourceChange:
    """One entry of ``resource_changes``/``resource_drift``, with its paths, without values."""
    change = rc.change
    action = action_of(change)
    shape = shapes.get((rc.provider_name, rc.mode, rc.type))
    paths: list[str] = []
    if action in (Action.UPDATE, Action.REPLACE, Action.CREATE_THEN_FORGET):
        paths = changed_paths(
            change.before,
            change.after,
            after_unknown=change.after_unknown,
            before_sensitive=change.before_sensitive,
            after_sensitive=change.after_sensitive,
            shape=shape,
        )
    return ResourceChange(
        address=rc.address,
        action=action,
        previous_address=rc.previous_address if rc.moved else None,
        paths=tuple(paths),
        replace_paths=tuple(
            dict.fromkeys(
                path_of(
                    p,
                    shape,
                    before_sensitive=change.before_sensitive,
                    after_sensitive=change.after_sensitive,
                )
                for p in change.replace_paths
            )
        ),
        importing=change.importing is not None,
        import_id=change.importing.id if change.importing is not None else None,
        mode=rc.mode,
        reason=rc.action_reason or "",
    )
