"""`shipflow doctor --worker`: a worker missing Terraform, registry credentials and kube access
is told each, with the fix; a worker that has everything passes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from tests.conftest import PrefectServer, Prometheus
from tests.harness.gitrepo import make_repo

SHIPFLOW = str(Path(sys.executable).with_name("shipflow"))


def doctor(env: dict[str, str], cwd: Path, *args: str) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [SHIPFLOW, "doctor", "--worker", "--json", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


def test_a_worker_missing_terraform_registry_credentials_and_kube_access_is_told_each(
    prefect_server: PrefectServer, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    repo.commit({"README": "hi\n"}, "first")
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("KUBECONFIG",)},
        "HOME": str(tmp_path),  # no ~/.kube/config
        "PATH": "/usr/bin:/bin",  # no /usr/local/bin/terraform
        "SHIPFLOW_TERRAFORM_BIN": "terraform",
        "PREFECT_API_URL": prefect_server.api_url,
        "SHIPFLOW_PROMETHEUS_URL": "http://127.0.0.1:9",
    }
    env.pop("SHIPFLOW_REGISTRY_CREDENTIALS_BLOCK", None)
    code, report = doctor(env, tmp_path, "--repo", repo.url, "--pool", "no-such-pool")
    assert code == 1
    assert report["ok"] is False
    checks = {c["name"]: c for c in report["checks"]}
    missing = {name for name, c in checks.items() if not c["ok"]}
    assert missing == {"terraform", "registry credentials", "kubernetes", "prometheus", "work pool"}
    assert "'terraform' is not an executable on PATH" in checks["terraform"]["detail"]
    assert "SHIPFLOW_TERRAFORM_BIN" in checks["terraform"]["fix"]
    assert (
        "SHIPFLOW_REGISTRY_CREDENTIALS_BLOCK is not set" in checks["registry credentials"]["detail"]
    )
    assert "no usable kubeconfig" in checks["kubernetes"]["detail"]
    assert "KUBECONFIG" in checks["kubernetes"]["fix"]
    assert checks["work pool"]["fix"] == "run shipflow deploy"
    assert checks[f"git access {repo.url}"]["ok"] is True
    assert checks["buildah"]["ok"] is True


def test_a_worker_with_everything_passes(
    prefect_server: PrefectServer, prometheus: Prometheus, fake_kube: object, tmp_path: Path
) -> None:
    from prefect.blocks.system import Secret
    from prefect.settings import PREFECT_API_URL, temporary_settings

    block = f"registry-{uuid.uuid4().hex[:6]}"
    with temporary_settings({PREFECT_API_URL: prefect_server.api_url}):
        Secret(value={"username": "ci", "password": "s3cret-pass"}).save(block)
    repo = make_repo(tmp_path)
    repo.commit({"README": "hi\n"}, "first")
    pool = f"pool-{uuid.uuid4().hex[:6]}"
    subprocess.run(
        [
            str(Path(sys.executable).with_name("prefect")),
            "work-pool",
            "create",
            pool,
            "-t",
            "process",
        ],
        env={**os.environ, "PREFECT_API_URL": prefect_server.api_url},
        capture_output=True,
        check=True,
    )
    env = {
        **os.environ,
        "PREFECT_API_URL": prefect_server.api_url,
        "SHIPFLOW_PROMETHEUS_URL": prometheus.url,
        "SHIPFLOW_REGISTRY_CREDENTIALS_BLOCK": block,
    }
    code, report = doctor(env, tmp_path, "--repo", repo.url, "--pool", pool)
    assert [c for c in report["checks"] if not c["ok"]] == []
    assert code == 0
    assert "s3cret-pass" not in json.dumps(report)
