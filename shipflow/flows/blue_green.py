"""blue_green: the idle colour takes the new image, is checked, and takes all traffic in one
Service patch; a failed check switches back within one check interval.
reconcile_blue_green: undoes a switch that a run killed outright left unverified."""

from __future__ import annotations

import time
from contextlib import suppress
from typing import Any

from prefect import Flow, flow, get_run_logger
from prefect.client.schemas.objects import FlowRun, State
from prefect.states import Completed, Failed

from shipflow.adapters.kubernetes import ClusterTarget
from shipflow.adapters.prometheus import MetricsTarget
from shipflow.core.analysis import Measurement
from shipflow.core.slo import SLO, BudgetOverride
from shipflow.core.steps import Rollback
from shipflow.core.strategies import BlueGreenPolicy
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
    deploy_idle_colour,
    measure_version,
    publish_checks,
    read_colours,
    retire_old_colour,
    rollback_blue_green,
    switch_back,
    switch_traffic,
    wait_ready,
)


def _target(
    app: str,
    image: str,
    cluster: ClusterTarget | None,
    metrics: MetricsTarget | None,
    container: str | None,
) -> Target:
    return Target(
        strategy="blue-green",
        app=app,
        image=image,
        cluster=cluster or ClusterTarget(),
        metrics=metrics or MetricsTarget(app=app),
        container=container,
    )


def _switch_back_hook(flow: Flow[..., Any], flow_run: FlowRun, state: State[Any]) -> None:
    """on_crashed / on_cancellation: traffic goes back to the colour that served before."""
    p = flow_run.parameters
    target = _target(
        p["app"],
        p["image"],
        ClusterTarget.model_validate(p["cluster"]) if p.get("cluster") else None,
        MetricsTarget.model_validate(p["metrics"]) if p.get("metrics") else None,
        p.get("container"),
    )
    policy = BlueGreenPolicy.model_validate(p.get("policy") or {})
    outcome = state.type.value.lower()
    with suppress(KubernetesError):
        switch_back(target, policy.active_service or target.app, None)
    emit(
        "shipflow.blue_green.rolled_back",
        target.resource_id,
        payload={"image": target.image, "outcome": outcome, "reason": f"flow run {outcome}"},
    )
    flush_events()


@flow(name="blue_green", on_crashed=[_switch_back_hook], on_cancellation=[_switch_back_hook])
def blue_green(
    app: str,
    image: str,
    policy: BlueGreenPolicy | None = None,
    cluster: ClusterTarget | None = None,
    metrics: MetricsTarget | None = None,
    container: str | None = None,
    slo: SLO | None = None,
    budget_override: BudgetOverride | None = None,
) -> State[Any]:
    """Release ``image`` of ``app`` blue-green.

    The active Service's selector says which colour serves (neither, on the first release:
    the Deployment ``app`` serves and the new image goes to ``<app>-blue``). The idle colour's
    Deployment is made from the serving one with the new image and its colour as version label,
    at full size; once ready it may be checked through the preview Service against the serving
    colour. Then the Service selects the new colour in one patch, and the new colour alone is
    watched by the absolute limits for ``post_promotion_seconds``: a failed check switches the
    selector back (seconds) and scales the new colour down. After the hold and
    ``scale_down_delay_seconds`` the old colour is scaled to zero.

    Args:
        app: The Deployment serving now (and the metrics' app label).
        image: The image to release, ideally by digest.
        policy: Analysis limits, holds, Service names.
        cluster: Namespace and kubeconfig.
        metrics: Prometheus and labels; the colours are the version label's values.
        container: The container that gets the image (default: the first).
        slo: With an SLO, nothing starts while its error budget is spent.
        budget_override: Deploy although the budget is spent (who approved it, recorded).
    """
    logger = get_run_logger()
    policy = policy or BlueGreenPolicy()
    target = _target(app, image, cluster, metrics, container)
    gate(target.metrics, slo, budget_override, namespace=target.cluster.namespace)
    active = policy.active_service or app
    preview = policy.preview_service or f"{app}-preview"
    slot = rollout_slot(target.key)
    with hold_limit(slot, wait_seconds=30, lease_seconds=60):
        colours = read_colours(target, active)
        idle = colours.idle
        history: list[Measurement] = []

        def publish(rows: list[Measurement]) -> None:
            publish_checks(target, rows)

        def back(reason: str, outcome: str) -> State[Any]:
            rollback_blue_green(target, active, idle, reason, outcome)
            return Failed(message=f"rolled back to {colours.template}: {outcome}: {reason}")

        try:
            name = deploy_idle_colour(target, colours, preview, active)
            try:
                wait_ready(target, name, policy.progress_deadline_seconds)
            except KubernetesError as exc:
                return back(f"{name} never became ready: {exc}", "failed")
            if policy.pre_promotion_seconds:
                verdict = watch_step(
                    f"Pre-promotion analysis of {name}",
                    lambda span, alpha: measure_version(
                        target, policy, idle, colours.active_version, 0, span, alpha
                    ),
                    policy,
                    policy.pre_promotion_seconds,
                    history,
                    publish,
                )
                if isinstance(verdict, Rollback):
                    return back(f"before the switch: {verdict.reason}", verdict.outcome)
            selector = {**colours.selector, target.version_label: idle}
            switch_traffic(target, active, selector, f"{name} runs {image}")
            if policy.post_promotion_seconds:
                verdict = watch_step(
                    f"Post-promotion analysis of {name}",
                    lambda span, alpha: measure_version(
                        target, policy, idle, None, 100, span, alpha
                    ),
                    policy,
                    policy.post_promotion_seconds,
                    history,
                    publish,
                )
                if isinstance(verdict, Rollback):
                    return back(f"after the switch: {verdict.reason}", verdict.outcome)
        except Exception as exc:
            # Whatever broke, traffic goes back to the colour that served before.
            rollback_blue_green(target, active, idle, f"error: {exc}", "error")
            raise
        if policy.scale_down_delay_seconds:
            logger.info(
                "Keeping %s for %ss before scaling it down",
                colours.template,
                policy.scale_down_delay_seconds,
            )
            time.sleep(policy.scale_down_delay_seconds)
        retire_old_colour(target, active, colours.template)
    message = f"{active} now serves {image} from {name} ({colours.template} scaled down)"
    logger.info(message)
    return Completed(message=message)


@flow(name="reconcile_blue_green")
def reconcile_blue_green(
    app: str,
    cluster: ClusterTarget | None = None,
    metrics: MetricsTarget | None = None,
    policy: BlueGreenPolicy | None = None,
    wait_seconds: float = RECONCILE_WAIT_SECONDS,
) -> State[Any]:
    """Undo what a blue-green run killed outright (no hook ran) left: a switch it never
    verified goes back to the colour that served before, and an idle colour it started is
    scaled to zero.

    The deployment ``reconcile-blue-green`` runs it when a ``blue_green`` run ends Crashed or
    Cancelled. It takes the app's rollout slot first (one rollout per app, any strategy): a
    dead run's slot is taken over after its grace, and while it holds the slot no live run is
    switching, so a switch still recorded on the Service (``shipflow.io/previous-selector``,
    dropped once a run's hold passed) is a dead run's. A newer live rollout that keeps the
    slot past ``wait_seconds`` is left alone: it decides.

    Args:
        app: The app (the blue_green run's ``app``).
        cluster: Namespace and kubeconfig.
        metrics: Its labels name the colours (the version label).
        policy: The active Service's name, when not ``app``.
        wait_seconds: How long to wait for the rollout slot.
    """
    policy = policy or BlueGreenPolicy()
    target = _target(app, "", cluster, metrics, None)
    active = policy.active_service or app
    reason = "the run that switched it ended before its hold passed"

    def undo() -> str | None:
        restored = switch_back(target, active, None)
        if restored is None:
            return None
        emit(
            "shipflow.blue_green.rolled_back",
            target.resource_id,
            payload={"image": "", "outcome": "unwatched", "reason": reason},
        )
        return f"switched {active} back to {restored}: {reason}"

    nothing = f"nothing to undo: {active} has no unverified switch (idle colours at zero)"
    return undo_unwatched(target, wait_seconds, undo, nothing)
