"""terraform_release: plan → human approval in the Prefect UI → apply exactly that plan.

The decision to pause is the plan's own (its typed review): a plan that imports or moves is a
change and waits for approval like any other; a plan that errored or is incomplete is never
offered for approval and never applied.
"""

from __future__ import annotations

import shutil
import tempfile
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, pause_flow_run
from prefect.client.schemas.objects import State
from prefect.context import FlowRunContext
from prefect.exceptions import FlowPauseTimeout
from prefect.input import RunInput
from prefect.states import Cancelled, Completed, Failed
from pydantic import Field

from shipflow.core.plan_review import review_markdown
from shipflow.flows.pauses import (
    end_after_expired_pause,
    release_approval,
    run_link,
    waiting_approval,
)
from shipflow.settings import load_settings
from shipflow.tasks.common import emit, ensure_limit, hold_limit
from shipflow.tasks.terraform import (
    PlannedStack,
    Stack,
    apply_limit_name,
    apply_plan,
    plan_stack,
    publish_outputs,
    publish_plan,
    resolve_stack,
)


class PlanApproval(RunInput):
    """The approval form the Prefect UI shows while the run is paused.

    ``approve`` has no default: a person must choose (a switch left as it was is no decision).
    """

    approve: bool = Field(
        description="On: apply exactly the plan above (the sha256 shown). Off: reject it; "
        "nothing is applied and the run ends Cancelled."
    )
    approver: str = Field(min_length=1, description="Who decides (name or handle).")
    comment: str = Field(default="", description="Why: shown in the run's final state.")


@flow(name="terraform_release", log_prints=False)
def terraform_release(
    stack: str,
    var_files: list[str] | None = None,
    approval_timeout: int = 3600,
    auto_approve: bool = False,
    backend_config: dict[str, str] | None = None,
    secret_vars: dict[str, str] | None = None,
) -> State[Any]:
    """Plan a Terraform stack, wait for a human to approve that exact plan, then apply it.

    Args:
        stack: The root module's directory, absolute or relative to SHIPFLOW_STACKS_ROOT.
        var_files: ``.tfvars`` files inside the stack.
        approval_timeout: Seconds to wait for the approval form; then the run is Cancelled
            ("approval timed out") and nothing is applied.
        auto_approve: Skip the pause (for pipelines whose approval happened elsewhere).
        backend_config: Partial backend settings for ``init`` (never credentials: put those
            in the worker's environment).
        secret_vars: Terraform variable name → Prefect Secret block holding its value.
    """
    target = resolve_stack(stack, secret_vars)
    if approval_timeout <= 0:
        raise ValueError("approval_timeout must be a positive number of seconds")
    workdir = Path(tempfile.mkdtemp(prefix="shipflow-plan-", dir=load_settings().work_dir))
    slot: AbstractContextManager[None] = nullcontext()
    if auto_approve:
        # Nobody approves one particular plan: plan and apply inside one hold of the stack's
        # apply slot, so auto-approved releases of one stack (merges in quick succession, on
        # any worker) queue, and each plans on the state the one before it left instead of
        # being refused as stale. A plan that waits for a person holds no slot.
        slot = hold_limit(
            ensure_limit(apply_limit_name(target)), wait_seconds=load_settings().terraform_timeout
        )
    try:
        with slot:
            return _release(
                target, workdir, var_files, backend_config, approval_timeout, auto_approve
            )
    finally:
        # The plan file holds every value of the plan, sensitive ones included.
        shutil.rmtree(workdir, ignore_errors=True)


def _release(
    target: Stack,
    workdir: Path,
    var_files: list[str] | None,
    backend_config: dict[str, str] | None,
    approval_timeout: int,
    auto_approve: bool,
) -> State[Any]:
    logger = get_run_logger()
    planned = plan_stack(target, workdir / "stack.tfplan", var_files or [], backend_config or {})
    publish_plan(target, planned)
    summary = planned.summary
    if not summary.approvable:
        reason = f"{summary.refusal}: {summary.headline()}"
        logger.error(reason)
        return Failed(message=reason)
    if not summary.has_changes:
        logger.info("No changes for %s: nothing to approve or apply", target.name)
        return Completed(message=f"no changes for {target.name}")

    approval = _approve(target, planned, approval_timeout, auto_approve)
    if isinstance(approval, State):
        return approval
    ensure_limit(apply_limit_name(target))
    outputs = apply_plan(target, planned, planned.plan.sha256, slot_held=auto_approve)
    publish_outputs(target, outputs, planned.plan.sha256)
    message = f"applied {target.name}: {planned.summary.headline()}; {_decision(approval)}"
    logger.info(message)
    return Completed(message=message, data={"stack": target.name, "outputs": outputs})


def _approve(
    target: Stack, planned: PlannedStack, timeout: int, auto_approve: bool
) -> PlanApproval | State[Any]:
    """The approval for ``planned``, or the Cancelled state that ends the run without apply."""
    logger = get_run_logger()
    sha = planned.plan.sha256
    if auto_approve:
        logger.info("auto_approve is set: applying plan %s without a pause", sha)
        approval = PlanApproval(approve=True, approver="auto_approve", comment="")
    else:
        description = (
            f"**Plan `{sha[:12]}`** — sha256:\n\n{_wrapped(sha)}\n\n"
            + review_markdown(planned.summary, stack=target.name, plan_sha256=sha)
            + "\n\nApproving applies **exactly this plan file**; if the plan or the state "
            "changes before apply, shipflow refuses and asks for a re-plan.\n"
        )
        waiting = waiting_approval(target.key, _own_run_id())
        if waiting is not None:
            reason = (
                f"{target.name} already has a plan awaiting approval ({waiting}): approve or "
                "reject that one first; this plan was not offered for approval"
            )
            logger.warning(reason)
            return Cancelled(message=reason)
        logger.info(
            "Waiting up to %ss for approval of plan %s: open %s to approve or reject it",
            timeout,
            sha[:12],
            run_link(_own_run_id()),
        )
        try:
            approval = pause_flow_run(
                wait_for_input=PlanApproval.with_initial_data(description=description),
                timeout=timeout,
                poll_interval=2,
            )
        except FlowPauseTimeout:
            reason = f"approval timed out after {timeout}s; nothing was applied"
            logger.warning(reason)
            emit(
                "shipflow.terraform.rejected",
                target.resource_id,
                payload={"reason": reason, "plan_sha256": sha},
            )
            return end_after_expired_pause(Cancelled(message=reason))
        finally:
            release_approval(target.key, _own_run_id())
    payload = {"approver": approval.approver, "comment": approval.comment, "plan_sha256": sha}
    if not approval.approve:
        reason = _decision(approval)
        logger.warning("%s; nothing was applied", reason)
        emit("shipflow.terraform.rejected", target.resource_id, payload=payload)
        return Cancelled(message=reason)
    logger.info("Plan %s %s", sha[:12], _decision(approval))
    emit("shipflow.terraform.approved", target.resource_id, payload=payload)
    return approval


def _decision(approval: PlanApproval) -> str:
    """``approved by alice: looks right`` — the decision and its comment, for the final state."""
    verb = "approved" if approval.approve else "rejected"
    return f"{verb} by {approval.approver}: {approval.comment or 'no comment'}"


def _wrapped(sha: str) -> str:
    """The full sha256 as two halves on their own lines, so no dialog clips it."""
    return f"`{sha[:32]}`  \n`{sha[32:]}`"


def _own_run_id() -> str:
    context = FlowRunContext.get()
    return str(context.flow_run.id) if context and context.flow_run else ""
