"""blue_green, rolling and ramp_feature_flag against the fake Kubernetes API, the real
Prometheus and Prefect server; the SLO gate in front of every deploy flow.

Users are played by a follower that splits a fixed request rate between versions the way the
cluster says (the Service's selector, the Deployment's updated pods, the flag's fraction),
read straight from the fake API server's store or the flag file.
"""

from __future__ import annotations

import json
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipflow.adapters.kubernetes import ClusterTarget, Deployments
from shipflow.adapters.kubernetes.services import Services
from shipflow.adapters.prometheus import MetricsTarget
from shipflow.core.canary import Step
from shipflow.core.flags import FlagLocation, flag_fraction
from shipflow.core.slo import SLO, BudgetOverride
from shipflow.core.strategies import BlueGreenPolicy, FeatureFlagPolicy, RollingPolicy, version_for
from shipflow.deployments.sandbox.cluster import APP, KubeApp, deployment
from shipflow.deployments.sandbox.fake_kube import FakeKube
from shipflow.flows.blue_green import blue_green, reconcile_blue_green
from shipflow.flows.feature_flag import ramp_feature_flag
from shipflow.flows.promote_canary import promote_canary
from shipflow.flows.rolling import reconcile_rolling, rolling
from tests.conftest import MetricsApp, Prometheus
from tests.harness.killable import kill, start_killable
from tests.harness.prefect_api import artifacts, events, start_in_background, wait_until

pytestmark = pytest.mark.usefixtures("prefect_server")

NEW_IMAGE = "registry.local/web@sha256:" + "c" * 64
STUCK_IMAGE = "registry.local/web@sha256:" + "d" * 64  # its rollouts never get ready
ANALYSIS: dict[str, Any] = {
    "check_interval_seconds": 1,
    "min_requests": 20,
    "min_baseline_requests": 20,
    "max_sample_age_seconds": 5,
}


def label() -> str:
    return f"web-{uuid.uuid4().hex[:6]}"


@contextmanager
def users(
    metrics_app: MetricsApp,
    metrics_label: str,
    split: Callable[[], dict[str, float]],
    rps: float = 400,
) -> Iterator[None]:
    """``rps`` requests/s shared between versions as ``split()`` says (shares of 1)."""
    stop = threading.Event()
    seen: dict[str, float] = {}

    def follow() -> None:
        while not stop.is_set():
            shares = split()
            for version in set(seen) | set(shares):
                share = shares.get(version, 0.0)
                if seen.get(version) != share:
                    metrics_app.control(metrics_label, version, rps=rps * share)
                    seen[version] = share
            stop.wait(0.1)

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)
        for version in seen:
            metrics_app.control(metrics_label, version, rps=0)


def wait_seen(prometheus: Prometheus, metrics_label: str, requests: float = 20) -> None:
    """Until Prometheus has counted ``requests`` of the app in the last 30 s."""

    def seen() -> bool:
        query = f'sum(increase(http_requests_total{{app="{metrics_label}"}}[30s]))'
        answer = httpx.get(f"{prometheus.url}/api/v1/query", params={"query": query}).json()
        result = answer["data"]["result"]
        return bool(result) and float(result[0]["value"][1]) > requests

    wait_until(seen, timeout=30, what=f"Prometheus seeing {requests:g} requests")


def requests_so_far(fake_kube: FakeKube) -> int:
    with fake_kube.store.lock:
        return len(fake_kube.store.requests)


def kube_writes(fake_kube: FakeKube, namespace: str, since: int = 0) -> list[str]:
    """The writes (any method but GET) into ``namespace`` the API server saw, from request
    number ``since`` on."""
    with fake_kube.store.lock:
        return [
            f"{r['method']} {r['path']}"
            for r in fake_kube.store.requests[since:]
            if r["method"] != "GET" and f"/namespaces/{namespace}/" in r["path"]
        ]


def measurements(flow_run_id: uuid.UUID, key: str) -> list[dict[str, str]]:
    table = next(a for a in artifacts(flow_run_id) if a["key"] == key)
    rows: list[dict[str, str]] = json.loads(table["data"])
    return rows


# --- blue-green -------------------------------------------------------------------------------


def selected_version(fake_kube: FakeKube, namespace: str) -> str:
    with fake_kube.store.lock:
        service = fake_kube.store.objects[("services", namespace, APP)]
        return str(service["spec"]["selector"].get("version"))


def blue_green_app(kube_app: KubeApp) -> None:
    """The active Service `web` selects the stable pods (the app before its first blue-green)."""
    from kubernetes import client as k8s

    from shipflow.deployments.sandbox.cluster import service

    k8s.CoreV1Api(kube_app.api).create_namespaced_service(
        kube_app.namespace,
        service(APP, "stable"),  # type: ignore[arg-type]
    )


def bg_params(kube_app: KubeApp, prometheus: Prometheus, metrics_label: str, **policy) -> dict:
    return {
        "app": APP,
        "image": NEW_IMAGE,
        "policy": BlueGreenPolicy(
            **{
                **ANALYSIS,
                "post_promotion_seconds": 4,
                "scale_down_delay_seconds": 0,
                "progress_deadline_seconds": 20,
                **policy,
            }
        ),
        "cluster": ClusterTarget(namespace=kube_app.namespace),
        "metrics": MetricsTarget(url=prometheus.url, app=metrics_label),
    }


def test_blue_green_switches_in_one_patch_and_scales_the_old_colour_down(
    kube_app: KubeApp, fake_kube: FakeKube, prometheus: Prometheus, metrics_app: MetricsApp
) -> None:
    blue_green_app(kube_app)
    metrics_label = label()
    metrics_app.control(metrics_label, "blue", error_rate=0.01)
    metrics_app.control(metrics_label, "stable", error_rate=0.01)
    p = bg_params(kube_app, prometheus, metrics_label, pre_promotion_seconds=2)
    ns = kube_app.namespace
    # budget left: 1 % errors against a 90 % objective
    p["slo"] = SLO(objective=0.9, window_seconds=60, burn_window_seconds=10)
    # the preview Service gets a quarter of the traffic before the switch (smoke tests, QA):
    # enough requests that a 1 % error rate is not judged on a handful of them
    with users(
        metrics_app,
        metrics_label,
        lambda: (
            {selected_version(fake_kube, ns): 0.75, "blue": 0.25}
            if selected_version(fake_kube, ns) == "stable"
            else {selected_version(fake_kube, ns): 1.0}
        ),
        rps=800,
    ):
        wait_seen(prometheus, metrics_label)  # the SLO gate needs data in its window
        state = blue_green(**p, return_state=True)
    assert state.is_completed(), state.message
    assert selected_version(fake_kube, ns) == "blue"
    deployments = Deployments(kube_app.api, ns)
    assert deployments.image_of(f"{APP}-blue") == NEW_IMAGE
    assert deployments.replicas(f"{APP}-blue") == 4
    assert deployments.replicas(APP) == 0  # the old colour, scaled down after the hold
    services = Services(kube_app.api, ns)
    assert services.previous_selector(APP) is None  # nothing left to switch back to
    assert services.selector(f"{APP}-preview") == {"app": APP, "version": "blue"}
    switches = [
        w
        for w in kube_writes(fake_kube, ns)
        if w == f"PATCH /api/v1/namespaces/{ns}/services/{APP}"
    ]
    assert len(switches) == 2  # the switch, then forgetting the old selector


def test_blue_green_switches_back_within_one_check_of_a_failing_post_promotion_check(
    kube_app: KubeApp, fake_kube: FakeKube, prometheus: Prometheus, metrics_app: MetricsApp
) -> None:
    blue_green_app(kube_app)
    metrics_label = label()
    metrics_app.control(metrics_label, "stable", error_rate=0.0)
    metrics_app.control(metrics_label, "blue", error_rate=0.3)
    ns = kube_app.namespace
    p = bg_params(kube_app, prometheus, metrics_label, post_promotion_seconds=60)
    with users(metrics_app, metrics_label, lambda: {selected_version(fake_kube, ns): 1.0}):
        state = blue_green(**p, return_state=True)
    assert state.is_failed()
    assert state.message.startswith(
        "rolled back to web: failed: after the switch: canary error rate"
    ), state.message
    assert selected_version(fake_kube, ns) == "stable"  # verified on the API server
    deployments = Deployments(kube_app.api, ns)
    assert deployments.replicas(f"{APP}-blue") == 0
    assert deployments.replicas(APP) == 4
    rows = measurements(state.state_details.flow_run_id, f"blue-green-measurements-{ns}-web")
    # the first failed check after the switch was the last: switched back at once
    phases = [r["phase"] for r in rows]
    assert phases[-1] == "failed"
    assert "failed" not in phases[:-1]
    found = events(
        f"shipflow.blue_green.{ns}.{APP}",
        until=lambda names: "shipflow.blue_green.rolled_back" in names,
    )
    assert [e["event"] for e in found][-1] == "shipflow.blue_green.rolled_back"


# --- rolling ---------------------------------------------------------------------------------


def rolling_app(kube_app: KubeApp, fake_kube: FakeKube, name: str, slow: float = 0) -> str:
    """A Deployment selecting its pods by app only (a rolling update can relabel them), its
    pods labelled with the version 1.0.0; its rollouts take ``slow`` seconds."""
    from kubernetes import client as k8s

    body = deployment(name, kube_app.stable_image)
    body["spec"]["selector"] = {"matchLabels": {"app": name}}
    body["spec"]["template"]["metadata"]["labels"] = {"app": name, "version": "1.0.0"}
    k8s.AppsV1Api(kube_app.api).create_namespaced_deployment(kube_app.namespace, body)  # type: ignore[arg-type]
    Deployments(kube_app.api, kube_app.namespace).wait_ready(name, 10)
    if slow:
        httpx.post(
            f"{fake_kube.url}/fake/slow-rollout",
            json={"namespace": kube_app.namespace, "name": name, "seconds": slow},
        ).raise_for_status()
    return name


def rolling_split(fake_kube: FakeKube, namespace: str, name: str) -> Callable[[], dict[str, float]]:
    """New pods get their share of traffic as they are updated."""
    versions = ("1.0.0", version_for(NEW_IMAGE))

    def split() -> dict[str, float]:
        with fake_kube.store.lock:
            obj = fake_kube.store.objects[("deployments", namespace, name)]
            current = obj["spec"]["template"]["metadata"]["labels"]["version"]
            replicas = obj["spec"]["replicas"]
            status = obj.get("status", {})
            updated = status.get("updatedReplicas", 0)
            if status.get("observedGeneration") != obj["metadata"]["generation"]:
                updated = 0
        share = min(1.0, updated / replicas) if replicas else 0.0
        other = versions[0] if current == versions[1] else versions[1]
        return {current: share, other: 1 - share}

    return split


def rolling_params(
    kube_app: KubeApp, prometheus: Prometheus, metrics_label: str, app: str, **policy
) -> dict:
    return {
        "app": app,
        "image": NEW_IMAGE,
        "policy": RollingPolicy(
            **{**ANALYSIS, "hold_seconds": 2, "progress_deadline_seconds": 30, **policy}
        ),
        "cluster": ClusterTarget(namespace=kube_app.namespace),
        "metrics": MetricsTarget(url=prometheus.url, app=metrics_label),
    }


def test_a_rollout_that_never_becomes_ready_is_rolled_back_at_the_progress_deadline(
    kube_app: KubeApp, fake_kube: FakeKube, prometheus: Prometheus, metrics_app: MetricsApp
) -> None:
    app = rolling_app(kube_app, fake_kube, "stuck")
    httpx.post(f"{fake_kube.url}/fake/fail-image", json={"image": STUCK_IMAGE}).raise_for_status()
    p = rolling_params(kube_app, prometheus, label(), app)
    p["image"] = STUCK_IMAGE
    state = rolling(**p, return_state=True)
    assert state.is_failed()
    assert "ProgressDeadlineExceeded" in state.message, state.message
    assert state.message.startswith("rolled back to the previous pod template: failed:")
    deployments = Deployments(kube_app.api, kube_app.namespace)
    assert deployments.image_of(app) == kube_app.stable_image  # the previous image again
    obj = deployments.get(app)
    assert obj["spec"]["template"]["metadata"]["labels"]["version"] == "1.0.0"
    assert obj["status"]["availableReplicas"] == 4  # and running
    assert "shipflow.io/previous-template" not in obj["metadata"].get("annotations", {})


def test_a_bad_rollout_is_caught_by_analysis_and_rolled_back_before_it_completes(
    kube_app: KubeApp, fake_kube: FakeKube, prometheus: Prometheus, metrics_app: MetricsApp
) -> None:
    app = rolling_app(kube_app, fake_kube, "shop", slow=16)
    metrics_label = label()
    new = version_for(NEW_IMAGE)
    metrics_app.control(metrics_label, "1.0.0", error_rate=0.0)
    metrics_app.control(metrics_label, new, error_rate=0.3)
    p = rolling_params(kube_app, prometheus, metrics_label, app, max_surge=1)
    with users(metrics_app, metrics_label, rolling_split(fake_kube, kube_app.namespace, app)):
        state = rolling(**p, return_state=True)
    assert state.is_failed()
    assert state.message.startswith(
        "rolled back to the previous pod template: failed: during the rollout: canary error rate"
    ), state.message
    deployments = Deployments(kube_app.api, kube_app.namespace)
    obj = deployments.get(app)
    assert deployments.image_of(app) == kube_app.stable_image
    assert obj["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    rows = measurements(
        state.state_details.flow_run_id, f"rolling-measurements-{kube_app.namespace}-{app}"
    )
    assert rows[-1]["phase"] == "failed"
    assert rows[-1]["weight"] == "0%"  # judged during the rollout, not after
    rolled = events(
        f"shipflow.rolling.{kube_app.namespace}.{app}",
        until=lambda names: "shipflow.rolling.rolled_back" in names,
    )
    assert rolled[-1]["payload"]["outcome"] == "failed"


def test_a_healthy_rollout_completes_with_the_new_version_label(
    kube_app: KubeApp, fake_kube: FakeKube, prometheus: Prometheus, metrics_app: MetricsApp
) -> None:
    app = rolling_app(kube_app, fake_kube, "cart", slow=3)
    metrics_label = label()
    new = version_for(NEW_IMAGE)
    for version in ("1.0.0", new):
        metrics_app.control(metrics_label, version, error_rate=0.01)
    p = rolling_params(kube_app, prometheus, metrics_label, app)
    with users(metrics_app, metrics_label, rolling_split(fake_kube, kube_app.namespace, app)):
        state = rolling(**p, return_state=True)
    assert state.is_completed(), state.message
    obj = Deployments(kube_app.api, kube_app.namespace).get(app)
    assert obj["spec"]["template"]["metadata"]["labels"]["version"] == new
    assert obj["spec"]["template"]["spec"]["containers"][0]["image"] == NEW_IMAGE
    assert obj["spec"]["template"]["spec"]["containers"][1]["image"] == "fluent-bit:3.1.4"
    assert "shipflow.io/previous-template" not in obj["metadata"].get("annotations", {})


# --- a run killed outright: reconcile ------------------------------------------------------


def killable_run(
    tmp_path: Path, flow: str, app: str, policy: str, ns: str, prometheus: Prometheus, label: str
) -> subprocess.Popen[bytes]:
    """``flow`` (blue_green, rolling) of ``image`` in a process of its own; ``policy`` is the
    policy's constructor call, as Python source."""
    return start_killable(
        tmp_path / "run.py",
        "from shipflow.adapters.kubernetes import ClusterTarget\n"
        "from shipflow.adapters.prometheus import MetricsTarget\n"
        "from shipflow.core.strategies import BlueGreenPolicy, RollingPolicy\n"
        f"from shipflow.flows.{flow} import {flow}\n"
        f"{flow}(app={app!r}, image={NEW_IMAGE!r}, policy={policy},\n"
        f"  cluster=ClusterTarget(namespace={ns!r}),\n"
        f"  metrics=MetricsTarget(url={prometheus.url!r}, app={label!r}))\n",
    )


def test_reconcile_switches_back_a_killed_blue_green_run_and_leaves_a_live_one(
    kube_app: KubeApp,
    fake_kube: FakeKube,
    prometheus: Prometheus,
    metrics_app: MetricsApp,
    tmp_path: Path,
) -> None:
    blue_green_app(kube_app)
    metrics_label = label()
    for version in ("stable", "blue"):
        metrics_app.control(metrics_label, version, error_rate=0.0)
    ns = kube_app.namespace
    cluster = ClusterTarget(namespace=ns)
    metrics = MetricsTarget(url=prometheus.url, app=metrics_label)
    policy = f"BlueGreenPolicy(**{ANALYSIS!r}, post_promotion_seconds=600)"
    with users(metrics_app, metrics_label, lambda: {selected_version(fake_kube, ns): 1.0}):
        proc = killable_run(tmp_path, "blue_green", APP, policy, ns, prometheus, metrics_label)
        try:
            wait_until(lambda: selected_version(fake_kube, ns) == "blue", 90, "the switch")
            live = reconcile_blue_green(
                app=APP, cluster=cluster, metrics=metrics, wait_seconds=2, return_state=True
            )
            assert live.message == f"left {APP} alone: a live run holds its rollout slot"
            assert selected_version(fake_kube, ns) == "blue"
        finally:
            kill(proc)  # mid-hold: the switch is left unverified, the old colour still up
        state = reconcile_blue_green(app=APP, cluster=cluster, metrics=metrics, return_state=True)
    assert state.is_completed(), state.message
    assert state.message.startswith(f"switched {APP} back to "), state.message
    assert selected_version(fake_kube, ns) == "stable"
    deployments = Deployments(kube_app.api, ns)
    assert deployments.replicas(f"{APP}-blue") == 0
    assert deployments.replicas(APP) == 4
    assert Services(kube_app.api, ns).previous_selector(APP) is None
    again = reconcile_blue_green(app=APP, cluster=cluster, metrics=metrics, return_state=True)
    assert again.message.startswith("nothing to undo"), again.message


def test_reconcile_restores_the_template_a_killed_rolling_run_replaced(
    kube_app: KubeApp,
    fake_kube: FakeKube,
    prometheus: Prometheus,
    metrics_app: MetricsApp,
    tmp_path: Path,
) -> None:
    app = rolling_app(kube_app, fake_kube, "orders", slow=2)
    metrics_label = label()
    new = version_for(NEW_IMAGE)
    for version in ("1.0.0", new):
        metrics_app.control(metrics_label, version, error_rate=0.0)
    ns = kube_app.namespace
    policy = f"RollingPolicy(**{ANALYSIS!r}, hold_seconds=600, progress_deadline_seconds=30)"
    deployments = Deployments(kube_app.api, ns)
    with users(metrics_app, metrics_label, rolling_split(fake_kube, ns, app)):
        proc = killable_run(tmp_path, "rolling", app, policy, ns, prometheus, metrics_label)
        try:
            wait_until(
                lambda: (
                    deployments.image_of(app) == NEW_IMAGE and deployments.status(app).updated == 4
                ),
                90,
                "the rollout",
            )
        finally:
            kill(proc)  # in its hold: the update is left unverified
        state = reconcile_rolling(app=app, cluster=ClusterTarget(namespace=ns), return_state=True)
    assert state.is_completed(), state.message
    assert state.message == (
        f"restored the previous pod template of {app}: the run that started it ended before "
        "its hold passed"
    )
    obj = deployments.get(app)
    assert deployments.image_of(app) == kube_app.stable_image
    assert obj["spec"]["template"]["metadata"]["labels"]["version"] == "1.0.0"
    assert obj["status"]["availableReplicas"] == 4
    assert "shipflow.io/previous-template" not in obj["metadata"].get("annotations", {})


# --- feature flag ----------------------------------------------------------------------------


def flag_policy(**overrides: Any) -> FeatureFlagPolicy:
    return FeatureFlagPolicy(
        **{
            **ANALYSIS,
            "flag": "checkout-v2",
            "steps": (
                Step(weight=10, hold_seconds=2),
                Step(weight=50, hold_seconds=2),
            ),
            **overrides,
        }
    )


def flag_split(path: Path) -> Callable[[], dict[str, float]]:
    def split() -> dict[str, float]:
        try:
            definition = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            definition = None
        share = flag_fraction(definition, "checkout-v2", "on") / 100
        return {"on": share, "off": 1 - share}

    return split


def test_the_flag_fraction_follows_the_ladder_and_returns_to_0_on_a_failed_check(
    tmp_path: Path, prometheus: Prometheus, metrics_app: MetricsApp
) -> None:
    path = tmp_path / "flags.flagd.json"
    metrics_label = label()
    metrics_app.control(metrics_label, "off", error_rate=0.0)
    metrics_app.control(metrics_label, "on", error_rate=0.0)
    seen: list[int] = []
    stop = threading.Event()

    def record() -> None:
        while not stop.is_set():
            try:
                fraction = flag_fraction(json.loads(path.read_text()), "checkout-v2", "on")
            except (FileNotFoundError, ValueError):
                fraction = None
            if fraction is not None and (not seen or seen[-1] != fraction):
                seen.append(fraction)
            stop.wait(0.05)

    recorder = threading.Thread(target=record, daemon=True)
    recorder.start()
    p = {
        "app": "web",
        "flags": FlagLocation(file=str(path)),
        "policy": flag_policy(
            steps=(Step(weight=10, hold_seconds=2), Step(weight=50, hold_seconds=30))
        ),
        "metrics": MetricsTarget(url=prometheus.url, app=metrics_label),
    }
    try:
        with users(metrics_app, metrics_label, flag_split(path)):
            run = start_in_background(ramp_feature_flag, **p)
            wait_until(lambda: seen[-1:] == [50], timeout=60, what="the 50 % step")
            metrics_app.control(metrics_label, "on", error_rate=0.3)
            state = run.join()
    finally:
        stop.set()
        recorder.join(2)
    assert state.is_failed()
    assert state.message.startswith("flag checkout-v2 back to 0 % from 50 %: failed:"), (
        state.message
    )
    assert seen == [10, 50, 0]
    definition = json.loads(path.read_text())
    assert definition["flags"]["checkout-v2"]["defaultVariant"] == "off"
    assert "targeting" not in definition["flags"]["checkout-v2"]


def test_a_healthy_flag_is_on_for_everyone_in_a_config_map(
    kube_app: KubeApp, prometheus: Prometheus, metrics_app: MetricsApp, fake_kube: FakeKube
) -> None:
    metrics_label = label()
    metrics_app.control(metrics_label, "off", error_rate=0.01)
    metrics_app.control(metrics_label, "on", error_rate=0.01)
    ns = kube_app.namespace

    def split() -> dict[str, float]:
        with fake_kube.store.lock:
            cm = fake_kube.store.objects.get(("configmaps", ns, "flags"))
            text = cm["data"]["flags.flagd.json"] if cm else None
        share = flag_fraction(json.loads(text) if text else None, "checkout-v2", "on") / 100
        return {"on": share, "off": 1 - share}

    with users(metrics_app, metrics_label, split):
        state = ramp_feature_flag(
            app="web",
            flags=FlagLocation(config_map="flags"),
            policy=flag_policy(),
            cluster=ClusterTarget(namespace=ns),
            metrics=MetricsTarget(url=prometheus.url, app=metrics_label),
            return_state=True,
        )
    assert state.is_completed(), state.message
    with fake_kube.store.lock:
        text = fake_kube.store.objects[("configmaps", ns, "flags")]["data"]["flags.flagd.json"]
    flag = json.loads(text)["flags"]["checkout-v2"]
    assert flag["defaultVariant"] == "on"
    assert "targeting" not in flag


# --- the SLO gate ----------------------------------------------------------------------------


@pytest.fixture
def spent_budget(metrics_app: MetricsApp, prometheus: Prometheus) -> Iterator[str]:
    """An app that served 30 % errors for the last seconds: any 99 % SLO is spent."""
    metrics_label = label()
    metrics_app.control(metrics_label, "stable", rps=200, error_rate=0.3)
    wait_seen(prometheus, metrics_label, 100)
    try:
        yield metrics_label
    finally:
        metrics_app.control(metrics_label, "stable", rps=0)


SPENT_SLO = SLO(objective=0.99, window_seconds=30, burn_window_seconds=10)

FLOWS: dict[str, Callable[[KubeApp, str, Path], tuple[Any, dict[str, Any]]]] = {
    "promote_canary": lambda k, url, _: (
        promote_canary,
        {"app": APP, "image": NEW_IMAGE, "cluster": ClusterTarget(namespace=k.namespace)},
    ),
    "blue_green": lambda k, url, _: (
        blue_green,
        {"app": APP, "image": NEW_IMAGE, "cluster": ClusterTarget(namespace=k.namespace)},
    ),
    "rolling": lambda k, url, _: (
        rolling,
        {"app": APP, "image": NEW_IMAGE, "cluster": ClusterTarget(namespace=k.namespace)},
    ),
    "ramp_feature_flag": lambda k, url, tmp: (
        ramp_feature_flag,
        {
            "app": APP,
            "flags": FlagLocation(config_map="flags"),
            "cluster": ClusterTarget(namespace=k.namespace),
        },
    ),
}


@pytest.mark.parametrize("name", list(FLOWS))
def test_every_deploy_flow_refuses_before_any_kubernetes_write_while_the_budget_is_spent(
    name: str,
    kube_app: KubeApp,
    fake_kube: FakeKube,
    prometheus: Prometheus,
    spent_budget: str,
    tmp_path: Path,
) -> None:
    flow, p = FLOWS[name](kube_app, prometheus.url, tmp_path)
    metrics = MetricsTarget(url=prometheus.url, app=spent_budget)
    before = requests_so_far(fake_kube)
    state = flow(**p, metrics=metrics, slo=SPENT_SLO, return_state=True)
    assert state.is_failed()
    assert "error budget spent: SLO 99.000% over 30 s: SLI " in state.message, state.message
    assert "deployments are frozen until it recovers" in state.message
    assert kube_writes(fake_kube, kube_app.namespace, before) == []  # the API saw no write
    refused = events(f"shipflow.slo.{kube_app.namespace}.{spent_budget}")
    assert refused[-1]["event"] == "shipflow.slo.refused"
    assert refused[-1]["payload"]["budget_remaining"] < 0


def test_an_override_lets_the_flag_ramp_through_and_is_recorded(
    tmp_path: Path, prometheus: Prometheus, metrics_app: MetricsApp, spent_budget: str
) -> None:
    path = tmp_path / "flags.json"
    override = BudgetOverride(approved_by="alice@example.com", reason="INC-42 kill switch")
    state = ramp_feature_flag(
        app=APP,
        flags=FlagLocation(file=str(path)),
        policy=flag_policy(steps=(Step(weight=10, hold_seconds=0),), on_inconclusive="rollback"),
        metrics=MetricsTarget(url=prometheus.url, app=spent_budget),
        slo=SPENT_SLO,
        budget_override=override,
        return_state=True,
    )
    # it went past the gate: the ramp itself ran (and, with no flag traffic, rolled back)
    assert path.exists()
    assert "error budget" not in (state.message or "")
    found = events(f"shipflow.slo.default.{spent_budget}")
    overridden = [e for e in found if e["event"] == "shipflow.slo.overridden"]
    assert overridden[-1]["payload"]["approved_by"] == "alice@example.com"
    notes = [
        a for a in artifacts(state.state_details.flow_run_id) if a["key"].startswith("slo-override")
    ]
    assert "alice@example.com" in notes[0]["data"]
    assert "INC-42 kill switch" in notes[0]["data"]
