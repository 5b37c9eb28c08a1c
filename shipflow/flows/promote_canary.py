"""promote_canary: a staged canary with continuous Prometheus analysis and automatic rollback;
reconcile_canary: takes back a canary no live run watches."""

from __future__ import annotations

import threading
import time
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from prefect import Flow, flow, get_run_logger, pause_flow_run
from prefect.client.schemas.objects import FlowRun, State
from prefect.exceptions import FlowPauseTimeout
from prefect.input import RunInput
from prefect.runtime import flow_run as current_run
from prefect.states import Completed, Failed
from pydantic import Field

from shipflow.adapters.kubernetes import ClusterTarget, RouterSpec
from shipflow.adapters.processes import LocalTarget
from shipflow.adapters.prometheus import MetricsTarget
from shipflow.core.analysis import Measurement
from shipflow.core.canary import CanaryPolicy
from shipflow.core.slo import SLO, BudgetOverride
from shipflow.core.steps import (
    AskHuman,
    Continue,
    Extend,
    Pass,
    Rollback,
    StepState,
    check_significance,
    next_action,
)
from shipflow.core.watch import DEFAULT_TTL_SECONDS, Watch
from shipflow.errors import ConcurrencyBusy, KubernetesError
from shipflow.flows.crashes import explain_lost_worker
from shipflow.flows.pauses import end_after_expired_pause
from shipflow.tasks.canary import (
    Canary,
    LadderBoard,
    check_timeout,
    deploy_canary,
    keep_watch,
    measure_canary,
    promote_stable,
    quiet_check_logs,
    restore_stable,
    retire_canary,
    rollback_canary,
    set_canary_weight,
    take_back_unwatched,
    wait_canary_ready,
)
from shipflow.tasks.common import flush_events, hold_limit, rollout_slot
from shipflow.tasks.diagnose import diagnose_failure, read_evidence
from shipflow.tasks.slo import gate

# A slot held by a run that died is freed when its lease expires (Prefect's shortest lease,
# 60 s) and the server's repossessor next runs (every 15 s by default).
SLOT_LEASE_SECONDS = 60.0
SLOT_RECOVERY_SECONDS = SLOT_LEASE_SECONDS + 15 + 15
SLOT_WAIT_SECONDS = 30.0


class CanaryDecision(RunInput):
    """What a human decides when the analysis cannot (policy on_inconclusive = pause)."""

    promote: bool = Field(description="Go on to the next step? No rolls the canary back.")
    decided_by: str = Field(min_length=1)
    comment: str = ""


def _canary_from(
    app: str,
    image: str,
    cluster: ClusterTarget | None,
    router: RouterSpec | None,
    metrics: MetricsTarget | None,
    container: str | None,
    local: LocalTarget | None = None,
) -> Canary:
    return Canary(
        app=app,
        image=image,
        cluster=cluster or ClusterTarget(),
        router_spec=router or RouterSpec(),
        metrics=metrics or MetricsTarget(app=app),
        container=container,
        local=local,
    )


def _rollback_hook(flow: Flow[..., Any], flow_run: FlowRun, state: State[Any]) -> None:
    """on_crashed / on_cancellation: a crash or a cancel never leaves traffic on a canary, and
    the event says so before the process exits."""
    params = flow_run.parameters
    canary = _canary_from(
        params["app"],
        params["image"],
        ClusterTarget.model_validate(params["cluster"]) if params.get("cluster") else None,
        RouterSpec.model_validate(params["router"]) if params.get("router") else None,
        MetricsTarget.model_validate(params["metrics"]) if params.get("metrics") else None,
        params.get("container"),
        LocalTarget.model_validate(params["local"]) if params.get("local") else None,
    )
    outcome = state.type.value.lower()
    retire_canary(canary)
    with suppress(KubernetesError, OSError):  # else the watch expires by itself
        canary.deployments().release_watch(canary.canary_name, str(flow_run.id))
    canary.emit(
        "shipflow.canary.rolled_back", {"outcome": outcome, "reason": f"flow run {outcome}"}
    )
    flush_events()


@flow(
    name="promote_canary",
    on_crashed=[_rollback_hook, explain_lost_worker],
    on_cancellation=[_rollback_hook],
)
def promote_canary(
    app: str,
    image: str,
    policy: CanaryPolicy | None = None,
    cluster: ClusterTarget | None = None,
    router: RouterSpec | None = None,
    metrics: MetricsTarget | None = None,
    container: str | None = None,
    slo: SLO | None = None,
    budget_override: BudgetOverride | None = None,
    local: LocalTarget | None = None,
) -> State[Any]:
    """Promote ``image`` to the stable Deployment ``app`` through a canary ladder.

    First, traffic that a dead run left on the canary is taken back (no slot needed). Then,
    holding the app's slot, the canary Deployment is made from the stable one; for each step
    the router sends the step's weight to it and the step's analysis judges it against the
    stable baseline every check interval (see ``shipflow.core.steps``). A rollback puts the
    route back as it was and scales the canary to 0 (stable untouched); the run fails with
    the outcome and its reason. After the last step, stable takes the image, all traffic returns
    to it, the canary is scaled to 0, and optionally the new version is watched at 100 %.

    Args:
        app: The stable Deployment (and the metrics' app label).
        image: The image to promote, ideally by digest.
        policy: Ladder, check interval, limits.
        cluster: Namespace and kubeconfig.
        router: How traffic is split (gateway, istio, nginx, replicas).
        metrics: Prometheus, labels and metric names; default SHIPFLOW_PROMETHEUS_URL and app.
        container: The container that gets the image (default: the first).
        slo: With an SLO, nothing starts while its error budget is spent.
        budget_override: Deploy although the budget is spent (who approved it, recorded).
        local: Run on the ``local`` target instead of Kubernetes: the app's versions are
            processes behind HAProxy (``cluster`` and ``router`` are then not used).
    """
    logger = get_run_logger()
    quiet_check_logs()
    policy = policy or CanaryPolicy()
    canary = _canary_from(app, image, cluster, router, metrics, container, local)
    gate(canary.metrics, slo, budget_override, namespace=canary.cluster.namespace)
    found, what = take_back_unwatched(canary)
    if found == "taken":
        logger.warning("%s", what)
    wait = SLOT_RECOVERY_SECONDS if found == "taken" else SLOT_WAIT_SECONDS
    slot = rollout_slot(canary.key)
    with hold_limit(slot, wait_seconds=wait, lease_seconds=SLOT_LEASE_SECONDS):
        found, what = take_back_unwatched(canary)
        if found == "watched":
            raise ConcurrencyBusy(f"{what}; it holds the canary without the slot {slot}")
        if found == "taken":
            logger.warning("%s", what)
        try:
            return _climb(canary, policy, str(current_run.id or "local"))
        except Exception as exc:
            # Whatever broke, traffic must not stay on a canary nobody watches any more. The
            # cluster is read first (the rollback takes the canary's pods, the evidence,
            # away): Kubernetes reads only; the metrics and the artifact come after.
            evidence = read_evidence(canary)
            rollback_canary(canary, f"error: {exc}", None, "error")
            diagnose_failure(
                canary, f"error: {exc}", evidence, check_timeout(canary.metrics, policy)
            )
            raise


def _climb(canary: Canary, policy: CanaryPolicy, run: str) -> State[Any]:
    logger = get_run_logger()
    ttl = DEFAULT_TTL_SECONDS
    stable_image = deploy_canary(
        canary, Watch(run=run, renewed_at=datetime.now(UTC), ttl_seconds=ttl)
    )
    with keep_watch(canary, run, ttl) as lost:
        wait_canary_ready(canary, policy)
        route = canary.router().describe()
        logger.info("Router: %s", route)
        board = LadderBoard(canary, policy, route)
        history: list[Measurement] = []
        steps = len(policy.steps)
        for index, step in enumerate(policy.steps):
            weight = set_canary_weight(canary, step.weight)
            board.begin(index, weight)
            reason = f"step {index + 1} of {steps}: {weight} % for {step.hold_seconds:g} s"
            canary.emit(
                "shipflow.canary.step",
                {
                    "step": index,
                    "weight": weight,
                    "hold_seconds": step.hold_seconds,
                    "reason": reason,
                },
            )
            logger.info(
                "Step %s of %s: %s %% of traffic on %s for %g s",
                index + 1,
                steps,
                weight,
                canary.image,
                step.hold_seconds,
            )
            try:
                outcome = _run_step(
                    canary, policy, weight, step.hold_seconds, history, lost, board=(board, index)
                )
            except _PauseExpired as expired:
                board.finish(index, "inconclusive", str(expired))
                evidence = read_evidence(canary)
                rollback_canary(canary, str(expired), weight, "inconclusive")
                diagnose_failure(
                    canary,
                    f"rolled back at {weight} %: {expired}",
                    evidence,
                    check_timeout(canary.metrics, policy),
                )
                board.end("rolled back", f"at {weight} %: {expired}")
                return end_after_expired_pause(
                    Failed(message=f"rolled back at {weight} %: {expired}")
                )
            if outcome is None:
                board.finish(index, "stopped", "another run took over the canary")
                board.end("stopped", f"at {weight} %: another run took over the canary")
                return Failed(message=f"stopped at {weight} %: another run took over the canary")
            if isinstance(outcome, Rollback):
                board.finish(index, outcome.outcome, outcome.reason)
                failure = f"rolled back at {weight} %: {outcome.outcome}: {outcome.reason}"
                evidence = read_evidence(canary)
                rollback_canary(canary, outcome.reason, weight, outcome.outcome)
                diagnose_failure(canary, failure, evidence, check_timeout(canary.metrics, policy))
                board.end("rolled back", f"at {weight} %: {outcome.outcome}: {outcome.reason}")
                return Failed(message=failure)
            board.finish(index, "passed", outcome.reason)
            canary.emit(
                "shipflow.canary.step.passed",
                {"step": index, "weight": weight, "reason": outcome.reason},
            )
        promote_stable(canary, policy, f"all {steps} steps passed")
    message = f"promoted {canary.image} to {canary.app} (was {stable_image})"
    board.end("promoted", f"all {steps} steps passed; stable {canary.app} runs the new image")
    if policy.post_promotion_seconds:
        after = _run_step(
            canary,
            policy,
            100,
            policy.post_promotion_seconds,
            history,
            threading.Event(),
            alone=canary.metrics.stable_version,
        )
        if isinstance(after, Rollback):
            evidence = read_evidence(canary)
            restore_stable(canary, stable_image, after.reason, policy)
            diagnose_failure(
                canary,
                f"the promoted image failed: {after.outcome}: {after.reason}",
                evidence,
                check_timeout(canary.metrics, policy),
            )
            return Failed(
                message=f"restored {stable_image} after the promotion: {after.outcome}: "
                f"{after.reason}"
            )
    logger.info(message)
    return Completed(message=message)


def _run_step(
    canary: Canary,
    policy: CanaryPolicy,
    weight: int,
    hold: float,
    history: list[Measurement],
    lost: threading.Event,
    alone: str | None = None,
    board: tuple[LadderBoard, int] | None = None,
) -> Pass | Rollback | None:
    """Sleep → measure → act, every check interval, until the step passes or rolls back.
    None when another run took the watch over. ``board``: the ladder to show each check on,
    and the step's index in it."""
    logger = get_run_logger()
    state = StepState.start(hold)
    started = time.monotonic()
    due = started
    while True:
        due = max(due + policy.check_interval_seconds, time.monotonic())
        time.sleep(max(0.0, due - time.monotonic()))
        if lost.is_set():
            return None
        elapsed = time.monotonic() - started
        span, alpha = state.evidence_span(elapsed), check_significance(state, policy, elapsed)
        check = measure_canary.with_options(task_run_name=f"measure {weight} % #{state.checks + 1}")
        m = check(canary, policy, weight, span, alone, alpha)
        state, action = next_action(state, m, policy, elapsed)
        history.append(m)
        if board is not None:
            board[0].check(board[1], m)
        match action:
            case Continue():
                logger.info("%s %% check %s: %s: %s", weight, state.checks, m.phase.value, m.reason)
                continue
            case Extend(reason=reason):
                logger.warning("Extending the hold at %s %%: %s", weight, reason)
            case Pass(reason=reason):
                logger.info("Step at %s %% passed: %s", weight, reason)
                return action
            case Rollback(outcome=outcome, reason=reason):
                logger.error("Step at %s %% %s: %s", weight, outcome, reason)
                return action
            case AskHuman(reason=reason):
                decision = _ask_human(canary, weight, reason)
                if decision is None:
                    return Pass(f"a human decided to go on: {reason}")
                return Rollback("inconclusive", decision)


class _PauseExpired(Exception):
    """Nobody answered the decision form in time: roll back, and say so as the final state."""


def _ask_human(canary: Canary, weight: int, reason: str) -> str | None:
    """Pause for a decision; None to go on, else the reason to roll back."""
    description = (
        f"The canary of **{canary.app}** ({canary.image}) at **{weight} %** is inconclusive: "
        f"{reason}.\n\nPromote to the next step, or roll back?"
    )
    try:
        decision = pause_flow_run(
            wait_for_input=CanaryDecision.with_initial_data(description=description, promote=False),
            timeout=3600,
            poll_interval=2,
        )
    except FlowPauseTimeout:
        raise _PauseExpired("inconclusive, and nobody decided within an hour") from None
    canary.emit(
        "shipflow.canary.decided",
        {
            "weight": weight,
            "promote": decision.promote,
            "approver": decision.decided_by,
            "comment": decision.comment,
            "reason": reason,
        },
    )
    if decision.promote:
        get_run_logger().info("%s decided to go on: %s", decision.decided_by, decision.comment)
        return None
    return f"{decision.decided_by} decided to roll back: {decision.comment or reason}"


@flow(name="reconcile_canary")
def reconcile_canary(
    app: str,
    cluster: ClusterTarget | None = None,
    router: RouterSpec | None = None,
    local: LocalTarget | None = None,
) -> State[Any]:
    """Take back any traffic and pods that a dead run left on the canary of ``app`` (on
    Kubernetes, or on the ``local`` target when ``local`` is given).

    For the runs no hook could clean up (a worker killed with SIGKILL, a lost node). Safe to
    run at any time, and on a schedule or from an automation: it never waits for a slot, only
    ever moves traffic to stable, and leaves alone a canary a live run watches.
    """
    canary = _canary_from(app, "(unknown)", cluster, router, None, None, local)
    _, what = take_back_unwatched(canary)
    return Completed(message=what)
