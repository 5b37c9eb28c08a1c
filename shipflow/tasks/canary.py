"""Canary tasks: deploy, weigh, measure, roll back, promote; and what the UI shows of them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from prefect import get_run_logger
from prefect.artifacts import (
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

from shipflow.adapters.kubernetes import (
    ClusterTarget,
    Deployments,
    RouterSpec,
    TrafficRouter,
    api_client,
    make_router,
)
from shipflow.adapters.prometheus import MetricsTarget, PrometheusMetrics
from shipflow.core.analysis import CanaryPolicy, Measurement, error_measurement, measure
from shipflow.core.names import slug
from shipflow.errors import PrometheusError
from shipflow.tasks.common import emit, shipflow_task


@dataclass(frozen=True)
class Canary:
    """One app's canary: where it runs, how its traffic is split, where its metrics are."""

    app: str
    image: str
    cluster: ClusterTarget
    router_spec: RouterSpec
    metrics: MetricsTarget
    container: str | None = None

    @property
    def canary_name(self) -> str:
        return f"{self.app}-canary"

    @property
    def resource_id(self) -> str:
        return f"shipflow.canary.{self.cluster.namespace}.{self.app}"

    @property
    def key(self) -> str:
        return slug(f"{self.cluster.namespace}-{self.app}")

    def deployments(self) -> Deployments:
        return Deployments(api_client(self.cluster), self.cluster.namespace)

    def router(self) -> TrafficRouter:
        return make_router(
            self.router_spec,
            api_client(self.cluster),
            self.cluster.namespace,
            self.app,
            self.canary_name,
        )


@shipflow_task(name="deploy_canary", retries=3)
def deploy_canary(canary: Canary, policy: CanaryPolicy) -> str:
    """Create the canary Deployment from the stable one with the new image, with no traffic
    yet, and wait until its rollout is complete. Returns the stable image (for the record)."""
    deployments = canary.deployments()
    stable_image = deployments.image_of(canary.app, canary.container)
    # The replica router adds canary pods as weight rises; mesh routers need them all now.
    replicas = 0 if canary.router_spec.kind == "replicas" else deployments.replicas(canary.app)
    deployments.ensure_canary(
        canary.app,
        canary.canary_name,
        canary.image,
        container=canary.container,
        version_label=canary.metrics.queries.version_label,
        canary_version=canary.metrics.canary_version,
        replicas=replicas,
    )
    deployments.wait_ready(canary.canary_name, policy.progress_deadline_seconds)
    get_run_logger().info(
        "Canary %s is ready with %s (stable runs %s)",
        canary.canary_name,
        canary.image,
        stable_image,
    )
    return stable_image


@shipflow_task(name="set_canary_weight", retries=3)
def set_canary_weight(canary: Canary, weight: int) -> int:
    """Send ``weight`` % of traffic to the canary; returns the weight that really applies."""
    router = canary.router()
    actual = router.set_canary_weight(weight)
    if actual != weight:
        get_run_logger().warning(
            "Asked for %s %% but the router gives %s %%: %s", weight, actual, router.describe()
        )
    return actual


@shipflow_task(name="measure_canary")
def measure_canary(canary: Canary, policy: CanaryPolicy, weight: int) -> Measurement:
    """One check of the canary against the stable baseline. Never raises for Prometheus
    trouble: a failed query is an ERROR measurement, and the policy decides what a run of
    them means."""
    now = datetime.now(UTC)
    try:
        sample, baseline = PrometheusMetrics(canary.metrics).canary_and_baseline(
            policy.window_seconds
        )
    except PrometheusError as exc:
        return error_measurement(now, weight, str(exc))
    return measure(sample, baseline, policy, at=now, weight=weight)


def rollback(canary: Canary) -> None:
    """All traffic to stable, canary scaled to zero; the stable Deployment is not touched.

    A plain function so that the flow's crash and cancellation hooks can call it too.
    """
    canary.router().set_canary_weight(0)
    deployments = canary.deployments()
    if deployments.exists(canary.canary_name):
        deployments.scale(canary.canary_name, 0)


@shipflow_task(name="rollback_canary", retries=5)
def rollback_canary(canary: Canary, reason: str, weight: int | None) -> None:
    """Roll back (see :func:`rollback`) and say so; ``weight`` None when it is not known."""
    rollback(canary)
    at = "" if weight is None else f" at {weight} %"
    get_run_logger().warning("Rolled back %s%s: %s", canary.app, at, reason)
    emit(
        "shipflow.canary.rolled_back",
        canary.resource_id,
        payload={"image": canary.image, "weight": weight, "reason": reason},
    )


@shipflow_task(name="promote_stable", retries=3)
def promote_stable(canary: Canary, policy: CanaryPolicy) -> None:
    """Stable takes the canary's image; once its rollout is complete all traffic goes to it
    and the canary is scaled to zero."""
    deployments = canary.deployments()
    deployments.set_image(canary.app, canary.image, canary.container)
    deployments.wait_ready(canary.app, policy.progress_deadline_seconds)
    rollback(canary)  # the same moves: weight 0 to the (old) canary, canary to zero
    emit("shipflow.canary.promoted", canary.resource_id, payload={"image": canary.image})


@shipflow_task(name="publish_progress")
def publish_progress(canary: Canary, weight: int, artifact_id: UUID | None) -> UUID:
    """The canary's current weight as a progress bar in the UI."""
    if artifact_id is None:
        created = create_progress_artifact(
            progress=float(weight),
            key=f"canary-progress-{canary.key}",
            description=f"Traffic on the canary of {canary.app} ({canary.image}), in percent",
        )
        assert isinstance(created, UUID)  # the sync variant, called from sync code
        return created
    update_progress_artifact(artifact_id, progress=float(weight))
    return artifact_id


@shipflow_task(name="publish_measurements")
def publish_measurements(canary: Canary, measurements: Sequence[Measurement]) -> None:
    """Every check so far: canary vs baseline error rate, P99, requests, phase and reason."""
    create_table_artifact(
        key=f"canary-measurements-{canary.key}",
        table=[m.row() for m in measurements],
        description=f"Canary analysis of {canary.app} → {canary.image}",
    )
