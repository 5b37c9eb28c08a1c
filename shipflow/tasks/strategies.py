"""Tasks of the blue-green, rolling and feature-flag strategies, on the canary's analysis.

Each check is :func:`shipflow.tasks.canary.measure_canary` with the versions the strategy
compares (colours, pod template versions, flag variants) as its canary and baseline, so every
strategy is judged by the same rules and reads the same PromQL.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from prefect import get_run_logger
from prefect.artifacts import create_table_artifact

from shipflow.adapters.flags import FlagStore
from shipflow.adapters.kubernetes import ClusterTarget, Deployments, RouterSpec, api_client
from shipflow.adapters.kubernetes.rolling import restore_template, start_rolling_update
from shipflow.adapters.kubernetes.services import Services
from shipflow.adapters.prometheus import MetricsTarget
from shipflow.adapters.waiting import Timeout, poll_until
from shipflow.core.analysis import AnalysisPolicy, Measurement
from shipflow.core.flags import flag_fraction, set_fraction
from shipflow.core.names import slug
from shipflow.core.strategies import RollingPolicy
from shipflow.errors import ConfigError
from shipflow.tasks.canary import Canary, measure_canary
from shipflow.tasks.common import emit, shipflow_task

COLOURS = ("blue", "green")


@dataclass(frozen=True)
class Target:
    """One app's release by a strategy: where it runs, where its metrics are."""

    strategy: str
    app: str
    image: str
    cluster: ClusterTarget
    metrics: MetricsTarget
    container: str | None = None

    @property
    def key(self) -> str:
        return slug(f"{self.cluster.namespace}-{self.app}")

    @property
    def resource_id(self) -> str:
        return f"shipflow.{slug(self.strategy, sep='_')}.{self.cluster.namespace}.{self.app}"

    @property
    def version_label(self) -> str:
        return self.metrics.definitions.version_label

    def deployments(self) -> Deployments:
        return Deployments(api_client(self.cluster), self.cluster.namespace)

    def services(self) -> Services:
        return Services(api_client(self.cluster), self.cluster.namespace)

    def comparing(self, new: str, old: str | None) -> Canary:
        """The analysis' view: ``new`` judged against ``old`` (the metrics' version values)."""
        metrics = self.metrics.model_copy(
            update={"canary_version": new, "stable_version": old or self.metrics.stable_version}
        )
        return Canary(
            app=self.app,
            image=self.image,
            cluster=self.cluster,
            router_spec=RouterSpec(),
            metrics=metrics,
            container=self.container,
        )


def measure_version(
    target: Target,
    policy: AnalysisPolicy,
    new: str,
    old: str | None,
    weight: int,
    span: float,
    significance: float | None = None,
) -> Measurement:
    """One check of version ``new`` against ``old`` (None: ``new`` alone, absolute limits),
    failing it at ``significance``: its share of the step's (None: a single look)."""
    canary = target.comparing(new, old)
    alone = new if old is None else None
    return measure_canary(canary, policy, weight, span, alone, significance)


@shipflow_task(name="publish_measurements")
def publish_checks(target: Target, measurements: Sequence[Measurement]) -> None:
    """Every check so far, as the canary's table shows them."""
    create_table_artifact(
        key=f"{slug(target.strategy)}-measurements-{target.key}",
        table=[m.row() for m in measurements],
        description=f"{target.strategy} analysis of {target.app} → {target.image}",
    )


# --- blue-green ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Colours:
    """Which colour serves (None: neither, the first blue-green release), which one gets the
    new image, the Deployment it is made from, and the selector to switch back to."""

    active: str | None
    idle: str
    template: str
    selector: dict[str, str]
    active_version: str | None


@shipflow_task(name="read_colours", retries=3)
def read_colours(target: Target, service: str) -> Colours:
    """The active Service's selector says which colour serves."""
    selector = target.services().selector(service)
    value = selector.get(target.version_label)
    active = value if value in COLOURS else None
    idle = "green" if active == "blue" else "blue"
    template = f"{target.app}-{active}" if active else target.app
    return Colours(
        active=active, idle=idle, template=template, selector=selector, active_version=value
    )


@shipflow_task(name="deploy_idle_colour", retries=3)
def deploy_idle_colour(target: Target, colours: Colours, preview: str, active: str) -> str:
    """The idle colour's Deployment from the serving one with the new image and its colour as
    version label, at full size; the preview Service selects it. Returns its name."""
    deployments = target.deployments()
    name = f"{target.app}-{colours.idle}"
    deployments.ensure_canary(
        colours.template,
        name,
        target.image,
        container=target.container,
        version_label=target.version_label,
        canary_version=colours.idle,
        replicas=deployments.replicas(colours.template),
    )
    selector = {**colours.selector, target.version_label: colours.idle}
    target.services().ensure(preview, like=active, selector=selector)
    return name


@shipflow_task(name="wait_ready", retries=3)
def wait_ready(target: Target, name: str, deadline: float) -> None:
    target.deployments().wait_ready(name, deadline)
    get_run_logger().info("%s is ready with %s", name, target.image)


@shipflow_task(name="switch_traffic", retries=3)
def switch_traffic(target: Target, service: str, selector: dict[str, str], why: str) -> None:
    """All traffic of ``service`` to the pods ``selector`` picks, in one patch; the old
    selector is remembered on the Service until the new colour has passed its hold."""
    target.services().switch_selector(service, selector, remember=True)
    get_run_logger().info("Switched %s to %s: %s", service, selector, why)
    emit("shipflow.blue_green.switched", target.resource_id, payload={"selector": selector})


def switch_back(target: Target, service: str, idle: str | None) -> dict[str, str] | None:
    """Traffic back to the selector a switch replaced, then the new colour scaled to zero.
    A plain function, so crash and cancellation hooks call it too. Returns the selector
    restored (None: there was no switch to undo)."""
    services = target.services()
    previous = services.previous_selector(service)
    if previous is not None:
        services.switch_selector(service, previous, remember=False)
    deployments = target.deployments()
    serving = (previous or services.selector(service)).get(target.version_label)
    for colour in COLOURS if idle is None else (idle,):
        name = f"{target.app}-{colour}"
        if colour != serving and deployments.exists(name):
            deployments.scale(name, 0)
    return previous


@shipflow_task(name="rollback_blue_green", retries=5)
def rollback_blue_green(target: Target, service: str, idle: str, reason: str, outcome: str) -> None:
    """Back to the old colour (seconds: one Service patch) and the new one scaled down."""
    restored = switch_back(target, service, idle)
    where = f"switched {service} back to {restored}" if restored else "no traffic was switched"
    get_run_logger().warning("Rolled back %s (%s; %s): %s", target.app, outcome, where, reason)
    emit(
        "shipflow.blue_green.rolled_back",
        target.resource_id,
        payload={"image": target.image, "outcome": outcome, "reason": reason},
    )


@shipflow_task(name="retire_old_colour", retries=3)
def retire_old_colour(target: Target, service: str, old: str) -> None:
    """The new colour passed its hold: forget the old selector, scale the old one to zero."""
    target.services().forget_previous(service)
    deployments = target.deployments()
    if deployments.exists(old):
        deployments.scale(old, 0)
    emit("shipflow.blue_green.promoted", target.resource_id, payload={"image": target.image})


# --- rolling --------------------------------------------------------------------------------


@shipflow_task(name="start_rolling_update", retries=3)
def begin_rolling_update(
    target: Target, policy: RollingPolicy, version: str
) -> tuple[dict[str, Any], str | None]:
    """Patch the Deployment's pod template (new image, ``version`` label) with the policy's
    maxSurge/maxUnavailable and progress deadline, remembering the previous template.
    Returns the previous template and the old pods' version label."""
    deployments = target.deployments()
    obj = deployments.get(target.app)
    selector = obj["spec"].get("selector", {}).get("matchLabels") or {}
    label = target.version_label
    if label in selector:
        raise ConfigError(
            "metrics.definitions.version_label",
            f"Deployment {target.app} selects its pods by `{label}` ({label}="
            f"{selector[label]}): a rolling update cannot give new pods another value "
            "(selectors are immutable), so old and new pods cannot be told apart; drop it "
            "from the selector, or use blue-green or canary",
        )
    surge, unavailable = policy.surge_pair()
    previous = start_rolling_update(
        deployments,
        target.app,
        target.image,
        container=target.container,
        labels={label: version},
        max_surge=surge,
        max_unavailable=unavailable,
        progress_deadline_seconds=round(policy.progress_deadline_seconds),
    )
    old = (previous.get("metadata") or {}).get("labels", {}).get(label)
    emit(
        "shipflow.rolling.started", target.resource_id, payload={"image": target.image, "old": old}
    )
    return previous, old


@shipflow_task(name="rollback_rolling_update", retries=5)
def rollback_rolling_update(
    target: Target, template: dict[str, Any] | None, reason: str, outcome: str, deadline: float
) -> None:
    """apps/v1 has no rollback: the previous pod template is written back and rolls out."""
    deployments = target.deployments()
    restore_template(deployments, target.app, template)
    # The failed rollout's ProgressDeadlineExceeded stays in the status until the controller
    # has seen the restored template: judge only a status of the restored generation.
    generation = int(deployments.get(target.app)["metadata"].get("generation", 0))
    with suppress(Timeout):  # then wait_ready says what the rollout looks like
        poll_until(
            lambda: deployments.status(target.app).observed_generation >= generation,
            timeout=deadline,
            interval=0.25,
        )
    deployments.wait_ready(target.app, deadline)
    get_run_logger().warning("Rolled back %s (%s): %s", target.app, outcome, reason)
    emit(
        "shipflow.rolling.rolled_back",
        target.resource_id,
        payload={"image": target.image, "outcome": outcome, "reason": reason},
    )


# --- feature flag ----------------------------------------------------------------------------


@shipflow_task(name="set_flag_fraction", retries=3)
def set_flag(target: Target, store: FlagStore, flag: str, on: str, off: str, percent: int) -> int:
    """Serve variant ``on`` to ``percent`` % of users (fractional targeting), ``off`` to the
    rest; other flags in the definition stay as they are. Returns the fraction now set."""
    text = store.read()
    current = json.loads(text) if text else None
    definition = set_fraction(current, flag, on=on, off=off, percent=percent)
    store.write(json.dumps(definition, indent=2, sort_keys=True) + "\n")
    emit(
        "shipflow.feature_flag.fraction",
        target.resource_id,
        payload={"flag": flag, "percent": percent},
    )
    return flag_fraction(definition, flag, on)
