"""`shipflow plan --run` as a user runs it, against the session's real Prefect server: a run of
the strategy's deployment with the plan's parameters, a run in-process with --local, and the
refusals (no server, no such deployment, another flow's deployment, --dry-run)."""

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

from shipflow.core.liveness import DeadRunPolicy
from shipflow.deployments.production import apply_deployment, ensure_work_pool, load_definitions
from shipflow.deployments.rollouts import ENTRYPOINTS
from shipflow.deployments.sandbox.fake_kube import FakeKube
from tests.conftest import PrefectServer

SHIPFLOW = str(Path(sys.executable).with_name("shipflow"))
IMAGE = "registry.example.com/shop/web:1.4.2"
SPEC = f"""\
name: web
image: {IMAGE}
replicas: 4
namespace: shop
slo: {{ objective: 0.995 }}
traffic_rps: 200
"""
# Which deployment (as `shipflow deploy` names it) gets each strategy's plan.
DEPLOYMENTS = {
    "canary": "promote_canary/promote-canary",
    "blue-green": "blue_green/blue-green",
    "rolling": "rolling/rolling",
    "feature-flag": "ramp_feature_flag/ramp-feature-flag",
}


def shipflow(api_url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SHIPFLOW, *args],
        cwd=cwd,
        env={**os.environ, "PREFECT_API_URL": api_url},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def deployed(prefect_server: PrefectServer) -> dict[str, str]:
    """The packaged deployments of the four strategy flows, and one more rolling deployment
    under a name of the test's own, on a pool no worker polls (their runs stay scheduled).
    Returns deployment ids by full name."""
    pool = f"plan-run-{uuid.uuid4().hex[:6]}"
    ensure_work_pool(pool, lambda what, outcome: None)
    specs = [s for s in load_definitions() if s.entrypoint in ENTRYPOINTS.values()]
    rolling = next(s for s in specs if s.name == "rolling")
    own = rolling.model_copy(update={"name": f"rolling-{uuid.uuid4().hex[:6]}"})
    for spec in [*specs, own]:
        apply_deployment(spec, pool, DeadRunPolicy(), lambda what, outcome: None)
    found = httpx.post(
        f"{prefect_server.api_url}/deployments/filter",
        json={"work_pools": {"name": {"any_": [pool]}}, "limit": 50},
    ).json()
    flows = {
        f["id"]: f["name"]
        for f in httpx.post(f"{prefect_server.api_url}/flows/filter", json={}).json()
    }
    return {f"{flows[d['flow_id']]}/{d['name']}": d["id"] for d in found}


def flow_run(api_url: str, run_id: str) -> dict[str, Any]:
    response = httpx.get(f"{api_url}/flow_runs/{run_id}")
    response.raise_for_status()
    run: dict[str, Any] = response.json()
    return run


def runs_of(api_url: str, deployment_id: str) -> int:
    return len(
        httpx.post(
            f"{api_url}/flow_runs/filter",
            json={"deployments": {"id": {"any_": [deployment_id]}}},
        ).json()
    )


def write_spec(tmp_path: Path, text: str = SPEC) -> Path:
    spec = tmp_path / "web.yaml"
    spec.write_text(text)
    return spec


@pytest.mark.parametrize("strategy", list(DEPLOYMENTS))
def test_run_starts_the_strategys_deployment_with_the_plans_parameters(
    prefect_server: PrefectServer, deployed: dict[str, str], tmp_path: Path, strategy: str
) -> None:
    spec = write_spec(tmp_path)
    done = shipflow(
        prefect_server.api_url,
        tmp_path,
        *("plan", str(spec), "--strategy", strategy, "-o", "out", "--run", "--json"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert (tmp_path / "out" / "plan.md").is_file()  # the plan is written, then handed over
    started = result["run"]
    assert started["deployment"] == DEPLOYMENTS[strategy]
    assert (
        started["url"] == f"{os.environ['PREFECT_UI_URL']}/runs/flow-run/{started['flow_run_id']}"
    )
    run = flow_run(prefect_server.api_url, started["flow_run_id"])
    assert run["deployment_id"] == deployed[DEPLOYMENTS[strategy]]
    params = run["parameters"]
    assert params["app"] == "web"
    assert params["cluster"]["namespace"] == "shop"
    assert params["slo"]["objective"] == 0.995
    if strategy == "feature-flag":
        # The image goes out with the plan's Deployment, flag off; the run ramps the flag.
        assert "image" not in params
        assert params["flags"]["config_map"] == "web-flags"
        assert params["policy"]["flag"] == "web-new-feature"
        assert [s["weight"] for s in params["policy"]["steps"]] == [5, 25, 50]
    else:
        assert params["image"] == IMAGE
    if strategy == "canary":
        assert params["router"]["kind"] == "gateway"
        assert params["router"]["name"] == "web"  # the plan's HTTPRoute
    if strategy == "rolling":
        assert (params["policy"]["max_surge"], params["policy"]["max_unavailable"]) == ("25%", 0)
    if strategy == "blue-green":
        assert params["policy"]["post_promotion_seconds"] == 300


def test_run_prints_the_run_url_and_runs_the_named_deployment(
    prefect_server: PrefectServer, deployed: dict[str, str], tmp_path: Path
) -> None:
    own = next(n for n in deployed if n.startswith("rolling/rolling-"))
    spec = write_spec(tmp_path)
    done = shipflow(
        prefect_server.api_url,
        tmp_path,
        *("plan", str(spec), "--strategy", "rolling", "--run"),
        *("--deployment", own.split("/", 1)[1]),  # the flow's part may be left out
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = done.stdout.strip().splitlines()[-1]
    assert line.startswith(f"started {own}: {os.environ['PREFECT_UI_URL']}/runs/flow-run/")
    run = flow_run(prefect_server.api_url, line.rsplit("/", 1)[1])
    assert run["deployment_id"] == deployed[own]
    assert run["parameters"]["image"] == IMAGE


def test_no_prefect_server_is_one_line_exit_1_and_nothing_written(tmp_path: Path) -> None:
    spec = write_spec(tmp_path)
    done = shipflow(
        "http://127.0.0.1:9/api",
        tmp_path,
        *("plan", str(spec), "--strategy", "rolling", "-o", "out", "--run"),
    )
    assert done.returncode == 1
    assert "no Prefect server answers at http://127.0.0.1:9/api" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("strategy", "name", "words"),
    [
        ("rolling", "rolling/no-such-deployment", "'rolling/no-such-deployment' does not exist"),
        ("canary", "rolling/rolling", "'rolling/rolling' runs the flow 'rolling', not"),
    ],
)
def test_a_deployment_that_is_not_there_or_runs_another_flow_is_refused(
    prefect_server: PrefectServer,
    deployed: dict[str, str],
    tmp_path: Path,
    strategy: str,
    name: str,
    words: str,
) -> None:
    before = runs_of(prefect_server.api_url, deployed["rolling/rolling"])
    spec = write_spec(tmp_path)
    done = shipflow(
        prefect_server.api_url,
        tmp_path,
        *("plan", str(spec), "--strategy", strategy, "-o", "out", "--run", "--deployment", name),
    )
    assert done.returncode == 1
    assert words in done.stderr.replace("\n", " ")
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()
    assert runs_of(prefect_server.api_url, deployed["rolling/rolling"]) == before


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--run", "--dry-run"], "--run: a --dry-run starts nothing"),
        (["--local"], "--local: only with --run"),
        (["--deployment", "rolling/rolling"], "--deployment: only with --run"),
        (["--run", "--local", "--deployment", "rolling/rolling"], "--local: runs the flow here"),
    ],
)
def test_options_that_contradict_each_other_are_a_usage_error(
    prefect_server: PrefectServer,
    deployed: dict[str, str],
    tmp_path: Path,
    args: list[str],
    words: str,
) -> None:
    before = runs_of(prefect_server.api_url, deployed["rolling/rolling"])
    spec = write_spec(tmp_path)
    done = shipflow(
        prefect_server.api_url,
        tmp_path,
        *("plan", str(spec), "--strategy", "rolling", "-o", "out", *args),
    )
    assert done.returncode == 64
    assert words in done.stderr
    assert not (tmp_path / "out").exists()
    assert runs_of(prefect_server.api_url, deployed["rolling/rolling"]) == before


def test_run_local_runs_the_flow_here_and_exits_1_when_it_does_not_complete(
    prefect_server: PrefectServer, fake_kube: FakeKube, tmp_path: Path
) -> None:
    """No Deployment ``web`` in the namespace: the rolling flow, run in this process against
    the cluster of KUBECONFIG, fails, and the command says why and exits 1."""
    namespace = f"empty-{uuid.uuid4().hex[:6]}"
    spec = write_spec(
        tmp_path, SPEC.replace("namespace: shop", f"namespace: {namespace}").replace("slo:", "#")
    )
    done = shipflow(
        prefect_server.api_url,
        tmp_path,
        *("plan", str(spec), "--strategy", "rolling", "-o", "out", "--run", "--local", "--json"),
    )
    assert done.returncode == 1, done.stderr[-3000:]
    started = json.loads(done.stdout)["run"]
    assert started["state"] == "FAILED"
    assert "web" in started["message"]
    run = flow_run(prefect_server.api_url, started["flow_run_id"])
    assert run["deployment_id"] is None  # in this process, not through a deployment
    assert run["parameters"]["cluster"]["namespace"] == namespace
    assert run["parameters"]["image"] == IMAGE
    assert (tmp_path / "out" / "plan.md").is_file()
