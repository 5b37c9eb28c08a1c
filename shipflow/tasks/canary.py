"""Canary tasks: deploy, weigh, measure, retire, roll back, promote, take back an unwatched
canary; the watch a run keeps on its canary; and what the UI shows of them."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol
from uuid import UUID

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import ArtifactUpdate
from prefect.exceptions import PrefectException

from shipflow.adapters.kubernetes import (
    ClusterTarget,
    Deployments,
    RouterSpec,
    TrafficRouter,
    api_client,
    make_router,
)
from shipflow.adapters.processes import LocalTarget, LocalWorkloads
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
from shipflow.core.ladder import Ladder, StepRecord, render_ladder
from shipflow.core.names import slug
from shipflow.core.validation import validated
from shipflow.core.watch import Watch, describe, watch_is_live
from shipflow.errors import ConfigError, KubernetesError, PrometheusError
from shipflow.settings import load_settings
from shipflow.tasks.common import emit, load_secret, shipflow_task


class Workloads(Protocol):
    """Where an app's stable and canary versions run: Kubernetes Deployments, or the ``local``
    target's processes behind HAProxy. Names as in Kubernetes: ``<app>`` and ``<app>-canary``."""

    def exists(self, name: str, /) -> bool: ...
    def image_of(self, name: str, container: str | None = None, /) -> str: ...
    def replicas(self, name: str, /) -> int: ...
    def ensure_canary(
        self,
        stable: str,
        canary: str,
        image: str,
        /,
        *,
        container: str | None = None,
        version_label: str = "version",
        canary_version: str = "canary",
        replicas: int | None = None,
    ) -> object: ...
    def set_image(self, name: str, image: str, container: str | None = None, /) -> None: ...
    def wait_ready(self, name: str, timeout: float, /) -> object: ...
    def scale(self, name: str, replicas: int, /) -> None: ...
    def wait_scaled_down(self, name: str, timeout: float, /) -> None: ...
    def read_watch(self, name: str, /) -> Watch | None: ...
    def claim_watch(self, name: str, watch: Watch, /) -> None: ...
    def renew_watch(self, name: str, watch: Watch, /) -> bool: ...
    def release_watch(self, name: str, run: str, /) -> None: ...


@dataclass(frozen=True)
class Canary:
    """One app's canary: where it runs (a cluster, or the ``local`` target when ``local`` is
    set), how its traffic is split, where its metrics are."""

    app: str
    image: str
    cluster: ClusterTarget
    router_spec: RouterSpec
    metrics: MetricsTarget
    container: str | None = None
    local: LocalTarget | None = None

    @property
    def canary_name(self) -> str:
        return f"{self.app}-canary"

    @property
    def place(self) -> str:
        """Where it runs, in names: the namespace, or ``local``."""
        return "local" if self.local is not None else self.cluster.namespace

    @property
    def resource_id(self) -> str:
        return f"shipflow.canary.{self.place}.{self.app}"

    @property
    def key(self) -> str:
        return slug(f"{self.place}-{self.app}")

    @property
    def labels(self) -> dict[str, str]:
        """What the UI's event feed names the canary by (without opening the raw event)."""
        return {"prefect.resource.name": f"canary of {self.app} ({self.place})"}

    def emit(self, event: str, payload: Mapping[str, object]) -> None:
        emit(event, self.resource_id, payload={"image": self.image, **payload}, labels=self.labels)

    def deployments(self) -> Workloads:
        if self.local is not None:
            return self._local_workloads()
        return Deployments(api_client(self.cluster), self.cluster.namespace)

    def router(self) -> TrafficRouter:
        if self.local is not None:
            return self._local_workloads().router(self.app)
        return make_router(
            self.router_spec,
            api_client(self.cluster),
            self.cluster.namespace,
            self.app,
            self.canary_name,
        )

    def _local_workloads(self) -> LocalWorkloads:
        assert self.local is not None
        settings = load_settings()
        root = self.local.root or settings.local_root
        if root is None:
            raise ConfigError(
                "local.root",
                "the local target needs its apps folder: set SHIPFLOW_LOCAL_ROOT "
                "(`shipflow sandbox up` makes one)",
            )
        return LocalWorkloads.at(Path(root), self.app, tls=settings.registry_tls)


@shipflow_task(name="deploy_canary", retries=3, task_run_name="deploy the canary")
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


@shipflow_task(name="wait_canary_ready", retries=3, task_run_name="wait for the canary")
def wait_canary_ready(canary: Canary, policy: CanaryPolicy) -> None:
    """Wait until the canary's rollout is complete (``ProgressDeadlineExceeded`` fails)."""
    canary.deployments().wait_ready(canary.canary_name, policy.progress_deadline_seconds)
    get_run_logger().info("Canary %s is ready with %s", canary.canary_name, canary.image)


@shipflow_task(name="set_canary_weight", retries=3, task_run_name="set weight {weight} %")
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
    significance: float | None = None,
) -> Measurement:
    """One check of the canary against the stable baseline over the last ``span_seconds`` (or
    of version ``alone`` by the absolute limits only), failing it at ``significance``: its
    share of the step's (:func:`shipflow.core.steps.check_significance`; None: a single look).
    Never raises for Prometheus trouble: a failed query is an ERROR measurement, and the step
    decides what a run of them means."""
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
    return measure(seen, policy, at=now, weight=weight, significance=significance)


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


@shipflow_task(name="rollback_canary", retries=5, task_run_name="roll back ({outcome})")
def rollback_canary(
    canary: Canary, reason: str, weight: int | None, outcome: str = "failed"
) -> None:
    """Roll back (see :func:`retire_canary`) and say so; ``weight`` None when it is not known,
    ``outcome`` whose fault it was (failed, error, inconclusive, crashed, …)."""
    retire_canary(canary)
    at = "" if weight is None else f" at {weight} %"
    get_run_logger().warning("Rolled back %s%s (%s): %s", canary.app, at, outcome, reason)
    canary.emit(
        "shipflow.canary.rolled_back", {"weight": weight, "outcome": outcome, "reason": reason}
    )


@shipflow_task(name="promote_stable", retries=3, task_run_name="promote to stable")
def promote_stable(canary: Canary, policy: CanaryPolicy, reason: str = "") -> None:
    """Stable takes the canary's image; once its rollout is complete all traffic goes to it
    and the canary is retired."""
    deployments = canary.deployments()
    deployments.set_image(canary.app, canary.image, canary.container)
    deployments.wait_ready(canary.app, policy.progress_deadline_seconds)
    retire_canary(canary, policy.progress_deadline_seconds)
    canary.emit("shipflow.canary.promoted", {"weight": 100, "reason": reason})


@shipflow_task(name="restore_stable", retries=3, task_run_name="restore the stable image")
def restore_stable(canary: Canary, image: str, reason: str, policy: CanaryPolicy) -> None:
    """The promoted image failed its watch at 100 %: stable goes back to ``image``."""
    deployments = canary.deployments()
    deployments.set_image(canary.app, image, canary.container)
    deployments.wait_ready(canary.app, policy.progress_deadline_seconds)
    get_run_logger().warning("Restored %s to %s: %s", canary.app, image, reason)
    canary.emit(
        "shipflow.canary.rolled_back",
        {"weight": 100, "outcome": "failed", "reason": reason, "restored": image},
    )


def _watched(deployments: Workloads, name: str) -> tuple[bool, str]:
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


@shipflow_task(
    name="take_back_unwatched_canary", retries=3, task_run_name="take back an unwatched canary"
)
def take_back_unwatched(canary: Canary) -> tuple[TakeBack, str]:
    """Retire the canary of ``canary.app`` if it has traffic or pods and no live run watches
    it (a run killed outright runs no hook). Needs no concurrency slot: it only ever moves
    traffic to stable. Returns what it found (nothing, watched by a live run, or taken back)
    and says it in words."""
    deployments = canary.deployments()
    weight = canary.router().canary_weight()
    pods = deployments.replicas(canary.canary_name) if deployments.exists(canary.canary_name) else 0
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
    deployments = canary.deployments()
    lost, stop = threading.Event(), threading.Event()
    every = Watch(run=run, renewed_at=datetime.now(UTC), ttl_seconds=ttl).renew_every()

    def renew() -> None:
        while not stop.wait(every):
            watch = Watch(run=run, renewed_at=datetime.now(UTC), ttl_seconds=ttl)
            try:
                if not deployments.renew_watch(canary.canary_name, watch):
                    lost.set()
                    return
            except (KubernetesError, OSError):
                continue  # the record may expire; the next renewal says whether it was lost

    thread = threading.Thread(target=renew, name="shipflow-canary-watch", daemon=True)
    thread.start()
    try:
        yield lost
    finally:
        stop.set()
        thread.join(every + 5)
        if not lost.is_set():
            with suppress(KubernetesError, OSError):  # else it expires by itself
                deployments.release_watch(canary.canary_name, run)


def publish_ladder(canary: Canary, ladder: Ladder, artifact_id: UUID | None) -> UUID:
    """The ladder (steps, weights, holds, thresholds, current step, verdicts) as one markdown
    artifact of the run, created once and then updated in place, so the run page shows one
    live card, not one per change."""
    markdown = render_ladder(ladder)
    if artifact_id is None:
        created = create_markdown_artifact(
            markdown=markdown,
            key=f"canary-ladder-{canary.key}",
            description=f"Canary ladder of {canary.app} → {canary.image}",
        )
        assert isinstance(created, UUID)  # the sync variant, called from sync code
        return created
    with get_client(sync_client=True) as client:
        client.update_artifact(artifact_id, ArtifactUpdate(data=markdown))
    return artifact_id


def publish_step(
    canary: Canary, index: int, step: StepRecord, measurements: Sequence[Measurement]
) -> None:
    """One table per step, made when the step ends: its checks (evidence span, canary vs
    baseline error rates and their limit, both P99s and their limit, phase, reason)."""
    create_table_artifact(
        key=f"canary-{canary.key}-step-{index + 1}",
        table=[m.row() for m in measurements],
        description=f"Step {index + 1}: {step.weight} %, {step.verdict} after {step.checks} "
        f"checks: {step.reason}",
    )


class LadderBoard:
    """What the UI shows of one run's climb: the ladder artifact, kept up to date, and one
    measurement table per step, made when the step ends. Failing to publish never stops a
    canary: it is logged, and the climb goes on."""

    def __init__(self, canary: Canary, policy: CanaryPolicy, router: str = "") -> None:
        self.canary = canary
        self.ladder = replace(Ladder.start(canary.app, canary.image, policy), router=router)
        self.artifact: UUID | None = None
        self.checks: list[Measurement] = []
        self._publish()

    def _publish(self) -> None:
        try:
            self.artifact = publish_ladder(self.canary, self.ladder, self.artifact)
        except (PrefectException, OSError) as exc:
            get_run_logger().warning("Could not update the ladder artifact: %s", exc)

    def begin(self, index: int, weight: int) -> None:
        self.checks = []
        now = datetime.now(UTC)
        self.ladder = self.ladder.step(
            index, verdict="watching", weight=weight, started=now, checks=0, reason=""
        )
        self._publish()

    def check(self, index: int, measurement: Measurement) -> None:
        self.checks.append(measurement)
        reason = f"{measurement.phase.value}: {measurement.reason}"
        self.ladder = self.ladder.step(index, checks=len(self.checks), reason=reason)
        self._publish()

    def finish(self, index: int, verdict: str, reason: str) -> None:
        """Step ``index`` ended (passed, failed, error, inconclusive, stopped)."""
        self.ladder = self.ladder.step(
            index, verdict=verdict, reason=reason, ended=datetime.now(UTC)
        )
        try:
            publish_step(self.canary, index, self.ladder.steps[index], self.checks)
        except (PrefectException, OSError) as exc:
            get_run_logger().warning("Could not publish the step's measurements: %s", exc)
        self._publish()

    def end(self, outcome: str, reason: str) -> None:
        self.ladder = self.ladder.end(outcome, reason)
        self._publish()


class _QuietChecks(logging.Filter):
    """A canary checks every few seconds, each check a task run: its "Finished in state
    Completed()" says nothing the flow's own line for the check does not say better."""

    QUIET = frozenset({"measure_canary"})

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            getattr(record, "task_name", None) in self.QUIET
            and record.getMessage() == "Finished in state Completed()"
        )


def quiet_check_logs() -> None:
    """Install :class:`_QuietChecks` once on Prefect's task-run logger."""
    logger = logging.getLogger("prefect.task_runs")
    if not any(isinstance(f, _QuietChecks) for f in logger.filters):
        logger.addFilter(_QuietChecks())
