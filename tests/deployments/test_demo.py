"""`shipflow demo --prefect-url`: releases a merge end to end on the server named and touches
only its own runs there. (The README's first command, on the sandbox: test_sandbox_demo.py.)"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from shipflow.deployments import local
from shipflow.flows.terraform_release import terraform_release
from tests.conftest import ROOT, PrefectServer
from tests.harness.prefect_api import read_flow_run, resume_as_ui, start_in_background
from tests.harness.stacks import S3Stack

CLI = str(Path(sys.executable).with_name("shipflow"))


def test_demo_on_a_shared_server_releases_and_leaves_a_foreign_paused_plan_alone(
    prefect_server: PrefectServer, s3_stack: S3Stack, tmp_path: Path
) -> None:
    # Someone else's plan waits for approval on the same server the whole time.
    foreign = start_in_background(
        terraform_release, stack=str(s3_stack.path), approval_timeout=1800
    )
    paused = foreign.wait_paused()

    env = {**os.environ, "TMPDIR": str(tmp_path)}
    env.pop("KUBECONFIG", None)  # the demo brings its own cluster
    done = subprocess.run(
        [CLI, "demo", "--json", "--prefect-url", prefect_server.api_url],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["api_url"] == prefect_server.api_url
    assert result["state"] == "COMPLETED"
    # The example repository is a git repository; its commit is released, fetched by id.
    assert re.fullmatch(r"released [0-9a-f]{12} of shop/web: shipflow-demo-web", result["message"])
    assert result["stages"] == [
        "build_and_push: COMPLETED",
        "terraform_release: COMPLETED",
        "promote_canary: COMPLETED",
    ]
    assert "/shop/web@sha256:" in result["deployed_image"]
    assert result["state_serial"] == 1
    assert "release-summary" in result["artifacts"]

    # The foreign run is still paused, and nothing was applied to its stack.
    run = read_flow_run(paused.id)
    assert run.state is not None
    assert run.state.is_paused(), run.state
    assert s3_stack.serial() is None

    # Its owner rejects it afterwards, as they would in the UI.
    response = resume_as_ui(paused.id, {"approve": False, "approver": "owner", "comment": "no"})
    assert response.status_code == 201, response.text
    assert foreign.join().is_cancelled()
    assert s3_stack.serial() is None


def test_a_bad_prefect_url_is_a_usage_mistake() -> None:
    done = subprocess.run(
        [CLI, "demo", "--prefect-url", "prefect.example:4200"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 64, done.stderr
    assert "--prefect-url: 'prefect.example:4200' is not an http(s) URL" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_prefect_url_that_does_not_answer_fails_before_anything_starts(
    tmp_path: Path,
) -> None:
    url = f"http://127.0.0.1:{local.free_port()}/api"
    done = subprocess.run(
        [CLI, "demo", "--prefect-url", url],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert done.returncode == 1, done.stderr
    assert f"no Prefect server answers at {url}" in done.stderr
    assert list(tmp_path.iterdir()) == []  # not even a work folder
