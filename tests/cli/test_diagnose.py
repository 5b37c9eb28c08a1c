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
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client as k8s

from shipflow.adapters.terraform import Terraform, find_terraform
from shipflow.adapters.waiting import poll_until
from shipflow.deployments.sandbox.cluster import APP, KubeApp
from shipflow.deployments.sandbox.fake_kube import FakeKube
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
        ([], "nothing to check: give --stack, --dockerfile or --namespace"),
        (["--stack", "nowhere"], "stack: nowhere is not a directory"),
        (["--dockerfile", "missing"], "dockerfile: missing is not a file"),
    ],
)
def test_usage(tmp_path: Path, argv: list[str], message: str) -> None:
    done = diagnose(*argv, cwd=tmp_path)
    assert done.returncode == 64
    assert message in done.stderr
    assert "Traceback" not in done.stderr
