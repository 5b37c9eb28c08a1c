"""Canary tasks: deploy, weigh, measure, retire, roll back, promote, take back an unwatched
canary; the watch a run keeps on its canary; and what the UI shows of them."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
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
from shipflow.adapters.prometheus import (
    Credentials,
    MetricsTarget,
    PrometheusClient,
    connection_for,
    observe,
)
from shipflow.adapters.waiting import Timeout, poll_until
from shipflow.core.analysis import AnalysisPolicy, Measurement, error_measurement, measure
from shipflow.core.canary import CanaryPolicy
from shipflow.core.names import slug
from shipflow.core.validation import validated
from shipflow.core.watch import Watch, describe, watch_is_live
from shipflow.errors import KubernetesError, PrometheusError
from shipflow.settings import load_settings
from shipflow.tasks.common import emit, load_secret, shipflow_task


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
def deploy_canary(canary: Canary, watch: Watch) -> str:
    """Create (or update) the canary Deployment from the stable one with the new image, with
    no traffic yet, and mark it watched by this run. Returns the stable image."""
    deployments = canary.deployments()
    stable_image = deployments.image_of(canary.app, canary.container)
    # The replica router adds canary pods as weight rises; mesh routers need them all now.
    replicas = 0 if canary.router_spec.kind == "replicas" else deployments.replicas(canary.app)
    deployments.ensure_canary(
        canary.app,
        canary.canary_name,
        canary.image,
        container=canary.container,
        version_label=canary.metrics.definitions.version_label,
        canary_version=canary.metrics.canary_version,
        replicas=replicas,
    )
    deployments.claim_watch(canary.canary_name, watch)
    return stable_image


@shipflow_task(name="wait_canary_ready", retries=3)
def wait_canary_ready(canary: Canary, policy: CanaryPolicy) -> None:
    """Wait until the canary's rollout is complete (``ProgressDeadlineExceeded`` fails)."""
    canary.deployments().wait_ready(canary.canary_name, policy.progress_deadline_seconds)
    get_run_logger().info("Canary %s is ready with %s", canary.canary_name, canary.image)


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


def prometheus_client(target: MetricsTarget) -> PrometheusClient:
    """A client for ``target``, with credentials from its Secret block when it names one."""
    credentials = None
    if target.auth_block:
        secret = load_secret(target.auth_block, field="metrics.auth_block")
        credentials = validated(Credentials, secret, prefix="metrics.auth_block")
    return PrometheusClient(connection_for(target, load_settings(), credentials))


def check_timeout(target: MetricsTarget, policy: AnalysisPolicy) -> float:
    """What one check may take: the target's timeout, at most half the check interval, so
    checks keep their schedule and a dead Prometheus costs one timeout per check."""
    return min(target.timeout_seconds, policy.check_interval_seconds / 2)


@shipflow_task(name="measure_canary")
def measure_canary(
    canary: Canary,
    policy: AnalysisPolicy,
    weight: int,
    span_seconds: float,
    alone: str | None = None,
    checks: int = 1,
) -> Measurement:
    """One check of the canary against the stable baseline over the last ``span_seconds`` (or
    of version ``alone`` by the absolute limits only), one of the step's ``checks`` that share
    its significance. Never raises for Prometheus trouble: a failed query is an ERROR
    measurement, and the step decides what a run of them means."""
    now = datetime.now(UTC)
    target, timeout = canary.metrics, check_timeout(canary.metrics, policy)
    try:
        client = prometheus_client(target)
        try:
            seen = observe(client, target, span_seconds, timeout, alone=alone)
        finally:
            client.close()
    except PrometheusError as exc:
        return error_measurement(now, weight, str(exc))
    return measure(seen, policy, at=now, weight=weight, checks=checks)


def retire_canary(canary: Canary, timeout: float = 300.0) -> None:
    """All traffic to stable (the route as it was before the canary) and the canary scaled to
    zero; the stable Deployment's spec is not touched. Ends a rollback and a promotion alike.

    A plain function so that the flow's crash and cancellation hooks can call it too.
    """
    canary.router().set_canary_weight(0)
    deployments = canary.deployments()
    if deployments.exists(canary.canary_name):
        deployments.scale(canary.canary_name, 0)
        deployments.wait_scaled_down(canary.canary_name, timeout)


@shipflow_task(name="rollback_canary", retries=5)
def rollback_canary(
    canary: Canary, reason: str, weight: int | None, outcome: str = "failed"
) -> None:
    """Roll back (see :func:`retire_canary`) and say so; ``weight`` None when it is not known,
    ``outcome`` whose fault it was (failed, error, inconclusive, crashed, …)."""
    retire_canary(canary)
    at = "" if weight is None else f" at {weight} %"
    get_run_logger().warning("Rolled back %s%s (%s): %s", canary.app, at, outcome, reason)
    emit(
        "shipflow.canary.rolled_back",
        canary.resource_id,
        payload={"image": canary.image, "weight": weight, "outcome": outcome, "reason": reason},
    )


@shipflow_task(name="promote_stable", retries=3)
def promote_stable(canary: Canary, policy: CanaryPolicy) -> None:
    """Stable takes the canary's image; once its rollout is complete all traffic goes to it
    and the canary is retired."""
    deployments = canary.deployments()
    deployments.set_image(canary.app, canary.image, canary.container)
    deployments.wait_ready(canary.app, policy.progress_deadline_seconds)
    retire_canary(canary, policy.progress_deadline_seconds)
    emit("shipflow.canary.promoted", canary.resource_id, payload={"image": canary.image})


@shipflow_task(name="restore_stable", retries=3)
def restore_stable(canary: Canary, image: str, reason: str, policy: CanaryPolicy) -> None:
    """The promoted image failed its watch at 100 %: stable goes back to ``image``."""
    deployments = canary.deployments()
    deployments.set_image(canary.app, image, canary.container)
    deployments.wait_ready(canary.app, policy.progress_deadline_seconds)
    get_run_logger().warning("Restored %s to %s: %s", canary.app, image, reason)
    emit(
        "shipflow.canary.rolled_back",
        canary.resource_id,
        payload={
            "image": canary.image,
            "weight": 100,
            "outcome": "failed",
            "reason": reason,
            "restored": image,
        },
    )


def _watched(deployments: Deployments, name: str) -> tuple[bool, str]:
    """Whether a live run watches ``name``: a record renewed within its ttl that changes
    while we look. Looks for at most one ttl."""
    first = deployments.read_watch(name)
    since = time.monotonic()

    def check() -> tuple[bool, str] | None:
        current = deployments.read_watch(name)
        now = datetime.now(UTC)
        if current != first:
            return True, describe(current, now)
        if not watch_is_live(current, now, time.monotonic() - since):
            return False, describe(current, now)
        return None

    ttl = first.ttl_seconds if first else 0.0
    try:
        return poll_until(check, timeout=ttl + 1, interval=0.25)
    except Timeout:  # the record neither changed nor expired in a whole ttl: dead
        return False, describe(first, datetime.now(UTC))


TakeBack = Literal["nothing", "watched", "taken"]


@shipflow_task(name="take_back_unwatched_canary", retries=3)
def take_back_unwatched(canary: Canary) -> tuple[TakeBack, str]:
    """Retire the canary of ``canary.app`` if it has traffic or pods and no live run watches
    it (a run killed outright runs no hook). Needs no concurrency slot: it only ever moves
    traffic to stable. Returns what it found (nothing, watched by a live run, or taken back)
    and says it in words."""
    deployments = canary.deployments()
    weight = canary.router().canary_weight()
    obj = deployments.find(canary.canary_name)
    pods = int(obj["spec"].get("replicas", 1)) if obj else 0
    if not weight and not pods:
        return "nothing", f"nothing to take back from the canary of {canary.app}"
    live, who = _watched(deployments, canary.canary_name)
    if live:
        return "watched", f"the canary of {canary.app} has {weight} % and a live run: {who}"
    reason = f"no live run watched it ({who})"
    rollback_canary.fn(canary, reason, weight, "unwatched")
    return "taken", (
        f"took {weight} % of traffic and {pods} pods back from the canary of {canary.app}: {reason}"
    )


@contextmanager
def keep_watch(canary: Canary, run: str, ttl: float) -> Iterator[threading.Event]:
    """Renew this run's watch on the canary every ttl/3 from a background thread while the
    block runs, then release it. The event is set when another run took the watch over."""
    deployments = Deployments(api_client(canary.cluster), canary.cluster.namespace)
    lost, stop = threading.Event(), threading.Event()
    every = Watch(run=run, renewed_at=datetime.now(UTC), ttl_seconds=ttl).renew_every()

    def renew() -> None:
        while not stop.wait(every):
            watch = Watch(run=run, renewed_at=datetime.now(UTC), ttl_seconds=ttl)
            try:
                if not deployments.renew_watch(canary.canary_name, watch):
                    lost.set()
                    return
            except KubernetesError:
                continue  # the record may expire; the next renewal says whether it was lost

    thread = threading.Thread(target=renew, name="shipflow-canary-watch", daemon=True)
    thread.start()
    try:
        yield lost
    finally:
        stop.set()
        thread.join(every + 5)
        if not lost.is_set():
            with suppress(KubernetesError):  # else it expires by itself
                deployments.release_watch(canary.canary_name, run)


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
    """Every check so far: evidence span, canary vs baseline error rates and their limit, both
    P99s with the bucket they lie in and their limit, phase and reason."""
    create_table_artifact(
        key=f"canary-measurements-{canary.key}",
        table=[m.row() for m in measurements],
        description=f"Canary analysis of {canary.app} → {canary.image}",
    )
