"""promote_canary on the ``local`` target: the app's versions are real processes behind a real
HAProxy, a load generator sends real requests through it, Prometheus scrapes the processes.
The run is readable in the UI: one ladder artifact updated in place, one measurement table per
step, events with weight and reason, task runs named after what they did."""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipflow.adapters.haproxy import HAProxyRouter, HAProxyRuntime
from shipflow.adapters.processes import LocalTarget, LocalWorkloads
from shipflow.adapters.prometheus import MetricsTarget
from shipflow.adapters.waiting import poll_until
from shipflow.core.canary import CanaryPolicy, Step
from shipflow.core.metrics import HttpMetrics
from shipflow.deployments import local
from shipflow.deployments.sandbox import web_app
from shipflow.flows.promote_canary import promote_canary, reconcile_canary
from tests.harness.prefect_api import artifacts, events, logs

pytestmark = pytest.mark.usefixtures("prefect_server")

OLD, NEW = "shop/web:1.0.0", "shop/web@sha256:" + "c" * 64


@dataclass
class LocalApp:
    apps: Path
    runtime: HAProxyRuntime
    prometheus: str
    load: str

    def workloads(self) -> LocalWorkloads:
        return LocalWorkloads.at(self.apps, "web")

    def share_seen_by_users(self, since: float, until: float) -> float:
        counts = httpx.get(f"{self.load}/counts", params={"since": since, "until": until}).json()
        canary = sum(n for k, n in counts.items() if k.startswith("canary/"))
        stable = sum(n for k, n in counts.items() if k.startswith("stable/"))
        return 100 * canary / (canary + stable)

    def first_scrape(self, version: str, until: float) -> float:
        """When Prometheus first scraped ``version``'s request counter (a new target is
        scraped a few seconds after it appears)."""
        query = f'http_requests_total{{app="web",version="{version}"}}[5m]'
        answer = httpx.get(
            f"{self.prometheus}/api/v1/query", params={"query": query, "time": until}
        ).json()
        return min(float(t) for r in answer["data"]["result"] for t, _ in r["values"])

    def share_seen_by_prometheus(self, since: float, until: float) -> float:
        """Counted as the canary check counts: each counter's value at ``until`` minus its
        value at ``since`` (both versions scraped by then)."""
        query = HttpMetrics().requests_by_version("web", until - since)
        answer = httpx.get(
            f"{self.prometheus}/api/v1/query", params={"query": query, "time": until}
        ).json()
        by = {r["metric"]["version"]: float(r["value"][1]) for r in answer["data"]["result"]}
        return 100 * by.get("canary", 0.0) / (by.get("canary", 0.0) + by.get("stable", 0.0))


@pytest.fixture
def local_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalApp]:
    """HAProxy in front of the stable version, 100 requests/s through it, Prometheus scraping
    whatever version runs (file_sd targets the local target writes)."""
    monkeypatch.delenv("FAULT_RATE", raising=False)
    runtime = f"unix:{tmp_path / 'haproxy.sock'}"
    frontend, prom, load = local.free_port(), local.free_port(), local.free_port()
    apps = tmp_path / "apps"
    LocalWorkloads.define(apps, "web", web_app.command(), runtime=runtime)
    proxy = local.haproxy(
        frontend, runtime, tmp_path, {"stable": "", "canary": ""}, "web", "/healthz"
    )
    prom_url = f"http://127.0.0.1:{prom}"
    prometheus = local.prometheus(
        prom, tmp_path, [f"127.0.0.1:{load}"], file_sd=[str(apps / "targets" / "*.json")]
    )
    users = local.Service(
        name="load",
        argv=[
            sys.executable,
            "-m",
            "shipflow.deployments.sandbox.load",
            "--target",
            f"http://127.0.0.1:{frontend}/",
            "--rps",
            "100",
            "--port",
            str(load),
        ],
        ready=local.http_ready(f"http://127.0.0.1:{load}/counts", lambda r: r.status_code == 200),
        log_path=tmp_path / "load.log",
    )
    with local.running(proxy), local.running(prometheus):
        workloads = LocalWorkloads.at(apps, "web")
        try:
            workloads.start("web", OLD)
            workloads.wait_ready("web", 10)
            with local.running(users):
                # Prometheus has found and scraped the stable version (file_sd, 1 s) before a
                # run starts, as it has long since on a real fleet.
                stable = f"{prom_url}/api/v1/query"
                query = 'http_requests_total{app="web",version="stable",status="200"} > 0'
                poll_until(  # an empty list would end the wait at once: `or None` keeps looking
                    lambda: (
                        httpx.get(stable, params={"query": query}).json()["data"]["result"] or None
                    ),
                    timeout=30,
                    interval=0.5,
                )
                yield LocalApp(
                    apps, HAProxyRuntime(runtime), f"http://127.0.0.1:{prom}", users_url(load)
                )
        finally:
            workloads.stop_all()


def users_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def policy() -> CanaryPolicy:
    return CanaryPolicy(
        steps=(
            # Longer: Prometheus scrapes the new canary 4-5 s into it, and its share is
            # compared from then on.
            Step(weight=10, hold_seconds=10),
            Step(weight=30, hold_seconds=6),
            Step(weight=50, hold_seconds=6),
        ),
        check_interval_seconds=1,
        min_requests=20,
        min_baseline_requests=20,
        max_sample_age_seconds=5,
        progress_deadline_seconds=20,
    )


def run(app: LocalApp) -> Any:
    return promote_canary(
        app="web",
        image=NEW,
        policy=policy(),
        metrics=MetricsTarget(url=app.prometheus, app="web"),
        local=LocalTarget(root=str(app.apps)),
        return_state=True,
    )


def own_events(began: datetime, until: str) -> list[dict[str, Any]]:
    found = events("shipflow.canary.local.web", until=lambda names: until in names[-1:])
    return [e for e in found if datetime.fromisoformat(e["occurred"]) >= began]


def task_run_names(flow_run_id: Any) -> list[str]:
    answer = httpx.post(
        f"{_api()}/task_runs/filter",
        json={"task_runs": {"flow_run_id": {"any_": [str(flow_run_id)]}}, "limit": 200},
    )
    return [t["name"] for t in answer.json()]


def _api() -> str:
    from prefect.settings import PREFECT_API_URL

    return str(PREFECT_API_URL.value())


def test_a_healthy_canary_takes_real_traffic_by_weight_and_is_promoted(
    local_app: LocalApp,
) -> None:
    began = datetime.now(UTC)
    state = run(local_app)
    assert state.is_completed(), state.message
    assert state.message == f"promoted {NEW} to web (was {OLD})"
    workloads = local_app.workloads()
    assert workloads.image_of("web") == NEW
    assert not workloads.exists("web-canary")
    assert HAProxyRouter(local_app.runtime, "web").canary_weight() == 0
    # All traffic on the new stable, no error: within a few seconds, a whole second of it
    # (requests answered just before the switch can still fall in the last second).
    poll_until(
        lambda: (
            set(httpx.get(f"{local_app.load}/counts", params={"since": time.time() - 1}).json())
            <= {"stable/200"}
        ),
        timeout=5,
        interval=0.25,
    )

    # The users' own counts agree with Prometheus, and both with the step's weight.
    found = own_events(began, "shipflow.canary.promoted")
    starts = [e for e in found if e["event"] == "shipflow.canary.step"]
    ends = [e for e in found if e["event"] == "shipflow.canary.step.passed"]
    assert [e["payload"]["weight"] for e in starts] == [10, 30, 50]
    assert [e["payload"]["weight"] for e in ends] == [10, 30, 50]
    assert all("passed" not in e["payload"]["reason"] for e in starts)
    assert all(e["payload"]["reason"] for e in ends)
    for start, end in zip(starts, ends, strict=True):
        since = math.ceil(datetime.fromisoformat(start["occurred"]).timestamp()) + 1
        until = math.floor(datetime.fromisoformat(end["occurred"]).timestamp())
        weight = start["payload"]["weight"]
        users = local_app.share_seen_by_users(since, until)
        assert abs(users - weight) <= 6, (weight, users)
        # Prometheus against the users over the same seconds, from the canary's first scrape
        # on (what the canary served before it, Prometheus never saw as a difference).
        scraped = max(since, math.ceil(local_app.first_scrape("canary", until)))
        assert until - scraped >= 2, (weight, since, scraped, until)
        users = local_app.share_seen_by_users(scraped, until)
        seen = local_app.share_seen_by_prometheus(scraped, until)
        assert abs(seen - users) <= 4, (weight, users, seen)
        span = until - scraped
        print(f"step {weight} % ({span:.0f} s): users {users:.1f} %, Prometheus {seen:.1f} %")
    promoted = found[-1]
    assert promoted["payload"]["weight"] == 100
    assert promoted["payload"]["reason"] == "all 3 steps passed"
    assert promoted["resource"]["prefect.resource.name"] == "canary of web (local)"

    # One ladder card, updated in place; one measurement table per step.
    run_id = state.state_details.flow_run_id
    cards = artifacts(run_id)
    keys = [a["key"] for a in cards]
    assert keys.count("canary-ladder-local-web") == 1
    assert sorted(k for k in keys if k != "canary-ladder-local-web") == [
        "canary-local-web-step-1",
        "canary-local-web-step-2",
        "canary-local-web-step-3",
    ]
    [ladder] = [a for a in cards if a["key"] == "canary-ladder-local-web"]
    assert "Status: **promoted**" in ladder["data"]
    assert ladder["data"].count("| passed |") == 3
    assert "HAProxy backend web" in ladder["data"]
    for step, weight in enumerate((10, 30, 50), start=1):
        [table] = [a for a in cards if a["key"] == f"canary-local-web-step-{step}"]
        rows = json.loads(table["data"])
        assert rows
        assert {r["weight"] for r in rows} == {f"{weight}%"}
        assert rows[-1]["phase"] == "successful"
        assert table["description"].startswith(f"Step {step}: {weight} %, passed after ")

    names = task_run_names(run_id)
    assert "measure 10 % #1" in names
    assert "set weight 50 %" in names
    assert "promote to stable" in names
    lines = logs(run_id)
    # Each check is one line of the flow's with its numbers, not "Finished in state …".
    checks = sum(name.startswith("measure ") for name in names)
    assert lines.count("Finished in state Completed()") <= len(names) - checks
    assert any(line.startswith("10 % check 1: ") for line in lines)


def test_a_faulty_canary_is_rolled_back_with_the_failed_measurement(
    local_app: LocalApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAULT_RATE", "0.3")  # what the new version's image ENV would say
    began = datetime.now(UTC)
    state = run(local_app)
    assert state.is_failed()
    assert state.message.startswith("rolled back at 10 %: failed: "), state.message
    assert "canary error rate" in state.message
    workloads = local_app.workloads()
    assert workloads.image_of("web") == OLD
    assert not workloads.exists("web-canary")
    assert HAProxyRouter(local_app.runtime, "web").canary_weight() == 0

    [rolled_back] = [
        e
        for e in own_events(began, "shipflow.canary.rolled_back")
        if e["event"] == "shipflow.canary.rolled_back"
    ]
    assert rolled_back["payload"]["weight"] == 10
    assert rolled_back["payload"]["outcome"] == "failed"
    assert "canary error rate" in rolled_back["payload"]["reason"]
    cards = artifacts(state.state_details.flow_run_id)
    [ladder] = [a for a in cards if a["key"] == "canary-ladder-local-web"]
    assert "Status: **rolled back**: at 10 %: failed: " in ladder["data"]
    assert "| failed |" in ladder["data"]
    assert [a["key"] for a in cards if a["key"].startswith("canary-local-web-step-")] == [
        "canary-local-web-step-1"
    ]


def test_reconcile_takes_back_a_local_canary_no_run_watches(local_app: LocalApp) -> None:
    workloads = local_app.workloads()
    workloads.ensure_canary("web", "web-canary", NEW)
    workloads.wait_ready("web-canary", 10)
    router = HAProxyRouter(local_app.runtime, "web")
    router.set_canary_weight(25)  # a run killed outright left it so
    state = reconcile_canary(
        app="web", local=LocalTarget(root=str(local_app.apps)), return_state=True
    )
    assert state.is_completed(), state.message
    assert state.message.startswith("took 25 % of traffic and 1 pods back from the canary of web")
    assert router.canary_weight() == 0
    assert not workloads.exists("web-canary")
    assert workloads.image_of("web") == OLD
