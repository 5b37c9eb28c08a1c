"""`shipflow diagnose`: each check finds its planted problem (a held lock on the moto S3
backend, a cache-busting Dockerfile, a rollout past its deadline and a Helm release stuck
pending on the fake API server) and reports nothing on a healthy setup."""

from __future__ import annotations

import base64
import gzip
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client as k8s

from shipflow.adapters.terraform import Terraform, find_terraform
from shipflow.adapters.waiting import poll_until
from shipflow.deployments.sandbox.cluster import APP, KubeApp
from shipflow.deployments.sandbox.fake_kube import FakeKube
from tests.conftest import MetricsApp, Prometheus
from tests.harness.stacks import S3Stack

SHIPFLOW = str(Path(sys.executable).with_name("shipflow"))


def diagnose(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    # No Prefect server to ask about running applies: the finding must say so.
    env = {**os.environ, "PREFECT_API_URL": ""}
    return subprocess.run(
        [SHIPFLOW, "diagnose", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=cwd,
    )


def findings(done: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(done.stdout)["findings"]
    return found


def test_held_state_lock_on_s3(s3_stack: S3Stack) -> None:
    Terraform(workdir=s3_stack.path, binary=find_terraform()).init()
    healthy = diagnose("--stack", str(s3_stack.path), "--json")
    assert (healthy.returncode, findings(healthy)) == (0, []), healthy.stderr

    s3_stack.write_lock(who="alice@laptop", lock_id="0f0f-1234")
    done = diagnose("--stack", str(s3_stack.path), "--json")
    assert done.returncode == 2, done.stderr
    (lock,) = findings(done)
    assert lock["check"] == "terraform-state-lock"
    assert "alice@laptop" in lock["evidence"][0]
    assert "no Prefect API to check for a running shipflow apply" in lock["evidence"]
    assert lock["fix"].endswith(f"terraform -chdir={s3_stack.path} force-unlock -force 0f0f-1234")
    assert s3_stack.lock_exists()  # read-only: the lock is still there


CACHE_BUSTING = """\
FROM node:22-bookworm-slim
WORKDIR /app
COPY . .
RUN npm ci --omit=dev
CMD ["node", "server.js"]
"""
GOOD = """\
FROM node:22-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev
COPY . .
CMD ["node", "server.js"]
"""


def test_cache_busting_dockerfile(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile.bad").write_text(CACHE_BUSTING)
    (tmp_path / "Dockerfile").write_text(GOOD)
    assert diagnose("--dockerfile", "Dockerfile", cwd=tmp_path).returncode == 0
    done = diagnose("--dockerfile", "Dockerfile.bad", cwd=tmp_path)
    assert done.returncode == 2
    assert "docker-cache-busting Dockerfile.bad:4" in done.stdout
    assert "fix: COPY only package.json and the lock file first" in done.stdout


def _helm_secret(name: str, revision: int, status: str) -> k8s.V1Secret:
    release = {
        "name": name,
        "namespace": "ignored",
        "version": revision,
        "info": {"status": status},
        "chart": {"metadata": {"name": name, "version": "0.1.0"}},
    }
    helm = base64.b64encode(gzip.compress(json.dumps(release).encode())).decode()
    return k8s.V1Secret(
        metadata=k8s.V1ObjectMeta(
            name=f"sh.helm.release.v1.{name}.v{revision}",
            labels={"owner": "helm", "name": name, "status": status, "version": str(revision)},
        ),
        type="helm.sh/release.v1",
        data={"release": base64.b64encode(helm.encode()).decode()},
    )


def test_cluster_checks(kube_app: KubeApp, fake_kube: FakeKube) -> None:
    ns = kube_app.namespace
    core = k8s.CoreV1Api(kube_app.api)
    core.create_namespaced_secret(ns, _helm_secret("api", 1, "deployed"))
    healthy = diagnose("--namespace", ns, "--json")
    assert (healthy.returncode, findings(healthy)) == (0, []), healthy.stderr

    core.create_namespaced_secret(ns, _helm_secret("api", 2, "pending-upgrade"))
    httpx.post(f"{fake_kube.url}/fake/fail-rollout", json={"namespace": ns, "name": APP})
    apps = k8s.AppsV1Api(kube_app.api)
    apps.patch_namespaced_deployment(
        APP, ns, {"spec": {"template": {"spec": {"containers": [{"name": APP, "image": "x:2"}]}}}}
    )

    def stuck() -> bool:
        status = apps.read_namespaced_deployment(APP, ns).status
        return any(c.reason == "ProgressDeadlineExceeded" for c in status.conditions or [])

    poll_until(stuck, timeout=10, interval=0.1)
    done = diagnose("--namespace", ns, "--json")
    assert done.returncode == 2, done.stderr
    by_check = {f["check"]: f for f in findings(done)}
    assert set(by_check) == {"kubernetes-stuck-rollout", "helm-pending-release"}
    assert by_check["kubernetes-stuck-rollout"]["subject"] == f"{ns}/{APP}"
    assert f"rollout undo deployment {APP}" in by_check["kubernetes-stuck-rollout"]["fix"]
    helm = by_check["helm-pending-release"]
    assert "pending-upgrade" in helm["cause"]
    assert f"helm rollback api 1 -n {ns}" in helm["fix"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "nothing to check: give --stack, --dockerfile, --namespace or --app"),
        (["--prometheus-url", "http://p:9090", "-n", "x"], "prometheus-url: only used with --app"),
        (["--app", "web", "--prometheus-url", "p:9090"], "prometheus-url: p:9090 is not an http"),
        (["--stack", "nowhere"], "stack: nowhere is not a directory"),
        (["--dockerfile", "missing"], "dockerfile: missing is not a file"),
    ],
)
def test_usage(tmp_path: Path, argv: list[str], message: str) -> None:
    done = diagnose(*argv, cwd=tmp_path)
    assert done.returncode == 64
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def _pods(kube_app: KubeApp, selector: str) -> list[Any]:
    return list(
        k8s.CoreV1Api(kube_app.api)
        .list_namespaced_pod(kube_app.namespace, label_selector=selector)
        .items
    )


def test_crash_looping_deployment(kube_app: KubeApp, fake_kube: FakeKube) -> None:
    ns = kube_app.namespace
    core, apps = k8s.CoreV1Api(kube_app.api), k8s.AppsV1Api(kube_app.api)
    core.create_namespaced_secret(
        ns, k8s.V1Secret(metadata=k8s.V1ObjectMeta(name="db"), string_data={"pw": "hunter2"})
    )
    env = [
        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}},
        {"name": "API_TOKEN", "value": "planted-literal-token"},
    ]
    apps.patch_namespaced_deployment(
        APP,
        ns,
        {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": APP,
                                "envFrom": [{"configMapRef": {"name": "web-config"}}],
                                "env": env,
                            }
                        ]
                    }
                }
            }
        },
    )
    poll_until(
        lambda: apps.read_namespaced_deployment(APP, ns).status.updated_replicas == 4,
        timeout=10,
        interval=0.1,
    )
    healthy = diagnose("--namespace", ns, "--json")
    assert (healthy.returncode, findings(healthy)) == (0, []), healthy.stderr

    httpx.post(
        f"{fake_kube.url}/fake/crash-loop", json={"namespace": ns, "name": APP}
    ).raise_for_status()
    poll_until(lambda: len(_pods(kube_app, f"app={APP}")) == 4, timeout=10, interval=0.1)
    done = diagnose(
        "--namespace", ns, "--app", APP, "--prometheus-url", "http://127.0.0.1:9", "--json"
    )
    assert done.returncode == 2, done.stderr
    document = json.loads(done.stdout)
    (crash,) = [f for f in document["findings"] if f["check"] == "kubernetes-crash-loop"]
    assert crash["subject"].startswith(f"{ns}/{APP}-")
    assert crash["subject"].endswith(" container web")
    assert crash["evidence"][0].startswith("4 pod(s) in CrashLoopBackOff: ")
    assert "last termination Error, exit code 1 (the application failed" in crash["evidence"][1]
    assert "restarted 5 times" in crash["evidence"][1]
    assert (
        f"ConfigMap web-config (container web envFrom) does not exist in {ns}" in crash["evidence"]
    )
    assert "names ConfigMaps or Secrets that do not exist" in crash["cause"]
    assert f"kubectl -n {ns} create configmap web-config" in crash["fix"]
    assert "hunter2" not in done.stdout
    assert "planted-literal-token" not in done.stdout
    # Prometheus was not there: said, not a traceback; the cluster's findings still count.
    assert any("unreachable" in e for e in document["errors"]), document["errors"]

    httpx.post(f"{fake_kube.url}/fake/heal-rollout", json={"namespace": ns, "name": APP})
    poll_until(lambda: not _pods(kube_app, f"app={APP}"), timeout=10, interval=0.1)


def test_a_planted_pod_killed_by_its_liveness_probe(kube_app: KubeApp) -> None:
    """A pod written through the API like the kubelet would: its status through /status and
    the kubelet's events."""
    ns = kube_app.namespace
    core = k8s.CoreV1Api(kube_app.api)
    probe = {"httpGet": {"path": "/healthz", "port": 8080}, "failureThreshold": 4}
    pod = core.create_namespaced_pod(
        ns,
        {
            "metadata": {"name": "worker-0", "labels": {"app": "worker"}},
            "spec": {"containers": [{"name": "worker", "image": "w:1", "livenessProbe": probe}]},
        },
    )
    assert pod.status.phase == "Pending"  # the kubelet's to write
    healthy = diagnose("--namespace", ns, "--json")
    assert (healthy.returncode, findings(healthy)) == (0, []), healthy.stderr
    status = {
        "phase": "Running",
        "containerStatuses": [
            {
                "name": "worker",
                "image": "w:1",
                "imageID": "",
                "ready": False,
                "restartCount": 9,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"reason": "Error", "exitCode": 143}},
            }
        ],
    }
    core.patch_namespaced_pod_status("worker-0", ns, {"status": status})
    core.create_namespaced_event(
        ns,
        {
            "metadata": {"name": "worker-0.1"},
            "involvedObject": {"kind": "Pod", "name": "worker-0", "namespace": ns},
            "reason": "Unhealthy",
            "message": 'Liveness probe failed: Get "http://10.0.0.7:8080/healthz": context '
            "deadline exceeded",
            "type": "Warning",
            "count": 12,
        },
    )
    assert [p.metadata.name for p in _pods(kube_app, "app=worker")] == ["worker-0"]
    done = diagnose("--namespace", ns, "--json")
    assert done.returncode == 2, done.stderr
    (crash,) = findings(done)
    assert crash["subject"] == f"{ns}/worker-0 container worker"
    assert "restarted 9 times" in crash["evidence"][1]
    assert "(12 times)" in crash["evidence"][2]
    assert crash["fix"].startswith(
        "it has no startupProbe, so its livenessProbe kills it after about 40 s "
        "(failureThreshold 4 x periodSeconds 10): add a startupProbe"
    )


def _route(kube_app: KubeApp, app: str, canary_weight: int) -> None:
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": app},
        "spec": {
            "parentRefs": [{"name": "public"}],
            "rules": [
                {
                    "backendRefs": [
                        {"name": f"{app}-stable", "port": 80, "weight": 100 - canary_weight},
                        {"name": f"{app}-canary", "port": 80, "weight": canary_weight},
                    ]
                }
            ],
        },
    }
    k8s.CustomObjectsApi(kube_app.api).create_namespaced_custom_object(
        "gateway.networking.k8s.io", "v1", kube_app.namespace, "httproutes", route
    )


def test_canary_metrics(kube_app: KubeApp, prometheus: Prometheus, metrics_app: MetricsApp) -> None:
    run = uuid.uuid4().hex[:6]
    healthy, unrouted, unlabelled = f"ok-{run}", f"nocanary-{run}", f"nolabel-{run}"
    plays = [(healthy, "stable"), (healthy, "canary"), (unrouted, "stable"), (unlabelled, "")]
    for app_name in (healthy, unrouted, unlabelled):
        _route(kube_app, app_name, 10)
    try:
        for app_name, version in plays:
            metrics_app.control(app_name, version, rps=100)

        def scraped() -> bool:
            for app_name, version in plays:
                query = f'http_requests_total{{app="{app_name}",version="{version}"}}'
                answer = httpx.get(f"{prometheus.url}/api/v1/query", params={"query": query})
                if not answer.json()["data"]["result"]:
                    return False
            return True

        poll_until(scraped, timeout=30, interval=0.5)

        def check(app_name: str) -> subprocess.CompletedProcess[str]:
            return diagnose(
                "--namespace",
                kube_app.namespace,
                "--app",
                app_name,
                "--prometheus-url",
                prometheus.url,
                "--json",
            )

        ok = check(healthy)
        assert (ok.returncode, findings(ok)) == (0, []), ok.stdout + ok.stderr
        done = check(unrouted)
        assert done.returncode == 2, done.stdout + done.stderr
        (finding,) = findings(done)
        assert finding["check"] == "canary-no-series"
        assert finding["cause"] == (
            "the route sends 10 % of traffic to the canary, but Prometheus has no series of the "
            'canary (`version="canary"`)'
        )
        done = check(unlabelled)
        assert done.returncode == 2, done.stdout + done.stderr
        (finding,) = findings(done)
        assert finding["check"] == "canary-unlabelled-metrics"
        assert "carry no `version` label" in finding["cause"]
        assert "the version label is `version` (HttpMetrics.version_label)" in finding["evidence"]
        assert finding["fix"].startswith(
            'add the `version` label to the metrics: `version="canary"`'
        )
    finally:
        for app_name, version in plays:
            metrics_app.control(app_name, version, rps=0)
