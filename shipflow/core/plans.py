"""What a Terraform plan will do, read from ``terraform show -json PLANFILE``.

Only the machine-readable JSON plan representation is read (format 1.x). Values never leave
this module: a :class:`PlanSummary` holds addresses, actions and attribute *paths*, so it is
safe to publish as an artifact even when the plan holds sensitive values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from shipflow.errors import ConfigError

SUPPORTED_FORMAT_MAJOR = "1"


class Action(StrEnum):
    """What Terraform will do to one resource."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    REPLACE = "replace"
    READ = "read"
    FORGET = "forget"
    NO_OP = "no-op"


class Risk(StrEnum):
    """How careful a reviewer should be: deletes and replaces destroy something."""

    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class ResourceChange(BaseModel):
    """One resource the plan touches, with the attribute paths that change (never values)."""

    model_config = ConfigDict(frozen=True)

    address: str
    action: Action
    changed_attributes: tuple[str, ...] = ()
    replace_paths: tuple[str, ...] = ()
    importing: bool = False


class OutputChange(BaseModel):
    """An output whose value the plan changes."""

    model_config = ConfigDict(frozen=True)

    name: str
    action: Action
    sensitive: bool


class PlanSummary(BaseModel):
    """What a plan does, grouped the way a reviewer reads it."""

    model_config = ConfigDict(frozen=True)

    terraform_version: str
    changes: tuple[ResourceChange, ...]
    output_changes: tuple[OutputChange, ...]
    drift: tuple[ResourceChange, ...]
    errored: bool = False

    def addresses(self, action: Action) -> tuple[str, ...]:
        """Addresses of the resources the plan will ``action``, in plan order."""
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
    def has_changes(self) -> bool:
        """True when applying would change a resource or an output."""
        return any(c.action not in (Action.NO_OP, Action.READ) for c in self.changes) or bool(
            self.output_changes
        )

    @property
    def risk(self) -> Risk:
        """HIGH when anything is deleted, replaced or forgotten; MEDIUM for in-place updates."""
        actions = {c.action for c in self.changes}
        if actions & {Action.DELETE, Action.REPLACE, Action.FORGET}:
            return Risk.HIGH
        if Action.UPDATE in actions:
            return Risk.MEDIUM
        if self.has_changes:
            return Risk.LOW
        return Risk.NONE

    def headline(self) -> str:
        """One line: ``3 to add, 1 to change, 0 to destroy, 1 to replace``."""
        if not self.has_changes:
            return "no changes"
        parts = [
            f"{len(self.creates)} to add",
            f"{len(self.updates)} to change",
            f"{len(self.deletes)} to destroy",
        ]
        if self.replaces:
            parts.append(f"{len(self.replaces)} to replace")
        if self.output_changes and not any(
            c.action not in (Action.NO_OP, Action.READ) for c in self.changes
        ):
            parts.append(f"{len(self.output_changes)} output(s) to change")
        return ", ".join(parts)

    def to_rows(self) -> list[dict[str, str]]:
        """One row per changed resource, for a table artifact."""
        return [
            {
                "address": c.address,
                "action": c.action.value,
                "attributes": ", ".join(c.changed_attributes) or "-",
                "forces replacement": ", ".join(c.replace_paths) or "-",
            }
            for c in self.changes
            if c.action not in (Action.NO_OP, Action.READ)
        ]

    def to_markdown(self, *, stack: str, plan_sha256: str | None = None) -> str:
        """The review text: headline, risk, destructive changes first, then everything."""
        lines = [f"# Terraform plan for `{stack}`", ""]
        lines.append(f"**{self.headline()}** — risk: **{self.risk.value}**")
        if plan_sha256:
            lines.append(f"\nPlan file sha256: `{plan_sha256}`")
        destructive = [c for c in self.changes if c.action in (Action.DELETE, Action.REPLACE)]
        if destructive:
            lines += ["", "## Destroys", ""]
            for c in destructive:
                why = f" (forced by {', '.join(c.replace_paths)})" if c.replace_paths else ""
                lines.append(f"- :warning: `{c.address}` will be **{c.action.value}d**{why}")
        changed = [c for c in self.changes if c.action not in (Action.NO_OP, Action.READ)]
        if changed:
            lines += ["", "## Resources", "", "| action | address | attributes |", "|---|---|---|"]
            for c in changed:
                attrs = ", ".join(f"`{a}`" for a in c.changed_attributes) or "-"
                lines.append(f"| {c.action.value} | `{c.address}` | {attrs} |")
        if self.output_changes:
            lines += ["", "## Outputs", ""]
            for o in self.output_changes:
                note = " (sensitive)" if o.sensitive else ""
                lines.append(f"- `{o.name}`: {o.action.value}{note}")
        if self.drift:
            lines += ["", "## Changed outside Terraform (drift)", ""]
            for d in self.drift:
                attrs = ", ".join(f"`{a}`" for a in d.changed_attributes) or "-"
                lines.append(f"- `{d.address}` ({d.action.value}): {attrs}")
        return "\n".join(lines) + "\n"


def parse_plan(show_json: Mapping[str, Any]) -> PlanSummary:
    """Summarise a ``terraform show -json PLANFILE`` document.

    Raises:
        ConfigError: the document is not a Terraform JSON plan of format 1.x; the field
            named is the first one that is missing or of the wrong shape.
    """
    if not isinstance(show_json, Mapping):
        raise ConfigError("plan", f"expected a JSON object, got {type(show_json).__name__}")
    version = show_json.get("format_version")
    if not isinstance(version, str) or version.split(".")[0] != SUPPORTED_FORMAT_MAJOR:
        raise ConfigError(
            "plan.format_version",
            f"expected a Terraform JSON plan of format 1.x, got {version!r}",
        )
    changes = tuple(
        _resource_change(rc, f"plan.resource_changes[{i}]")
        for i, rc in enumerate(_list(show_json, "resource_changes", "plan"))
    )
    drift = tuple(
        _resource_change(rc, f"plan.resource_drift[{i}]")
        for i, rc in enumerate(_list(show_json, "resource_drift", "plan"))
    )
    outputs = show_json.get("output_changes")
    outputs = {} if outputs is None else outputs
    if not isinstance(outputs, Mapping):
        raise ConfigError("plan.output_changes", "expected an object of outputs")
    output_changes = []
    for name, change in sorted(outputs.items()):
        field = f"plan.output_changes.{name}"
        action = _action(_mapping(change, field), field)
        if action is Action.NO_OP:
            continue
        sensitive = bool(change.get("before_sensitive") or change.get("after_sensitive"))
        output_changes.append(OutputChange(name=name, action=action, sensitive=sensitive))
    return PlanSummary(
        terraform_version=str(show_json.get("terraform_version", "unknown")),
        changes=changes,
        output_changes=tuple(output_changes),
        drift=drift,
        errored=bool(show_json.get("errored", False)),
    )


def changed_paths(before: Any, after: Any, prefix: str = "") -> list[str]:
    """Dotted paths (``tags.env``, ``rule[0].port``) whose values differ between two trees.

    Only paths are returned, never values, so the result is safe for sensitive attributes.
    A value that is unknown until apply counts as changed.
    """
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        paths: list[str] = []
        for key in sorted(set(before) | set(after)):
            sub = f"{prefix}.{key}" if prefix else str(key)
            paths += changed_paths(before.get(key), after.get(key), sub)
        return paths
    if (
        isinstance(before, list)
        and isinstance(after, list)
        and len(before) == len(after)
        and before != after
    ):
        paths = []
        for i, (b, a) in enumerate(zip(before, after, strict=True)):
            paths += changed_paths(b, a, f"{prefix}[{i}]")
        return paths
    return [] if before == after else [prefix or "(value)"]


def _resource_change(rc: Any, field: str) -> ResourceChange:
    rc = _mapping(rc, field)
    address = rc.get("address")
    if not isinstance(address, str):
        raise ConfigError(f"{field}.address", "expected the resource address as a string")
    change = _mapping(rc.get("change"), f"{field}.change")
    action = _action(change, f"{field}.change")
    after = change.get("after")
    unknown = change.get("after_unknown")
    if isinstance(after, Mapping) and isinstance(unknown, Mapping):
        after = {**after, **{k: _Unknown() for k, v in unknown.items() if v is True}}
    attributes = (
        changed_paths(change.get("before"), after)
        if action in (Action.UPDATE, Action.REPLACE)
        else []
    )
    replace_paths = tuple(
        ".".join(str(step) for step in path)
        for path in change.get("replace_paths") or ()
        if isinstance(path, list)
    )
    return ResourceChange(
        address=address,
        action=action,
        changed_attributes=tuple(attributes),
        replace_paths=replace_paths,
        importing=bool(change.get("importing")),
    )


class _Unknown:
    """Stands for a value Terraform only knows after apply; equal to nothing."""

    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = object.__hash__


_ACTIONS: dict[tuple[str, ...], Action] = {
    ("no-op",): Action.NO_OP,
    ("create",): Action.CREATE,
    ("read",): Action.READ,
    ("update",): Action.UPDATE,
    ("delete",): Action.DELETE,
    ("forget",): Action.FORGET,
    ("delete", "create"): Action.REPLACE,
    ("create", "delete"): Action.REPLACE,
    ("create", "forget"): Action.REPLACE,
}


def _action(change: Mapping[str, Any], field: str) -> Action:
    actions = change.get("actions")
    if not isinstance(actions, Sequence) or isinstance(actions, str):
        raise ConfigError(f"{field}.actions", "expected a list of actions")
    try:
        return _ACTIONS[tuple(actions)]
    except KeyError:
        allowed = ", ".join("+".join(k) for k in _ACTIONS)
        raise ConfigError(
            f"{field}.actions", f"unknown action list {list(actions)!r}; known: {allowed}"
        ) from None


def _mapping(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(field, f"expected an object, got {type(value).__name__}")
    return value


def _list(doc: Mapping[str, Any], key: str, field: str) -> list[Any]:
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(f"{field}.{key}", f"expected a list, got {type(value).__name__}")
    return value
