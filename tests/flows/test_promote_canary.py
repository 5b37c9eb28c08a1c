"""promote_canary against the fake Kubernetes API, the real Prometheus and Prefect server."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest

from shipflow.adapters.kubernetes import ClusterTarget, Deployments, RouterSpec, make_router
from shipflow.adapters.prometheus import MetricsTarget
from shipflow.core.canary import CanaryPolicy, Step
from shipflow.deployments import local
from shipflow.deployments.sandbox.cluster import APP, KubeApp, http_route
from shipflow.deployments.sandbox.fake_kube import FakeKube
from shipflow.deployments.sandbox.traffic import canary_share, traffic
from shipflow.flows.promote_canary import promote_canary, reconcile_canary
from tests.conftest import MetricsApp, Prometheus
from tests.harness.killable import kill, start_killable
from tests.harness.prefect_api import artifacts, events, start_in_background, wait_until

pytestmark = pytest.mark.usefixtures("prefect_server")

NEW_IMAGE = "registry.local/web@sha256:" + "b" * 64
ROUTERS = ["gateway", "istio", "nginx", "replicas"]


def fast_policy(**overrides: object) -> CanaryPolicy:
    values: dict = {
        "steps": (
            Step(weight=5, hold_seconds=2),
            Step(weight=25, hold_seconds=2),
            Step(weight=50, hold_seconds=2),
        ),
        "check_interval_seconds": 1,
        "min_requests": 20,
        "min_baseline_requests": 20,
        "max_sample_age_seconds": 5,
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


def measurements(flow_run_id: uuid.UUID, kube_app: KubeApp) -> list[dict[str, str]]:
    """Every check of the run, in order: the rows of its step tables (one per step)."""
    prefix = f"canary-{kube_app.namespace}-web-step-"
    tables = [a for a in artifacts(flow_run_id) if a["key"].startswith(prefix)]
    tables.sort(key=lambda a: int(a["key"].removeprefix(prefix)))
    return [row for table in tables for row in json.loads(table["data"])]


def rolled_back(kube_app: KubeApp) -> list[dict]:
    found = events(
        f"shipflow.canary.{kube_app.namespace}.{APP}",
        until=lambda names: "shipflow.canary.rolled_back" in names,
    )
    return [e for e in found if e["event"] == "shipflow.canary.rolled_back"]


@pytest.mark.parametrize("kind", ROUTERS)
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
    assert deployments.read_watch(f"{APP}-canary") is None  # the run let go of its canary


def test_error_rate_at_3x_baseline_at_25_percent_rolls_back_with_the_measurement(
    kube_app: KubeApp,
    fake_kube: FakeKube,
    prometheus: Prometheus,
    metrics_app: MetricsApp,
) -> None:
    metrics_label = label()
    metrics_app.control(metrics_label, "stable", error_rate=0.03)
    metrics_app.control(metrics_label, "canary", error_rate=0.03)
    p = params(kube_app, prometheus.url, metrics_label)
    p["policy"] = fast_policy(
        steps=(
            Step(weight=5, hold_seconds=2),
            Step(weight=25, hold_seconds=60),
            Step(weight=50, hold_seconds=2),
        ),
    )
    with traffic(fake_kube, metrics_app, kube_app.namespace, "gateway", metrics_label, rps=800):
        run = start_in_background(promote_canary, **p)
        wait_until(
            lambda: canary_share(fake_kube, kube_app.namespace, "gateway") == 0.25,
            timeout=60,
            what="the 25 % step",
        )
        metrics_app.control(metrics_label, "canary", error_rate=0.09)
        state = run.join()
    assert state.is_failed()
    assert state.message.startswith("rolled back at 25 %: failed: canary error rate"), state.message
    assert "vs baseline" in state.message
    assert_no_canary_traffic(kube_app, fake_kube, "gateway")
    assert Deployments(kube_app.api, kube_app.namespace).image_of(APP) == kube_app.stable_image
    rows = measurements(state.state_details.flow_run_id, kube_app)
    assert rows[-1]["phase"] == "failed"
    assert rows[-1]["weight"] == "25%"
    assert rows[-1]["baseline p99"].startswith("≈ ")  # with the bucket it lies in
    last = rolled_back(kube_app)[-1]
    assert (last["payload"]["weight"], last["payload"]["outcome"]) == (25, "failed")


def test_one_error_against_a_zero_error_baseline_is_not_a_rollback(
    kube_app: KubeApp,
    fake_kube: FakeKube,
    prometheus: Prometheus,
    metrics_app: MetricsApp,
) -> None:
    metrics_label = label()
    metrics_app.control(metrics_label, "stable", error_rate=0.0)
    metrics_app.control(metrics_label, "canary", error_rate=0.0)
    p = params(kube_app, prometheus.url, metrics_label)
    # The error lands early in a long hold, so the checks after it certainly count it.
    p["policy"] = fast_policy(steps=(Step(weight=25, hold_seconds=15),))
    with traffic(fake_kube, metrics_app, kube_app.namespace, "gateway", metrics_label):
        run = start_in_background(promote_canary, **p)
        wait_until(
            lambda: canary_share(fake_kube, kube_app.namespace, "gateway") == 0.25,
            timeout=60,
            what="the 25 % step",
        )
        metrics_app.control(metrics_label, "canary", inject_errors=1)
        state = run.join()
    assert state.is_completed(), state.message
    rows = measurements(state.state_details.flow_run_id, kube_app)
    errors = [r["canary errors"] for r in rows]
    assert any(e != "-" and "(0/" not in e for e in errors), errors  # measured, and forgiven
    assert {r["baseline errors"].split(" ")[0] for r in rows} <= {"0.00%", "-"}, rows


def test_a_bad_canary_beside_a_sick_baseline_is_rolled_back_by_the_absolute_ceiling(
    kube_app: KubeApp,
    fake_kube: FakeKube,
    prometheus: Prometheus,
    metrics_app: MetricsApp,
) -> None:
    # 18 % against a sick 10 % is within 1.5 x baseline; the 5 % ceiling still fails it. The
    # first hold is long enough, at enough traffic, for the 5 % step to show it (a 2 s hold saw
    # about 37 canary requests, and 18 % of those is not always significant above 5 %).
    metrics_label = label()
    metrics_app.control(metrics_label, "stable", error_rate=0.10)
    metrics_app.control(metrics_label, "canary", error_rate=0.18)
    steps = (
        Step(weight=5, hold_seconds=6),
        Step(weight=25, hold_seconds=2),
        Step(weight=50, hold_seconds=2),
    )
    p = params(kube_app, prometheus.url, metrics_label, steps=steps)
    with traffic(fake_kube, metrics_app, kube_app.namespace, "gateway", metrics_label, rps=800):
        state = promote_canary(**p, return_state=True)
    assert state.is_failed()
    assert state.message.startswith("rolled back at 5 %: failed: canary error rate"), state.message
    assert "> limit 5.00% (min(max(1.5 x baseline, floor 1.00%), ceiling 5.00%))" in state.message
    assert_no_canary_traffic(kube_app, fake_kube, "gateway")
    assert Deployments(kube_app.api, kube_app.namespace).image_of(APP) == kube_app.stable_image


def test_a_canary_nine_times_slower_than_the_baseline_is_rolled_back_below_the_absolute_limit(
    kube_app: KubeApp,
    fake_kube: FakeKube,
    prometheus: Prometheus,
    metrics_app: MetricsApp,
) -> None:
    # A canary P99 of about 490 ms is under the absolute 500 ms, but 9 x the baseline's 55 ms.
    metrics_label = label()
    metrics_app.control(metrics_label, "stable", error_rate=0.0, latency_ms=45)
    metrics_app.control(metrics_label, "canary", error_rate=0.0, latency_ms=400)
    with traffic(fake_kube, metrics_app, kube_app.namespace, "gateway", metrics_label):
        state = promote_canary(**params(kube_app, prometheus.url, metrics_label), return_state=True)
    assert state.is_failed()
    assert state.message.startswith("rolled back at 5 %: failed: canary p99 ≈"), state.message
    # How coarse the buckets make it (a check on a few requests can land one bucket higher).
    assert re.search(r"\(between (0\.25 s and 0\.5 s|0\.5 s and 1 s)\)", state.message)
    assert "(1.5 x baseline p99" in state.message
    assert_no_canary_traffic(kube_app, fake_kube, "gateway")
    rows = measurements(state.state_details.flow_run_id, kube_app)
    assert rows[-1]["phase"] == "failed"
    assert rows[-1]["baseline p99"].startswith("≈ "), rows[-1]
    assert re.search(r"\(between (0\.25 s and 0\.5 s|0\.5 s and 1 s)\)$", rows[-1]["canary p99"])


@pytest.mark.parametrize(
    ("case", "beginning"),
    [
        (
            "nothing has data",
            "rolled back at 5 %: error: 5 checks in a row could not measure (limit 4): could "
            "not measure: the app has no series in Prometheus at all",
        ),
        (
            "only the canary has no data",
            "rolled back at 5 %: inconclusive: inconclusive at the end of the hold 3 times "
            "(limit 2): canary without data: 0 requests in",
        ),
        (
            "no version label",
            "rolled back at 5 %: error: 5 checks in a row could not measure (limit 4): could "
            "not measure: the series carry no `version` label",
        ),
    ],
)
def test_who_has_no_data_is_told_apart_in_the_reason(
    case: str,
    beginning: str,
    kube_app: KubeApp,
    fake_kube: FakeKube,
    prometheus: Prometheus,
    metrics_app: MetricsApp,
) -> None:
    metrics_label = label()
    p = params(kube_app, prometheus.url, metrics_label)
    try:
        if case == "only the canary has no data":  # stable serves, the canary sends nothing
            metrics_app.control(metrics_label, "stable", rps=400)
            metrics_app.control(metrics_label, "canary", rps=0)
        elif case == "no version label":  # every pod's metrics summed, no version
            metrics_app.control(metrics_label, "", rps=400)
        state = promote_canary(**p, return_state=True)
    finally:
        metrics_app.control(metrics_label, "stable", rps=0)
        metrics_app.control(metrics_label, "", rps=0)
    assert state.is_failed()
    assert state.message.startswith(beginning), state.message
    assert_no_canary_traffic(kube_app, fake_kube, "gateway")
    last = rolled_back(kube_app)[-1]["payload"]
    assert last["outcome"] == ("inconclusive" if "canary" in case else "error")


def test_too_little_canary_traffic_is_inconclusive_then_rolled_back(
    kube_app: KubeApp,
    fake_kube: FakeKube,
    prometheus: Prometheus,
    metrics_app: MetricsApp,
) -> None:
    metrics_label = label()
    p = params(kube_app, prometheus.url, metrics_label, min_requests=1000)
    with traffic(fake_kube, metrics_app, kube_app.namespace, "gateway", metrics_label, rps=100):
        state = promote_canary(**p, return_state=True)
    assert state.is_failed()
    assert state.message.startswith(
        "rolled back at 5 %: inconclusive: inconclusive at the end of the hold 3 times (limit 2)"
    ), state.message
    assert "too little canary traffic" in state.message
    assert_no_canary_traffic(kube_app, fake_kube, "gateway")


def own_prometheus(metrics_app: MetricsApp, tmp_path: Path) -> tuple[local.Service, str]:
    port = local.free_port()
    service = local.prometheus(port, tmp_path, [f"127.0.0.1:{metrics_app.port}"])
    return service, f"http://127.0.0.1:{port}"


def wait_scraped(url: str, metrics_label: str) -> None:
    """Until Prometheus has the app's series (a new Prometheus scrapes after about 5 s)."""

    def scraped() -> bool:
        query = f'http_requests_total{{app="{metrics_label}"}}'
        answer = httpx.get(f"{url}/api/v1/query", params={"query": query}).json()
        return bool(answer["data"]["result"])

    wait_until(scraped, timeout=30, what="Prometheus scraping the app")


def test_a_short_prometheus_outage_does_not_roll_back_a_healthy_canary(
    kube_app: KubeApp,
    fake_kube: FakeKube,
    metrics_app: MetricsApp,
    tmp_path: Path,
) -> None:
    own, url = own_prometheus(metrics_app, tmp_path)
    metrics_label = label()
    p = params(kube_app, url, metrics_label)
    # The blackout is the 5 s outage plus the ~5 s a restarted Prometheus waits before its
    # first scrape (seen as a scrape gap): at 4 s checks, 3 errors in a row, within the limit
    # of 4 that a default policy (30 s checks) spreads over 2.5 minutes.
    p["policy"] = fast_policy(steps=(Step(weight=25, hold_seconds=40),), check_interval_seconds=4)
    with (
        local.running(own),
        traffic(fake_kube, metrics_app, kube_app.namespace, "gateway", metrics_label),
    ):
        wait_scraped(url, metrics_label)
        run = start_in_background(promote_canary, **p)
        wait_until(
            lambda: canary_share(fake_kube, kube_app.namespace, "gateway") == 0.25,
            timeout=60,
            what="the 25 % step",
        )
        time.sleep(9)  # two good checks first
        own.stop()
        time.sleep(5)  # the outage
        own.start()
        state = run.join()
    assert state.is_completed(), state.message
    rows = measurements(state.state_details.flow_run_id, kube_app)
    phases = [r["phase"] for r in rows]
    assert "error" in phases, phases  # the outage was seen, and not blamed on the canary
    assert "failed" not in phases
    assert "inconclusive" not in phases
    assert any("unreachable" in r["reason"] for r in rows)
    assert any("metrics are stale" in r["reason"] for r in rows)  # the gap after the restart


def test_a_dead_prometheus_rolls_back_with_an_error_after_the_limit(
    kube_app: KubeApp,
    fake_kube: FakeKube,
    metrics_app: MetricsApp,
    tmp_path: Path,
) -> None:
    own, url = own_prometheus(metrics_app, tmp_path)
    metrics_label = label()
    p = params(kube_app, url, metrics_label)
    p["policy"] = fast_policy(steps=(Step(weight=5, hold_seconds=120),))
    with (
        local.running(own),
        traffic(fake_kube, metrics_app, kube_app.namespace, "gateway", metrics_label),
    ):
        wait_scraped(url, metrics_label)
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
    assert state.message.startswith(
        "rolled back at 5 %: error: 5 checks in a row could not measure (limit 4): could not "
        "measure: prometheus query failed (unreachable at"
    ), state.message
    assert_no_canary_traffic(kube_app, fake_kube, "gateway")
    rows = measurements(state.state_details.flow_run_id, kube_app)
    # By construction within (limit + 1) checks: the fifth error in a row is the last check.
    assert [r["phase"] for r in rows[-5:]] == ["error"] * 5
    assert rows[-6]["phase"] != "error"
    assert rolled_back(kube_app)[-1]["payload"]["outcome"] == "error"


def run_code(kube_app: KubeApp, prometheus: Prometheus, metrics_label: str) -> str:
    return (
        "from shipflow.flows.promote_canary import promote_canary\n"
        "from shipflow.adapters.kubernetes import ClusterTarget\n"
        "from shipflow.adapters.prometheus import MetricsTarget\n"
        "from shipflow.core.canary import CanaryPolicy, Step\n"
        f"promote_canary(app={APP!r}, image={NEW_IMAGE!r},\n"
        "  policy=CanaryPolicy(steps=(Step(weight=25, hold_seconds=600),),\n"
        "    check_interval_seconds=1, min_requests=1, max_sample_age_seconds=5),\n"
        f"  cluster=ClusterTarget(namespace={kube_app.namespace!r}),\n"
        f"  metrics=MetricsTarget(url={prometheus.url!r}, app={metrics_label!r}))\n"
    )


def start_and_reach_25(
    kube_app: KubeApp, fake_kube: FakeKube, script: Path, code: str
) -> subprocess.Popen[bytes]:
    proc = start_killable(script, code)
    try:
        wait_until(
            lambda: canary_share(fake_kube, kube_app.namespace, "gateway") == 0.25,
            timeout=90,
            what="the 25 % step",
        )
    except BaseException:
        kill(proc)
        raise
    return proc


@pytest.mark.slow
def test_after_sigkill_a_new_run_takes_the_traffic_back_at_once_then_promotes(
    kube_app: KubeApp,
    fake_kube: FakeKube,
    prometheus: Prometheus,
    metrics_app: MetricsApp,
    tmp_path: Path,
) -> None:
    metrics_label = label()
    code = run_code(kube_app, prometheus, metrics_label)
    with traffic(fake_kube, metrics_app, kube_app.namespace, "gateway", metrics_label):
        proc = start_and_reach_25(kube_app, fake_kube, tmp_path / "run.py", code)
        kill(proc)  # the worker dies: no hook runs, the slot stays held
        assert canary_share(fake_kube, kube_app.namespace, "gateway") == 0.25  # left behind
        started = time.monotonic()
        run = start_in_background(promote_canary, **params(kube_app, prometheus.url, metrics_label))
        wait_until(
            lambda: canary_share(fake_kube, kube_app.namespace, "gateway") == 0,
            timeout=10,
            what="the traffic back on stable within 10 s of the new run's start",
        )
        print(f"traffic back on stable {time.monotonic() - started:.1f} s after the new run began")
        # The dead run's slot frees when its lease expires; then the new run does its canary.
        state = run.join(timeout=240)
    assert state.is_completed(), state.message
    first = rolled_back(kube_app)[0]["payload"]
    assert first["outcome"] == "unwatched"
    assert "no live run watched it (last watched by flow run" in first["reason"]
    assert Deployments(kube_app.api, kube_app.namespace).image_of(APP) == NEW_IMAGE


def test_after_sigterm_the_rolled_back_event_is_on_the_server(
    kube_app: KubeApp,
    fake_kube: FakeKube,
    prometheus: Prometheus,
    metrics_app: MetricsApp,
    tmp_path: Path,
) -> None:
    metrics_label = label()
    code = run_code(kube_app, prometheus, metrics_label)
    with traffic(fake_kube, metrics_app, kube_app.namespace, "gateway", metrics_label):
        proc = start_and_reach_25(kube_app, fake_kube, tmp_path / "run.py", code)
        kill(proc, signal.SIGTERM)
    assert_no_canary_traffic(kube_app, fake_kube, "gateway")
    last = rolled_back(kube_app)[-1]["payload"]
    assert last["outcome"] == "crashed", last
    assert Deployments(kube_app.api, kube_app.namespace).read_watch(f"{APP}-canary") is None


def test_reconcile_takes_back_a_killed_runs_canary_and_leaves_a_live_one(
    kube_app: KubeApp,
    fake_kube: FakeKube,
    prometheus: Prometheus,
    metrics_app: MetricsApp,
    tmp_path: Path,
) -> None:
    metrics_label = label()
    code = run_code(kube_app, prometheus, metrics_label)
    cluster = ClusterTarget(namespace=kube_app.namespace)
    with traffic(fake_kube, metrics_app, kube_app.namespace, "gateway", metrics_label):
        proc = start_and_reach_25(kube_app, fake_kube, tmp_path / "run.py", code)
        try:
            live = reconcile_canary(app=APP, cluster=cluster, return_state=True)
            assert "has 25 % and a live run: last watched by flow run" in live.message
            assert canary_share(fake_kube, kube_app.namespace, "gateway") == 0.25
        finally:
            kill(proc)
        state = reconcile_canary(app=APP, cluster=cluster, return_state=True)
    assert state.is_completed()
    assert "took 25 % of traffic and 4 pods back" in state.message
    assert_no_canary_traffic(kube_app, fake_kube, "gateway")
    router = make_router(RouterSpec(), kube_app.api, kube_app.namespace, APP, f"{APP}-canary")
    assert router.canary_weight() == 0


@pytest.mark.parametrize("kind", ROUTERS)
def test_a_canary_that_never_becomes_ready_leaves_nothing_behind(
    kind: str, kube_app: KubeApp, fake_kube: FakeKube, prometheus: Prometheus
) -> None:
    httpx.post(
        f"{fake_kube.url}/fake/fail-rollout",
        json={"namespace": kube_app.namespace, "name": f"{APP}-canary"},
    )
    state = promote_canary(**params(kube_app, prometheus.url, label(), kind), return_state=True)
    assert state.is_failed()
    assert "ProgressDeadlineExceeded" in state.message
    assert "timed out progressing" in state.message
    assert_no_canary_traffic(kube_app, fake_kube, kind)
    deployments = Deployments(kube_app.api, kube_app.namespace)
    assert deployments.image_of(APP) == kube_app.stable_image
    assert deployments.replicas(APP) == 4
    if kind == "gateway":
        route = make_router(RouterSpec(), kube_app.api, kube_app.namespace, APP, "x")
        assert route.canary_weight() == 0
        assert_route_as_created(kube_app)


def test_a_canary_after_a_failed_one_is_judged_by_its_own_rollout(
    kube_app: KubeApp, fake_kube: FakeKube, prometheus: Prometheus, metrics_app: MetricsApp
) -> None:
    """The failed canary's Deployment keeps its ProgressDeadlineExceeded condition until the
    controller sees the next image: that old condition must not fail the next canary."""
    stuck = "registry.local/web@sha256:" + "d" * 64
    httpx.post(f"{fake_kube.url}/fake/fail-image", json={"image": stuck}).raise_for_status()
    metrics_label = label()
    for version in ("stable", "canary"):
        metrics_app.control(metrics_label, version, error_rate=0.0)
    failed = promote_canary(
        **{**params(kube_app, prometheus.url, metrics_label), "image": stuck}, return_state=True
    )
    assert failed.is_failed()
    assert "ProgressDeadlineExceeded" in failed.message
    with traffic(fake_kube, metrics_app, kube_app.namespace, "gateway", metrics_label):
        state = promote_canary(**params(kube_app, prometheus.url, metrics_label), return_state=True)
    assert state.is_completed(), state.message
    assert Deployments(kube_app.api, kube_app.namespace).image_of(APP) == NEW_IMAGE


def assert_route_as_created(kube_app: KubeApp) -> None:
    from kubernetes import client as k8s

    route = k8s.CustomObjectsApi(kube_app.api).get_namespaced_custom_object(
        "gateway.networking.k8s.io", "v1", kube_app.namespace, "httproutes", APP
    )
    assert route["spec"] == http_route()["spec"]  # no `<app>-canary` backendRef left behind


def test_a_crash_looping_canary_carries_the_diagnosis_in_its_failure_artifact(
    kube_app: KubeApp, fake_kube: FakeKube, prometheus: Prometheus
) -> None:
    from kubernetes import client as k8s

    ns = kube_app.namespace
    probe = {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 5}
    k8s.AppsV1Api(kube_app.api).patch_namespaced_deployment(
        APP,
        ns,
        {"spec": {"template": {"spec": {"containers": [{"name": "web", "livenessProbe": probe}]}}}},
    )
    httpx.post(
        f"{fake_kube.url}/fake/crash-loop",
        json={"namespace": ns, "name": f"{APP}-canary", "exitCode": 137, "probe": "liveness"},
    ).raise_for_status()
    state = promote_canary(**params(kube_app, prometheus.url, label()), return_state=True)
    assert state.is_failed()
    assert "ProgressDeadlineExceeded" in state.message  # the failure stays the run's reason
    found = [
        a
        for a in artifacts(state.state_details.flow_run_id)
        if a["key"] == f"canary-failure-{ns}-web"
    ]
    assert len(found) == 1, [a["key"] for a in artifacts(state.state_details.flow_run_id)]
    text = found[0]["data"]
    assert text.startswith("# Failure\n\nerror: "), text
    assert f"`kubernetes-crash-loop` {ns}/{APP}-canary-" in text
    assert "the kubelet kills the container for failing its probes" in text
    assert "last termination Error, exit code 137" in text
    assert "restarted 5 times" in text
    assert "event Unhealthy: Liveness probe failed" in text
    assert (
        "its livenessProbe kills it after about 15 s (failureThreshold 3 x periodSeconds 5)" in text
    )
    assert "add a startupProbe" in text
    assert_no_canary_traffic(kube_app, fake_kube, "gateway")
    # The rollback scaled the canary to 0, and its pods went: the diagnosis had to read first.
    pods = k8s.CoreV1Api(kube_app.api)
    wait_until(
        lambda: not pods.list_namespaced_pod(ns, label_selector="version=canary").items,
        timeout=10,
        what="the canary's pods gone",
    )
