"""Terraform tasks: plan, publish, apply the approved plan, publish outputs.

Secrets reach Terraform only through the environment (``TF_VAR_*`` from the worker's own
environment, or values of Prefect Secret blocks named by ``secret_vars``); they are never task
parameters, so they are never stored by the Prefect API.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from shipflow.adapters.stacks import read_stack
from shipflow.adapters.terraform import (
    PlanResult,
    Terraform,
    find_terraform,
    sha256_file,
)
from shipflow.core.approval import StateVersion, stale_plan_reason
from shipflow.core.names import slug
from shipflow.core.plan_document import PlanDocument, read_plan
from shipflow.core.plan_paths import Shape, ShapeKey, shapes_from_schemas
from shipflow.core.plan_review import plan_event_payload, review_markdown, review_rows
from shipflow.core.plans import PlanSummary, summarize
from shipflow.core.secrets import redact_outputs
from shipflow.core.terraform_env import parse_pass_env
from shipflow.errors import ConfigError, PolicyViolation, StalePlanError, TerraformError
from shipflow.settings import load_settings
from shipflow.tasks.common import emit, hold_limit, load_secret, shipflow_task


@dataclass(frozen=True)
class Stack:
    """A Terraform root module and the name shipflow knows it by (UI, events, locks)."""

    name: str
    path: Path
    secret_vars: Mapping[str, str]

    @property
    def resource_id(self) -> str:
        return f"shipflow.terraform.stack.{self.name}"

    @property
    def key(self) -> str:
        """The name as a Prefect artifact key / concurrency limit name (a-z, 0-9, dashes)."""
        return slug(self.name, fallback="stack")

    def runner(self) -> Terraform:
        """A runner for this stack, with the Secret blocks' values in ``TF_VAR_*``."""
        settings = load_settings()
        env = {f"TF_VAR_{var}": _secret(block) for var, block in self.secret_vars.items()}
        return Terraform(
            workdir=self.path,
            binary=find_terraform(settings.terraform_bin),
            env=env,
            timeout=settings.terraform_timeout,
            lock_timeout=settings.terraform_lock_timeout,
            secrets=env.values(),
            pass_env=parse_pass_env(settings.terraform_pass_env),
        )


def resolve_stack(stack: str, secret_vars: Mapping[str, str] | None = None) -> Stack:
    """The stack directory for ``stack`` (absolute, or relative to SHIPFLOW_STACKS_ROOT)."""
    root = load_settings().stacks_root
    path = Path(stack) if Path(stack).is_absolute() else root / stack
    if not path.is_dir():
        raise ConfigError("stack", f"{path} is not a directory (SHIPFLOW_STACKS_ROOT={root})")
    if not any(path.glob("*.tf")) and not any(path.glob("*.tf.json")):
        raise ConfigError("stack", f"{path} holds no *.tf files: not a Terraform root module")
    for name in secret_vars or {}:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", name):
            raise ConfigError(f"secret_vars.{name}", "not a valid Terraform variable name")
    name = path.name if Path(stack).is_absolute() else stack.strip("/")
    return Stack(name=name, path=path.resolve(), secret_vars=dict(secret_vars or {}))


def _secret(block_name: str) -> str:
    return str(load_secret(block_name, field="secret_vars"))


@dataclass(frozen=True)
class PlannedStack:
    """A saved plan and what it was planned against."""

    plan: PlanResult
    state: StateVersion | None
    summary: PlanSummary


def warn_dropped_environment(tf: Terraform) -> None:
    """One warning naming every worker variable Terraform was not given."""
    if tf.dropped_env:
        get_run_logger().warning(
            "Ignored %s from the worker's environment: they change what Terraform plans, "
            "applies or prints (list a name in SHIPFLOW_TERRAFORM_PASS_ENV to pass it)",
            ", ".join(tf.dropped_env),
        )


def review_plan(tf: Terraform, plan_file: Path) -> PlanSummary:
    """The plan file read once (``show -json``) into the review."""
    doc = read_plan(tf.show_plan(plan_file))
    return summarize(doc, review_shapes(tf, doc))


def review_shapes(tf: Terraform, doc: PlanDocument) -> dict[ShapeKey, Shape]:
    """The provider schemas' shapes, asked for only when paths are to be written (an update,
    a replace or drift): they tell maps from objects and sets from lists."""
    needs_paths = bool(doc.resource_drift) or any(
        rc.change.actions not in (("create",), ("delete",), ("no-op",), ("read",), ("forget",))
        for rc in doc.resource_changes
    )
    shapes: dict[ShapeKey, Shape] = {}
    if needs_paths:
        try:
            shapes = shapes_from_schemas(tf.providers_schema())
        except TerraformError as exc:  # paths then follow the fallback rule; say so
            get_run_logger().warning("No provider schemas (%s): paths are best-effort", exc)
    return shapes


@shipflow_task(name="plan_stack", retries=2)
def plan_stack(
    stack: Stack,
    plan_file: Path,
    var_files: Sequence[str] = (),
    backend_config: Mapping[str, str] | None = None,
) -> PlannedStack:
    """``init``, then ``plan -out``; the state version is read first so that a write between
    plan and apply is caught (a write during plan makes the check refuse, which is safe)."""
    tf = stack.runner()
    warn_dropped_environment(tf)
    tf.check_version(read_stack(stack.path))
    tf.init(backend_config)
    before = tf.state_version()
    var_paths = [str(_var_file(stack, f)) for f in var_files]
    try:
        result = tf.plan(plan_file, var_files=var_paths)
    except TerraformError:
        if plan_file.exists():  # Terraform saved the partial plan of a failed one: show it
            partial = review_plan(tf, plan_file)
            _publish_review(stack, partial, sha256_file(plan_file))
        raise
    summary = review_plan(tf, result.plan_file)
    get_run_logger().info(
        "Planned %s: %s (risk %s), plan sha256 %s",
        stack.name,
        summary.headline(),
        summary.risk.value,
        result.sha256,
    )
    return PlannedStack(plan=result, state=before, summary=summary)


def _var_file(stack: Stack, name: str) -> Path:
    path = (stack.path / name).resolve()
    if not path.is_file():
        raise ConfigError("var_files", f"{name} is not a file in stack {stack.name}")
    return path


@shipflow_task(name="publish_plan")
def publish_plan(stack: Stack, planned: PlannedStack) -> None:
    """A markdown review of the plan and a table of changed resources, in the Prefect UI."""
    _publish_review(stack, planned.summary, planned.plan.sha256)


def _publish_review(stack: Stack, summary: PlanSummary, sha256: str) -> None:
    create_markdown_artifact(
        key=f"plan-{stack.key}",
        markdown=review_markdown(summary, stack=stack.name, plan_sha256=sha256),
        description=f"Terraform plan for {stack.name}: {summary.headline()}",
    )
    rows = review_rows(summary)
    if rows:
        create_table_artifact(
            key=f"plan-resources-{stack.key}",
            table=rows,
            description=f"Resources changed by the plan for {stack.name}",
        )
    emit(
        "shipflow.terraform.planned",
        stack.resource_id,
        payload=plan_event_payload(summary, sha256),
    )


def apply_limit_name(stack: Stack) -> str:
    """One apply per stack across all workers: the name of its global concurrency limit."""
    return f"shipflow-terraform-apply-{stack.key}"


@shipflow_task(name="apply_plan", retries=3)  # only a state lock not taken: nothing was changed
def apply_plan(
    stack: Stack, planned: PlannedStack, approved_sha256: str, slot_held: bool = False
) -> dict[str, Any]:
    """Apply exactly the approved plan, one apply per stack across all workers (the stack's
    apply slot is taken here, unless the caller already holds it: ``slot_held``).

    Refuses (StalePlanError) when the plan file's sha256 is not the approved one or when the
    state's serial or lineage moved since plan. Returns the outputs, sensitive ones masked.
    """
    tf = stack.runner()
    # Wait for another apply of the same stack as long as one apply may take.
    wait = load_settings().terraform_timeout
    if not planned.summary.approvable:  # never reached through the flow; a last guard
        raise PolicyViolation(f"{planned.summary.refusal}; nothing was applied")
    slot = nullcontext() if slot_held else hold_limit(apply_limit_name(stack), wait_seconds=wait)
    with slot:
        stale = stale_plan_reason(
            stack=stack.name,
            approved_sha256=approved_sha256,
            plan_sha256=sha256_file(planned.plan.plan_file),
            planned_state=planned.state,
            current_state=tf.state_version(),
        )
        if stale:
            raise StalePlanError(stale)
        done = tf.apply(planned.plan.plan_file)
        outputs = tf.outputs()
    get_run_logger().info("Applied %s in %.1fs", stack.name, done.seconds)
    return redact_outputs(outputs, tf.secret_values)


@shipflow_task(name="publish_outputs")
def publish_outputs(stack: Stack, outputs: Mapping[str, Any], plan_sha256: str) -> None:
    """The stack's outputs (sensitive ones masked) as a table, and the applied event."""
    create_table_artifact(
        key=f"outputs-{stack.key}",
        table=[{"output": k, "value": str(v)} for k, v in sorted(outputs.items())],
        description=f"Terraform outputs of {stack.name} after apply",
    )
    emit(
        "shipflow.terraform.applied",
        stack.resource_id,
        payload={"plan_sha256": plan_sha256, "outputs": sorted(outputs)},
    )
