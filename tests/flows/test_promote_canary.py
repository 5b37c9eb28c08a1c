"""promote_canary against the fake Kubernetes API, the real Prometheus and Prefect server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from shipflow.adapters.kubernetes import ClusterTarget, Deployments, RouterSpec, make_router
from shipflow.adapters.prometheus import MetricsTarget
from shipflow.core.analysis import CanaryPolicy, Step
from shipflow.deployments import local
from shipflow.deployments.sandbox.cluster import APP, KubeApp
from shipflow.deployments.sandbox.fake_kube import FakeKube
from shipflow.deployments.sandbox.traffic import canary_share, traffic
from shipflow.flows.promote_canary import promote_canary, reconcile_canary
from tests.conftest import ROOT, MetricsApp, Prometheus
from tests.harness.prefect_api import artifacts, events, start_in_background, wait_until

pytestmark = pytest.mark.usefixtures("prefect_server")

NEW_IMAGE = "registry.local/web@sha256:" + "b" * 64


def fast_policy(**overrides: object) -> CanaryPolicy:
    values: dict = {
        "steps": (
            Step(weight=5, hold_seconds=2),
            Step(weight=25, hold_seconds=2),
            Step(weight=50, hold_seconds=2),
        ),
        "check_interval_seconds": 1,
        "window_seconds": 4,
        "min_requests": 20,
        "inconclusive_limit": 4,
        "progress_deadline_seconds": 20,
    }
    values.update(overrides)
    return CanaryPolicy(**values)


def label() -> str:
    return f"web-{uuid.uuid4().hex[:6]}"


def params(
    kube_app: KubeApp,
    prometheus_url: str,
    metrics_label: str,
    kind: str = "gateway",
    **policy: object,
) -> dict:
    return {
        "app": APP,
        "image": NEW_IMAGE,
        "policy": fast_policy(**policy),
        "cluster": ClusterTarget(namespace=kube_app.namespace),
        "router": RouterSpec(kind=kind, total_replicas=4 if kind == "replicas" else None),
        "metrics": MetricsTarget(url=prometheus_url, app=metrics_label),
    }


def assert_no_canary_traffic(kube_app: KubeApp, fake_kube: FakeKube, kind: str) -> None:
    deployments = Deployments(kube_app.api, kube_app.namespace)
    assert canary_share(fake_kube, kube_app.namespace, kind) == 0
    assert deployments.replicas(f"{APP}-canary") == 0


@pytest.mark.parametrize("kind", ["gateway", "istio", "nginx", "replicas"])
def test_healthy_canary_is_promoted_for_each_router(
    kind: str,
    kube_app: KubeApp,
    fake_kube: FakeKube,
    prometheus: Prometheus,
    metrics_app: MetricsApp,
) -> None:
    metrics_label = label()
    metrics_app.control(metrics_label, "stable", error_rate=0.01)
    metrics_app.control(metrics_label, "canary", error_rate=0.01)
    with traffic(fake_kube, metrics_app, kube_app.namespace, kind, metrics_label):
        state = promote_canary(
            **params(kube_app, prometheus.url, metrics_label, kind), return_state=True
        )
    assert state.is_completed(), state.message
    deployments = Deployments(kube_app.api, kube_app.namespace)
    assert deployments.image_of(APP) == NEW_IMAGE
    assert_no_canary_traffic(kube_app, fake_kube, kind)
    if kind == "replicas":
        assert deployments.replicas(APP) == 4
    resource = f"shipflow.canary.{kube_app.namespace}.{APP}"
    found = events(resource, until=lambda names: "shipflow.canary.promoted" in names)
    names = [e["event"] for e in found]
    assert names.count("shipflow.canary.step") == 3
    assert names[-1] == "shipflow.canary.promoted", names


def test_error_rate_at_3x_baseline_at_25_percent_rolls_back_with_the_measurement(
    kube_app: KubeApp,
    fake_kube: FakeKube,
    prometheus: Prometheus,
    metrics_app: MetricsApp,
) -> None:
    metrics_label = label()
    # 3 x a 5 % baseline: at this traffic, far more evidence than the 99 % test needs, so the
    # rollback names the error rate (on a 1 % baseline it would first be inconclusive).
    metrics_app.control(metrics_label, "stable", error_rate=0.05)
    metrics_app.control(metrics_label, "canary", error_rate=0.05)
    p = params(kube_app, prometheus.url, metrics_label)
    p["policy"] = fast_policy(
        steps=(
            Step(weight=5, hold_seconds=2),
            Step(weight=25, hold_seconds=60),
            Step(weight=50, hold_seconds=2),
        ),
        window_seconds=8,
    )
    with traffic(fake_kube, metrics_app, kube_app.namespace, "gateway", metrics_label, rps=800):
        run = start_in_background(promote_canary, **p)
        wait_until(
            lambda: canary_share(fake_kube, kube_app.namespace, "gateway") == 0.25,
            timeout=60,
            what="the 25 % step",
        )
        metrics_app.control(metrics_label, "canary", error_rate=0.15)
        state = run.join()
    assert state.is_failed()
    assert state.message.startswith("rolled back at 25 %: canary error rate")
    assert "vs baseline" in state.message
    assert_no_canary_traffic(kube_app, fake_kube, "gateway")
    assert Deployments(kube_app.api, kube_app.namespace).image_of(APP) == kube_app.stable_image
    flow_run_id = state.state_details.flow_run_id
    table = next(
        a
        for a in artifacts(flow_run_id)
        if a["key"] == f"canary-measurements-{kube_app.namespace}-web"
    )
    assert '"phase": "failed"' in table["data"]
    assert '"weight": "25%"' in table["data"]
    found = events(
        f"shipflow.canary.{kube_app.namespace}.{APP}",
        until=lambda names: "shipflow.canary.rolled_back" in names,
    )
    rolled = [e for e in found if e["event"] == "shipflow.canary.rolled_back"]
    assert rolled, [e["event"] for e in found]
    assert rolled[-1]["payload"]["weight"] == 25


def test_one_error_against_a_zero_error_baseline_is_not_a_rollback(
    kube_app: KubeApp,
    fake_kube: FakeKube,
    prometheus: Prometheus,
    metrics_app: MetricsApp,
) -> None:
    metrics_label = label()
    metrics_app.control(metrics_label, "stable", error_rate=0.0)
    metrics_app.control(metrics_label, "canary", error_rate=0.0)
    with traffic(fake_kube, metrics_app, kube_app.namespace, "gateway", metrics_label):
        run = start_in_background(promote_canary, **params(kube_app, prometheus.url, metrics_label))
        wait_until(
            lambda: canary_share(fake_kube, kube_app.namespace, "gateway") > 0,
            timeout=60,
            what="the first step",
        )
        metrics_app.control(metrics_label, "canary", inject_errors=1)
        state = run.join()
    assert state.is_completed(), state.message


def test_too_little_canary_traffic_is_inconclusive_then_rolled_back(
    kube_app: KubeApp,
    fake_kube: FakeKube,
    prometheus: Prometheus,
    metrics_app: MetricsApp,
) -> None:
    metrics_label = label()
    p = params(kube_app, prometheus.url, metrics_label, min_requests=1000, inconclusive_limit=2)
    with traffic(fake_kube, metrics_app, kube_app.namespace, "gateway", metrics_label, rps=100):
        state = promote_canary(**p, return_state=True)
    assert state.is_failed()
    assert "rolled back at 5 %: inconclusive after an extended hold" in state.message
    assert "too little canary traffic" in state.message
    assert_no_canary_traffic(kube_app, fake_kube, "gateway")


def test_prometheus_down_gives_error_measurements_then_a_rollback(
    kube_app: KubeApp,
    fake_kube: FakeKube,
    metrics_app: MetricsApp,
    tmp_path: Path,
) -> None:
    port = local.free_port()
    own = local.prometheus(port, tmp_path, [f"127.0.0.1:{metrics_app.port}"])
    metrics_label = label()
    p = params(kube_app, f"http://127.0.0.1:{port}", metrics_label)
    p["policy"] = fast_policy(steps=(Step(weight=5, hold_seconds=120),))
    with (
        local.running(own),
        traffic(fake_kube, metrics_app, kube_app.namespace, "gateway", metrics_label),
    ):
        run = start_in_background(promote_canary, **p)
        wait_until(
            lambda: canary_share(fake_kube, kube_app.namespace, "gateway") > 0,
            timeout=60,
            what="the first step",
        )
        time.sleep(3)
        own.kill()
        state = run.join()
    assert state.is_failed()
    assert "4 consecutive measurement errors: prometheus query failed (unreachable" in state.message
    assert_no_canary_traffic(kube_app, fake_kube, "gateway")


def test_a_killed_flow_leaves_no_traffic_once_reconciled(
    kube_app: KubeApp,
    fake_kube: FakeKube,
    prometheus: Prometheus,
    metrics_app: MetricsApp,
    tmp_path: Path,
) -> None:
    metrics_label = label()
    script = tmp_path / "run.py"
    script.write_text(
        "from shipflow.flows.promote_canary import promote_canary\n"
        "from shipflow.adapters.kubernetes import ClusterTarget\n"
        "from shipflow.adapters.prometheus import MetricsTarget\n"
        "from shipflow.core.analysis import CanaryPolicy, Step\n"
        f"promote_canary(app={APP!r}, image={NEW_IMAGE!r},\n"
        "  policy=CanaryPolicy(steps=(Step(weight=25, hold_seconds=600),),\n"
        "    check_interval_seconds=1, window_seconds=4, min_requests=1),\n"
        f"  cluster=ClusterTarget(namespace={kube_app.namespace!r}),\n"
        f"  metrics=MetricsTarget(url={prometheus.url!r}, app={metrics_label!r}))\n"
    )
    with traffic(fake_kube, metrics_app, kube_app.namespace, "gateway", metrics_label):
        proc = subprocess.Popen(
            [sys.executable, str(script)],
            cwd=ROOT,
            env=dict(os.environ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_until(
                lambda: canary_share(fake_kube, kube_app.namespace, "gateway") == 0.25,
                timeout=90,
                what="the 25 % step",
            )
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        assert canary_share(fake_kube, kube_app.namespace, "gateway") == 0.25  # left behind
        state = reconcile_canary(
            app=APP, cluster=ClusterTarget(namespace=kube_app.namespace), return_state=True
        )
    assert state.is_completed()
    assert "took 25 % of traffic and 4 pods back" in state.message
    assert_no_canary_traffic(kube_app, fake_kube, "gateway")
    router = make_router(RouterSpec(), kube_app.api, kube_app.namespace, APP, f"{APP}-canary")
    assert router.canary_weight() == 0


def test_a_canary_that_never_becomes_ready_fails_and_leaves_nothing_behind(
    kube_app: KubeApp, fake_kube: FakeKube, prometheus: Prometheus
) -> None:
    import httpx

    httpx.post(
        f"{fake_kube.url}/fake/fail-rollout",
        json={"namespace": kube_app.namespace, "name": f"{APP}-canary"},
    )
    state = promote_canary(**params(kube_app, prometheus.url, label()), return_state=True)
    assert state.is_failed()
    assert "ProgressDeadlineExceeded" in state.message
    assert "timed out progressing" in state.message
    assert_no_canary_traffic(kube_app, fake_kube, "gateway")
    assert Deployments(kube_app.api, kube_app.namespace).image_of(APP) == kube_app.stable_image
