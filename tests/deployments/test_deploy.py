"""`shipflow deploy`: the pool, the deployments (module paths, no pull steps, heartbeats on),
their schedules and triggers, and the automations; a second run changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from shipflow.deployments.automations import STUCK_CANCEL, ZOMBIE
from shipflow.deployments.production import definitions_text, load_definitions
from shipflow.errors import ConfigError
from tests.conftest import ROOT, PrefectServer

SHIPFLOW = str(Path(sys.executable).with_name("shipflow"))


def run_deploy(api_url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PREFECT_API_URL": api_url}
    return subprocess.run(
        [SHIPFLOW, "deploy", "--json", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_prefect_yaml_is_the_packaged_file_and_names_nothing_of_this_machine() -> None:
    assert (ROOT / "prefect.yaml").read_text() == definitions_text()
    data = yaml.safe_load(definitions_text())
    assert data["pull"] == []
    for spec in load_definitions():
        assert ":" not in spec.entrypoint  # a module path, imported from installed shipflow
        assert spec.entrypoint.startswith("shipflow.flows.")
    assert "/work/" not in definitions_text()
    assert "set_working_directory" not in definitions_text()


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (
            "deployments:\n  - name: x\n    entrypoint: flows/x.py:x\n    work_pool: {name: p}\n",
            "prefect.yaml: x.entrypoint",
        ),
        (
            "pull:\n  - prefect.deployments.steps.set_working_directory: {directory: /w}\n"
            "deployments: []\n",
            "prefect.yaml: pull",
        ),
        (
            "deployments:\n  - name: x\n    entrypoint: a.b\n",
            "prefect.yaml: deployments.0.work_pool",
        ),
    ],
)
def test_a_bad_definition_is_named(text: str, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_definitions(text)
    assert caught.value.field == field


def test_deploy_creates_everything_and_a_second_run_changes_nothing(
    prefect_server: PrefectServer, tmp_path: Path
) -> None:
    pool = f"shipflow-test-{uuid.uuid4().hex[:6]}"
    first = run_deploy(prefect_server.api_url, tmp_path, "--pool", pool)  # not the checkout
    assert first.returncode == 0, first.stderr[-3000:]
    changes = {c["what"]: c["outcome"] for c in json.loads(first.stdout)["changes"]}
    assert changes[f"work pool {pool!r} (process)"] == "created"
    assert changes[f"automation {ZOMBIE!r}"] in ("created", "unchanged")
    assert changes[f"automation {STUCK_CANCEL!r}"] in ("created", "unchanged")

    again = run_deploy(prefect_server.api_url, tmp_path, "--pool", pool)
    assert again.returncode == 0, again.stderr[-3000:]
    outcomes = {c["what"]: c["outcome"] for c in json.loads(again.stdout)["changes"]}
    assert set(outcomes.values()) == {"exists", "unchanged"}, outcomes
    assert json.loads(again.stdout)["dead_runs"].startswith("heartbeats every 30s")

    api = prefect_server.api_url
    found: list[dict[str, Any]] = httpx.post(
        f"{api}/deployments/filter", json={"work_pools": {"name": {"any_": [pool]}}}
    ).json()
    by_name = {d["name"]: d for d in found}
    assert set(by_name) == {s.name for s in load_definitions()}
    for d in found:
        assert d["entrypoint"].startswith("shipflow.flows.")
        assert not d["pull_steps"]
        assert d["path"] is None
        assert d["job_variables"]["env"]["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == "30"
        # a database restart answers 500: runs retry it (tests/faults/test_database_restart.py)
        assert d["job_variables"]["env"]["PREFECT_CLIENT_RETRY_EXTRA_CODES"] == "500"
        assert "shipflow" in d["tags"]
    assert [s["schedule"]["cron"] for s in by_name["detect-drift"]["schedules"]] == ["0 6 * * *"]
    automations = httpx.post(f"{api}/automations/filter", json={}).json()
    names = [a["name"] for a in automations]
    assert names.count(ZOMBIE) == 1
    assert names.count(STUCK_CANCEL) == 1
    zombie = next(a for a in automations if a["name"] == ZOMBIE)
    assert zombie["trigger"]["posture"] == "Proactive"
    assert zombie["trigger"]["within"] == 90.0
    assert zombie["actions"][0]["state"] == "CRASHED"
    for owner in ("release", "reconcile-canary", "reconcile-blue-green", "reconcile-rolling"):
        runs_it = [
            a
            for a in automations
            if any(act.get("deployment_id") == by_name[owner]["id"] for act in a["actions"])
        ]
        assert len(runs_it) == 1, owner  # triggers re-created on each deploy, never duplicated
        assert runs_it[0]["name"] == f"{owner}__automation_1"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--crashed-after", "40"], "crashed_after_seconds (40) must be at least"),
        (["--heartbeat", "10"], "heartbeat_seconds: Input should be greater than or equal to 30"),
    ],
)
def test_windows_that_would_crash_live_runs_are_a_usage_error(
    tmp_path: Path, args: list[str], words: str
) -> None:
    done = run_deploy("http://127.0.0.1:9/api", tmp_path, *args)
    assert done.returncode == 64
    assert words in done.stderr.replace("\n", " ")
    assert "Traceback" not in done.stderr


def test_an_unreachable_server_is_one_line(tmp_path: Path) -> None:
    done = run_deploy("http://127.0.0.1:9/api", tmp_path)
    assert done.returncode == 1
    assert "the Prefect API at http://127.0.0.1:9/api does not answer" in done.stderr
