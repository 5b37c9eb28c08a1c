"""The ``terraform show -json PLANFILE`` document as typed data, read once.

Modelled the way hashicorp/terraform-json types ``Plan`` (format 1.x): every field that changes
what a plan means is here — actions, ``previous_address`` (moves), ``importing``, ``errored``
and ``complete``, ``deferred_changes``, ``action_invocations``, ``checks`` — and fields that do
not (``configuration``, ``prior_state``, ``planned_values``) are ignored. The document holds
every value of the plan, sensitive ones included: it is read here and summarised
(:mod:`shipflow.core.plans`), never published.

Malformed input is a :class:`~shipflow.errors.ConfigError` naming the JSON path of the first
bad field (``plan.resource_changes[3].change.actions[0]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, field_validator

from shipflow.errors import ConfigError

# The newest plan format this module was written against (Terraform 1.15 writes 1.2). A newer
# minor adds fields only; it is read, and the review says that shipflow has not seen it.
KNOWN_FORMAT = (1, 2)

ActionName = Literal["no-op", "create", "read", "update", "delete", "forget"]

# Terraform's own list (internal/command/jsonplan/plan.go): every combination it writes.
ACTION_LISTS: frozenset[tuple[str, ...]] = frozenset(
    {
        ("no-op",),
        ("create",),
        ("read",),
        ("update",),
        ("delete",),
        ("forget",),
        ("delete", "create"),
        ("create", "delete"),
        ("create", "forget"),
    }
)


class _Doc(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Importing(_Doc):
    """Present when the change also imports an existing object (an ``import`` block)."""

    id: str | None = None
    unknown: bool = False


class Change(_Doc):
    """One object's change: actions, values before and after, and their marks."""

    actions: tuple[ActionName, ...]
    before: JsonValue = None
    after: JsonValue = None
    after_unknown: JsonValue = None
    before_sensitive: JsonValue = None
    after_sensitive: JsonValue = None
    replace_paths: tuple[tuple[str | int, ...], ...] = ()
    importing: Importing | None = None
    generated_config: str | None = None

    @field_validator("actions")
    @classmethod
    def _known_combination(cls, actions: tuple[str, ...]) -> tuple[str, ...]:
        if actions not in ACTION_LISTS:
            known = ", ".join(sorted("+".join(a) for a in ACTION_LISTS))
            raise ValueError(f"unknown action list {list(actions)!r}; known: {known}")
        return actions


class ResourceChangeDoc(_Doc):
    """An entry of ``resource_changes`` or ``resource_drift``."""

    address: str
    previous_address: str | None = None
    module_address: str | None = None
    mode: Literal["managed", "data"] = "managed"
    type: str = ""
    name: str = ""
    provider_name: str = ""
    deposed: str | None = None
    change: Change
    action_reason: str | None = None

    @property
    def moved(self) -> bool:
        return self.previous_address is not None and self.previous_address != self.address


class DeferredChangeDoc(_Doc):
    """A change Terraform could not plan yet (Terraform ≥ 1.9 with deferral allowed)."""

    reason: str = "unknown"
    resource_change: ResourceChangeDoc


class LifecycleActionTrigger(_Doc):
    triggering_resource_address: str = ""
    action_trigger_event: str = ""


class ActionInvocationDoc(_Doc):
    """An action (Terraform ≥ 1.14) that applying the plan will invoke."""

    address: str
    type: str = ""
    name: str = ""
    provider_name: str = ""
    lifecycle_action_trigger: LifecycleActionTrigger | None = None
    invoke_action_trigger: dict[str, JsonValue] | None = None


class CheckAddress(_Doc):
    kind: str = ""
    to_display: str


class CheckProblem(_Doc):
    message: str = ""


class CheckInstanceAddress(_Doc):
    to_display: str


class CheckInstance(_Doc):
    address: CheckInstanceAddress
    status: Literal["pass", "fail", "error", "unknown"]
    problems: tuple[CheckProblem, ...] = ()


class CheckResult(_Doc):
    """A ``check`` block, or a resource's or output's conditions, and how they fared."""

    address: CheckAddress
    status: Literal["pass", "fail", "error", "unknown"]
    instances: tuple[CheckInstance, ...] = ()


class PlanDocument(_Doc):
    """What ``terraform show -json PLANFILE`` says, with the fields that carry meaning."""

    format_version: str
    terraform_version: str = "unknown"
    applyable: bool | None = None
    complete: bool | None = None  # Terraform ≥ 1.8; None for older plans
    errored: bool = False
    resource_changes: tuple[ResourceChangeDoc, ...] = ()
    resource_drift: tuple[ResourceChangeDoc, ...] = ()
    deferred_changes: tuple[DeferredChangeDoc, ...] = ()
    output_changes: dict[str, Change] = Field(default_factory=dict)
    action_invocations: tuple[ActionInvocationDoc, ...] = ()
    checks: tuple[CheckResult, ...] = ()

    @field_validator("format_version")
    @classmethod
    def _major_1(cls, version: str) -> str:
        major, _, minor = version.partition(".")
        if major != "1" or not (minor.isdigit() or minor == ""):
            raise ValueError(f"expected a Terraform JSON plan of format 1.x, got {version!r}")
        return version

    @property
    def newer_format(self) -> bool:
        """True for a format minor newer than the one this model was written for."""
        minor = self.format_version.partition(".")[2]
        return (1, int(minor or 0)) > KNOWN_FORMAT


def read_plan(doc: Any) -> PlanDocument:
    """Validate a parsed ``show -json`` document; a bad field is a ConfigError naming its path.

    Raises:
        ConfigError: not a JSON object, not format 1.x, or a field of the wrong shape.
    """
    if isinstance(doc, PlanDocument):
        return doc
    if not isinstance(doc, Mapping):
        raise ConfigError("plan", f"expected a JSON object, got {type(doc).__name__}")
    try:
        return PlanDocument.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise ConfigError(json_path("plan", first["loc"]), _problem(first)) from None


def json_path(root: str, loc: tuple[int | str, ...]) -> str:
    """``plan.resource_changes[3].change.actions[0]`` from pydantic's error location."""
    text = root
    for step in loc:
        if isinstance(step, int):
            text += f"[{step}]"
        elif step.startswith(("function-", "literal[")) or step in ("str", "int"):
            continue  # pydantic's names for union members, not part of the document
        else:
            text += f".{step}"
    return text


def _problem(error: Mapping[str, Any]) -> str:
    message = str(error.get("msg", "invalid"))
    message = message.removeprefix("Value error, ")
    given = error.get("input")
    if error.get("type") == "missing":
        return "missing"
    kind = type(given).__name__ if given is not None else "null"
    return f"{message} (got {kind})"
