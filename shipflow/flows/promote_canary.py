"""promote_canary: a staged canary with continuous Prometheus analysis and automatic rollback."""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

from prefect import Flow, flow, get_run_logger, pause_flow_run
from prefect.client.schemas.objects import FlowRun, State
from prefect.exceptions import FlowPauseTimeout
from prefect.input import RunInput
from prefect.states import Completed, Failed
from pydantic import Field

from shipflow.adapters.kubernetes import ClusterTarget, RouterSpec
from shipflow.adapters.prometheus import MetricsTarget
from shipflow.core.analysis import CanaryPolicy, Decision, Measurement, assess_step
from shipflow.flows.crashes import explain_lost_worker
from shipflow.flows.pauses import end_after_expired_pause
from shipflow.settings import load_settings
from shipflow.tasks.canary import (
    Canary,
    deploy_canary,
    measure_canary,
    promote_stable,
    publish_measurements,
    publish_progress,
    rollback,
    rollback_canary,
    set_canary_weight,
)
from shipflow.tasks.common import emit, ensure_limit, hold_limit


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
) -> Canary:
    return Canary(
        app=app,
        image=image,
        cluster=cluster or ClusterTarget(),
        router_spec=router or RouterSpec(),
        metrics=metrics or MetricsTarget(url=load_settings().prometheus_url, app=app),
        container=container,
    )


def _rollback_hook(flow: Flow[..., Any], flow_run: FlowRun, state: State[Any]) -> None:
    """on_crashed / on_cancellation: a crash or a cancel never leaves traffic on a canary."""
    params = flow_run.parameters
    canary = _canary_from(
        params["app"],
        params["image"],
        ClusterTarget.model_validate(params["cluster"]) if params.get("cluster") else None,
        RouterSpec.model_validate(params["router"]) if params.get("router") else None,
        MetricsTarget.model_validate(params["metrics"]) if params.get("metrics") else None,
        params.get("container"),
    )
    rollback(canary)
    emit(
        "shipflow.canary.rolled_back",
        canary.resource_id,
        payload={"image": canary.image, "reason": f"flow run {state.type.value.lower()}"},
    )


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
) -> State[Any]:
    """Promote ``image`` to the stable Deployment ``app`` through a canary ladder.

    The canary Deployment is made from the stable one; for each step the router sends the
    step's weight to it and the canary is checked against the stable baseline every check
    interval for the whole hold. The first failed verdict rolls back (weight 0, canary scaled
    to 0, stable untouched) and the run fails with the measurement's reason. After the last
    step, stable takes the image, all traffic returns to it and the canary is scaled to 0.

    Args:
        app: The stable Deployment (and the metrics' app label).
        image: The image to promote, ideally by digest.
        policy: Ladder, check interval, window, thresholds and limits.
        cluster: Namespace and kubeconfig.
        router: How traffic is split (gateway, istio, nginx, replicas).
        metrics: Prometheus URL and labels; default SHIPFLOW_PROMETHEUS_URL and app.
        container: The container that gets the image (default: the first).
    """
    logger = get_run_logger()
    policy = policy or CanaryPolicy()
    canary = _canary_from(app, image, cluster, router, metrics, container)
    with hold_limit(ensure_limit(f"shipflow-canary-{canary.key}")):
        leftover = canary.router().canary_weight()
        if leftover:
            logger.warning("A previous run left %s %% on the canary: taking it back", leftover)
            rollback_canary(canary, "left over by an earlier run", leftover)
        try:
            return _climb(canary, policy)
        except Exception as exc:
            # Whatever broke, traffic must not stay on a canary nobody watches any more.
            rollback_canary(canary, f"error: {exc}", None)
            raise


def _climb(canary: Canary, policy: CanaryPolicy) -> State[Any]:
    logger = get_run_logger()
    stable_image = deploy_canary(canary, policy)
    logger.info("Router: %s", canary.router().describe())
    progress: UUID | None = publish_progress(canary, 0, None)
    history: list[Measurement] = []
    for index, step in enumerate(policy.steps):
        weight = set_canary_weight(canary, step.weight)
        progress = publish_progress(canary, weight, progress)
        emit(
            "shipflow.canary.step",
            canary.resource_id,
            payload={"step": index, "weight": weight, "hold_seconds": step.hold_seconds},
        )
        logger.info(
            "Step %s: %s %% on %s for %ss", index + 1, weight, canary.image, step.hold_seconds
        )
        try:
            outcome = _watch(canary, policy, weight, step.hold_seconds, history)
        except _PauseExpired as expired:
            rollback_canary(canary, str(expired), weight)
            return end_after_expired_pause(Failed(message=f"rolled back at {weight} %: {expired}"))
        if outcome is not None:
            rollback_canary(canary, outcome, weight)
            publish_progress(canary, 0, progress)
            return Failed(message=f"rolled back at {weight} %: {outcome}")
    promote_stable(canary, policy)
    publish_progress(canary, 100, progress)
    message = f"promoted {canary.image} to {canary.app} (was {stable_image})"
    logger.info(message)
    return Completed(message=message)


def _watch(
    canary: Canary, policy: CanaryPolicy, weight: int, hold: float, history: list[Measurement]
) -> str | None:
    """Check every interval until the hold is over. None when the step passed, else the
    reason to roll back."""
    logger = get_run_logger()
    started = time.monotonic()
    measurements: list[Measurement] = []
    extended = False
    while True:
        next_check = time.monotonic() + policy.check_interval_seconds
        m = measure_canary(canary, policy, weight)
        measurements.append(m)
        history.append(m)
        publish_measurements(canary, history)
        elapsed = time.monotonic() - started >= hold
        verdict = assess_step(measurements, policy, hold_elapsed=elapsed)
        if verdict.decision is Decision.PASSED:
            logger.info("Step at %s %% passed: %s", weight, verdict.reason)
            return None
        if verdict.decision is Decision.FAILED:
            logger.error("Step at %s %% failed: %s", weight, verdict.reason)
            return verdict.reason
        if verdict.decision is Decision.INCONCLUSIVE:
            if not extended:
                extended = True
                hold += max(hold, policy.check_interval_seconds * policy.inconclusive_limit)
                measurements = []
                logger.warning(
                    "Inconclusive at %s %%, extending the hold once: %s", weight, verdict.reason
                )
            elif policy.on_inconclusive == "rollback":
                return f"inconclusive after an extended hold: {verdict.reason}"
            else:
                return _ask_human(canary, weight, verdict.reason)
        time.sleep(max(0.0, next_check - time.monotonic()))


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
    if decision.promote:
        get_run_logger().info("%s decided to go on: %s", decision.decided_by, decision.comment)
        return None
    return f"{decision.decided_by} decided to roll back: {decision.comment or reason}"


@flow(name="reconcile_canary")
def reconcile_canary(
    app: str,
    cluster: ClusterTarget | None = None,
    router: RouterSpec | None = None,
) -> State[Any]:
    """Take back any traffic a dead run left on the canary of ``app``, and scale it to zero.

    For the runs no hook could clean up (a worker killed with SIGKILL, a lost node). Safe to
    run at any time, and on a schedule: it only ever moves traffic to stable.
    """
    canary = _canary_from(app, "(unknown)", cluster, router, None, None)
    weight = canary.router().canary_weight()
    deployments = canary.deployments()
    pods = deployments.replicas(canary.canary_name) if deployments.exists(canary.canary_name) else 0
    if not weight and not pods:
        return Completed(message=f"nothing to reconcile for {app}")
    rollback_canary(canary, "reconcile: no run is watching this canary", weight)
    return Completed(
        message=f"took {weight} % of traffic and {pods} pods back from the canary of {app}"
    )
