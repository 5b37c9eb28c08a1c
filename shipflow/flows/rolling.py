"""rolling: the Deployment's own rolling update, watched by the analysis from the first new pod,
rolled back by restoring the previous pod template.
reconcile_rolling: restores it when a run killed outright left its update unverified."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from prefect import Flow, flow, get_run_logger
from prefect.client.schemas.objects import FlowRun, State
from prefect.states import Completed, Failed

from shipflow.adapters.kubernetes import ClusterTarget
from shipflow.adapters.kubernetes.rolling import (
    forget_template,
    recorded_template,
    restore_template,
)
from shipflow.adapters.prometheus import MetricsTarget
from shipflow.core.analysis import Measurement
from shipflow.core.rollout import rollout_complete, rollout_problem
from shipflow.core.slo import SLO, BudgetOverride
from shipflow.core.steps import Pass, Rollback
from shipflow.core.strategies import RollingPolicy, version_for
from shipflow.errors import KubernetesError
from shipflow.flows.watching import undo_unwatched, watch_step
from shipflow.tasks.common import (
    RECONCILE_WAIT_SECONDS,
    emit,
    flush_events,
    hold_limit,
    rollout_slot,
)
from shipflow.tasks.slo import gate
from shipflow.tasks.strategies import (
    Target,
    begin_rolling_update,
    measure_version,
    publish_checks,
    rollback_rolling_update,
)


def _target(
    app: str,
    image: str,
    cluster: ClusterTarget | None,
    metrics: MetricsTarget | None,
    container: str | None,
) -> Target:
    return Target(
        strategy="rolling",
        app=app,
        image=image,
        cluster=cluster or ClusterTarget(),
        metrics=metrics or MetricsTarget(app=app),
        container=container,
    )


def _restore_hook(flow: Flow[..., Any], flow_run: FlowRun, state: State[Any]) -> None:
    """on_crashed / on_cancellation: the previous pod template (recorded on the Deployment)
    rolls out again."""
    p = flow_run.parameters
    target = _target(
        p["app"],
        p["image"],
        ClusterTarget.model_validate(p["cluster"]) if p.get("cluster") else None,
        MetricsTarget.model_validate(p["metrics"]) if p.get("metrics") else None,
        p.get("container"),
    )
    outcome = state.type.value.lower()
    with suppress(KubernetesError):
        restore_template(target.deployments(), target.app, None)
    emit(
        "shipflow.rolling.rolled_back",
        target.resource_id,
        payload={"image": target.image, "outcome": outcome, "reason": f"flow run {outcome}"},
    )
    flush_events()


@flow(name="rolling", on_crashed=[_restore_hook], on_cancellation=[_restore_hook])
def rolling(
    app: str,
    image: str,
    policy: RollingPolicy | None = None,
    cluster: ClusterTarget | None = None,
    metrics: MetricsTarget | None = None,
    container: str | None = None,
    slo: SLO | None = None,
    budget_override: BudgetOverride | None = None,
) -> State[Any]:
    """Roll ``image`` out to the Deployment ``app`` pod by pod.

    The pod template gets the image and a version label naming it (from its digest or tag),
    with the policy's maxSurge/maxUnavailable and progress deadline. From then on, every check
    interval, the new pods' version is judged against the old pods' by the analysis rules
    (:mod:`shipflow.core.steps`); a failed check, too many checks that cannot measure, a
    ``ProgressDeadlineExceeded`` condition, or the deadline passing on the flow's own clock
    restore the previous pod template and wait for it to be running again. Once complete, the
    new version alone is watched by the absolute limits for ``hold_seconds``.

    Args:
        app: The Deployment (and the metrics' app label).
        image: The image to roll out, ideally by digest.
        policy: Surge, deadline, hold, analysis limits.
        cluster: Namespace and kubeconfig.
        metrics: Prometheus and labels; versions are the version label's values.
        container: The container that gets the image (default: the first).
        slo: With an SLO, nothing starts while its error budget is spent.
        budget_override: Deploy although the budget is spent (who approved it, recorded).
    """
    logger = get_run_logger()
    policy = policy or RollingPolicy()
    target = _target(app, image, cluster, metrics, container)
    gate(target.metrics, slo, budget_override, namespace=target.cluster.namespace)
    policy.surge_pair()  # refuse a policy that can never progress before touching anything
    new = version_for(image)
    deadline = policy.progress_deadline_seconds
    slot = rollout_slot(target.key)
    with hold_limit(slot, wait_seconds=30, lease_seconds=60):
        previous, old = begin_rolling_update(target, policy, new)
        if old == new:
            old = None  # the same version again: no baseline to tell apart
        history: list[Measurement] = []

        def publish(rows: list[Measurement]) -> None:
            publish_checks(target, rows)

        def back(reason: str, outcome: str) -> State[Any]:
            rollback_rolling_update(target, previous, reason, outcome, deadline)
            return Failed(message=f"rolled back to the previous pod template: {outcome}: {reason}")

        def progress(elapsed: float) -> Pass | Rollback | None:
            status = target.deployments().status(app)
            if problem := rollout_problem(status):
                return Rollback("failed", f"ProgressDeadlineExceeded: {problem}")
            if rollout_complete(status):
                return Pass(f"rollout complete: {status.updated} of {status.desired} pods updated")
            if elapsed > deadline:
                return Rollback(
                    "failed",
                    f"not complete after the progress deadline of {deadline:g} s: "
                    f"{status.updated} updated, {status.available} available of "
                    f"{status.desired}",
                )
            return None

        try:
            during = watch_step(
                f"Rollout of {new}",
                lambda span, alpha: measure_version(target, policy, new, old, 0, span, alpha),
                policy,
                # the step ends when the rollout does (progress), or past the deadline
                deadline + policy.check_interval_seconds,
                history,
                publish,
                until=progress,
            )
            if isinstance(during, Rollback):
                return back(f"during the rollout: {during.reason}", during.outcome)
            if policy.hold_seconds:
                after = watch_step(
                    f"Analysis of {new} at 100 %",
                    lambda span, alpha: measure_version(
                        target, policy, new, None, 100, span, alpha
                    ),
                    policy,
                    policy.hold_seconds,
                    history,
                    publish,
                )
                if isinstance(after, Rollback):
                    return back(f"after the rollout: {after.reason}", after.outcome)
        except Exception as exc:
            rollback_rolling_update(target, previous, f"error: {exc}", "error", deadline)
            raise
        forget_template(target.deployments(), app)
    emit("shipflow.rolling.promoted", target.resource_id, payload={"image": image})
    message = f"rolled {image} out to {app} (version {new})"
    logger.info(message)
    return Completed(message=message)


@flow(name="reconcile_rolling")
def reconcile_rolling(
    app: str,
    cluster: ClusterTarget | None = None,
    policy: RollingPolicy | None = None,
    wait_seconds: float = RECONCILE_WAIT_SECONDS,
) -> State[Any]:
    """Restore the pod template a rolling run killed outright (no hook ran) replaced and never
    verified, and wait until it runs again.

    The deployment ``reconcile-rolling`` runs it when a ``rolling`` run ends Crashed or
    Cancelled. Under the app's rollout slot (see ``reconcile_blue_green``), a template still
    recorded on the Deployment (``shipflow.io/previous-template``, dropped once a run's hold
    passed) is a dead run's. A newer live rollout that keeps the slot past ``wait_seconds``
    is left alone.

    Args:
        app: The Deployment (the rolling run's ``app``).
        cluster: Namespace and kubeconfig.
        policy: Its progress deadline bounds the wait for the restored pods.
        wait_seconds: How long to wait for the rollout slot.
    """
    policy = policy or RollingPolicy()
    target = _target(app, "", cluster, None, None)
    reason = "the run that started it ended before its hold passed"

    def undo() -> str | None:
        template = recorded_template(target.deployments(), app)
        if template is None:
            return None
        rollback_rolling_update(
            target, template, reason, "unwatched", policy.progress_deadline_seconds
        )
        return f"restored the previous pod template of {app}: {reason}"

    nothing = f"nothing to undo: {app} has no unverified rolling update"
    return undo_unwatched(target, wait_seconds, undo, nothing)
