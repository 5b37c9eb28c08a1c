"""`prefect deploy --all` on a fresh server, then a signed merge webhook starts exactly one
release run through the deployment trigger, and the drift schedule is daily."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import yaml

from shipflow.adapters.waiting import Timeout, poll_until
from tests.conftest import ROOT, PrefectServer
from tests.harness.webhooks import Receiver, post_github, push, sign


@pytest.fixture(scope="module")
def deployed(prefect_server: PrefectServer) -> dict[str, dict]:
    prefect = str(Path(sys.executable).with_name("prefect"))
    subprocess.run(
        [prefect, "work-pool", "create", "shipflow-process", "--type", "process"],
        capture_output=True,
        text=True,
        check=False,
    )
    done = subprocess.run(
        [prefect, "--no-prompt", "deploy", "--all"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    # Only prefect.yaml's own names: the session's server holds the deployments of earlier
    # tests too, more than one page of them.
    names = [d["name"] for d in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]]
    found = httpx.post(
        f"{prefect_server.api_url}/deployments/filter",
        json={"deployments": {"name": {"any_": names}}, "limit": 200},
    ).json()
    return {d["name"]: d for d in found}


def deployment_runs(api: str, deployment_id: str, wait: float, sha: str | None = None) -> list:
    """The deployment's runs (of commit ``sha``, if given), waiting up to ``wait`` seconds for
    the first; none after that is an empty list."""

    def look() -> list[dict] | None:
        runs = httpx.post(
            f"{api}/flow_runs/filter", json={"deployments": {"id": {"any_": [deployment_id]}}}
        ).json()
        return [r for r in runs if sha is None or r["parameters"].get("sha") == sha] or None

    try:
        return poll_until(look, timeout=wait, interval=0.5)
    except Timeout:
        return []


def test_every_flow_has_a_deployment(deployed: dict[str, dict]) -> None:
    assert set(deployed) >= {
        "release",
        "terraform-release",
        "detect-drift",
        "build-and-push",
        "promote-canary",
        "reconcile-canary",
        "blue-green",
        "reconcile-blue-green",
        "rolling",
        "reconcile-rolling",
    }


@pytest.mark.parametrize(
    ("rollout", "reconcile", "parameters"),
    [
        (
            "blue-green",
            "reconcile-blue-green",
            {
                "metrics": {"app": "web-metrics"},
                "policy": {"active_service": "web-live"},
            },
        ),
        ("rolling", "reconcile-rolling", {"policy": {"progress_deadline_seconds": 90}}),
    ],
)
def test_a_rollout_run_that_crashed_starts_its_reconcile_with_its_parameters(
    deployed: dict[str, dict],
    prefect_server: PrefectServer,
    rollout: str,
    reconcile: str,
    parameters: dict,
) -> None:
    api = prefect_server.api_url
    app = f"web-{uuid.uuid4().hex[:6]}"
    given = {
        "app": app,
        "image": "registry.local/web@sha256:" + "e" * 64,
        "cluster": {"namespace": "shop"},
        **parameters,
    }
    run = httpx.post(
        f"{api}/deployments/{deployed[rollout]['id']}/create_flow_run",
        json={"parameters": given},
    )
    assert run.status_code == 201, run.text
    # As the dead-run automation marks a run whose worker died.
    crashed = httpx.post(
        f"{api}/flow_runs/{run.json()['id']}/set_state",
        json={"state": {"type": "CRASHED", "message": "no heartbeat"}, "force": True},
    )
    assert crashed.json()["status"] == "ACCEPT", crashed.text
    runs = deployment_runs(api, deployed[reconcile]["id"], wait=30)
    mine = [r for r in runs if r["parameters"].get("app") == app]
    assert len(mine) == 1, runs
    expected = {k: v for k, v in given.items() if k != "image"}
    assert mine[0]["parameters"] == expected


def test_drift_runs_daily_at_the_configured_time(
    deployed: dict[str, dict], prefect_server: PrefectServer
) -> None:
    drift = deployed["detect-drift"]
    assert [s["schedule"]["cron"] for s in drift["schedules"]] == ["0 6 * * *"]
    runs = deployment_runs(prefect_server.api_url, drift["id"], wait=30)
    assert runs, "the scheduler made no run"
    due = datetime.fromisoformat(min(r["expected_start_time"] for r in runs))
    assert (due.hour, due.minute) == (6, 0)


def test_a_signed_merge_starts_exactly_one_release_run(
    deployed: dict[str, dict], receiver: Receiver
) -> None:
    release_id = deployed["release"]["id"]
    sha = uuid.uuid4().hex + "0123abcd"
    repo = f"shop/web-{uuid.uuid4().hex[:6]}"
    body = push(repo, sha=sha)
    delivery = str(uuid.uuid4())
    assert post_github(receiver, body, sign(body), delivery).status_code == 202
    assert post_github(receiver, body, sign(body), delivery).json()["status"] == "duplicate"
    runs = deployment_runs(receiver.api_url, release_id, wait=30, sha=sha)
    assert len(runs) == 1
    time.sleep(3)  # a second run, had one been triggered, would exist by now
    runs = deployment_runs(receiver.api_url, release_id, wait=0, sha=sha)
    assert len(runs) == 1
    assert runs[0]["parameters"]["ref"] == "refs/heads/main"
    assert runs[0]["parameters"]["changed_paths"] == ["infra/main.tf", "svc/web/app.py"]
    # The worker fetches the commit from where the forge says the repository is.
    assert runs[0]["parameters"]["clone_url"] == f"https://github.com/{repo}.git"
    other = uuid.uuid4().hex + "89abcdef"
    body = push(f"shop/web-{uuid.uuid4().hex[:6]}", ref="refs/heads/feature", sha=other)
    assert post_github(receiver, body, sign(body)).json()["status"] == "ignored"
    assert deployment_runs(receiver.api_url, release_id, wait=3, sha=other) == []


def test_a_merge_with_paths_unknown_starts_a_release_of_every_service(
    deployed: dict[str, dict], receiver: Receiver
) -> None:
    """GitLab lists the newest 20 of 25 commits: the trigger passes changed_paths null, which
    the release reads as "paths unknown: releasing all services"."""
    sha = uuid.uuid4().hex + "4567cdef"
    push = json.loads((ROOT / "tests/core/data/webhooks/gitlab/push.json").read_text())
    push["project"]["path_with_namespace"] = f"shop/api-{uuid.uuid4().hex[:6]}"
    push.update(after=sha, checkout_sha=sha, total_commits_count=25)
    push["commits"] = [dict(push["commits"][0], id=f"{i:040x}") for i in range(20)]
    response = httpx.post(
        f"{receiver.url}/hooks/gitlab",
        content=json.dumps(push).encode(),
        headers={"X-Gitlab-Token": "gl-token-123", "Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 202, response.text
    (run,) = deployment_runs(receiver.api_url, deployed["release"]["id"], wait=30, sha=sha)
    assert run["parameters"]["changed_paths"] is None
