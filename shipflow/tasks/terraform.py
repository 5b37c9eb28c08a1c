"""Terraform tasks: plan, publish, apply the approved plan, publish outputs.

Secrets reach Terraform only through the environment (``TF_VAR_*`` from the worker's own
environment, or values of Prefect Secret blocks named by ``secret_vars``); they are never task
parameters, so they are never stored by the Prefect API.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from shipflow.adapters.terraform import (
    PlanResult,
    StateVersion,
    Terraform,
    find_terraform,
    sha256_file,
)
from shipflow.core.names import slug
from shipflow.core.plans import PlanSummary, parse_plan
from shipflow.core.secrets import MASK
from shipflow.errors import ConfigError, StalePlanError
from shipflow.settings import load_settings
from shipflow.tasks.common import emit, hold_limit, load_secret, shipflow_task

# Read once at import: Prefect fixes a task's retry delay when the task is defined.


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
    tf.init(backend_config)
    before = tf.state_version()
    result = tf.plan(plan_file, var_files=[str(_var_file(stack, f)) for f in var_files])
    summary = parse_plan(tf.show_plan(result.plan_file))
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
    summary = planned.summary
    create_markdown_artifact(
        key=f"plan-{stack.key}",
        markdown=summary.to_markdown(stack=stack.name, plan_sha256=planned.plan.sha256),
        description=f"Terraform plan for {stack.name}: {summary.headline()}",
    )
    rows = summary.to_rows()
    if rows:
        create_table_artifact(
            key=f"plan-resources-{stack.key}",
            table=rows,
            description=f"Resources changed by the plan for {stack.name}",
        )
    emit(
        "shipflow.terraform.planned",
        stack.resource_id,
        payload={
            "headline": summary.headline(),
            "risk": summary.risk.value,
            "plan_sha256": planned.plan.sha256,
            "creates": len(summary.creates),
            "updates": len(summary.updates),
            "deletes": len(summary.deletes),
            "replaces": len(summary.replaces),
        },
    )


def apply_limit_name(stack: Stack) -> str:
    """One apply per stack across all workers: the name of its global concurrency limit."""
    return f"shipflow-terraform-apply-{stack.key}"


@shipflow_task(name="apply_plan", retries=3)  # only a state lock not taken: nothing was changed
def apply_plan(stack: Stack, planned: PlannedStack, approved_sha256: str) -> dict[str, Any]:
    """Apply exactly the approved plan, one apply per stack across all workers.

    Refuses (StalePlanError) when the plan file's sha256 is not the approved one or when the
    state's serial or lineage moved since plan. Returns the outputs, sensitive ones masked.
    """
    tf = stack.runner()
    # Wait for another apply of the same stack as long as one apply may take.
    wait = load_settings().terraform_timeout
    with hold_limit(apply_limit_name(stack), wait_seconds=wait):
        actual_sha = sha256_file(planned.plan.plan_file)
        if actual_sha != approved_sha256:
            raise StalePlanError(
                f"stale plan, re-plan: plan file sha256 {actual_sha} is not the approved "
                f"{approved_sha256}; nothing was applied"
            )
        now = tf.state_version()
        if now != planned.state:
            raise StalePlanError(
                f"stale plan, re-plan: state of {stack.name} moved from "
                f"{_describe(planned.state)} to {_describe(now)} since the plan; "
                "nothing was applied"
            )
        done = tf.apply(planned.plan.plan_file)
        outputs = tf.outputs()
    get_run_logger().info("Applied %s in %.1fs", stack.name, done.seconds)
    return {
        name: MASK if out.get("sensitive") else _redact_value(out.get("value"), tf)
        for name, out in outputs.items()
    }


def _describe(state: StateVersion | None) -> str:
    return "no state" if state is None else f"serial {state.serial} (lineage {state.lineage})"


def _redact_value(value: Any, tf: Terraform) -> Any:
    if isinstance(value, str):
        return tf.redact(value)
    if isinstance(value, dict):
        return {k: _redact_value(v, tf) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_value(v, tf) for v in value]
    return value


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
