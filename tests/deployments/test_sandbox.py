"""`shipflow sandbox up|down|status`: everything on 127.0.0.1 with the Prefect UI and real
traffic through HAProxy; `down` leaves no process of the sandbox and no listening port, and
touches nothing it did not start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from shipflow.adapters.processes import alive, start_ticks
from shipflow.adapters.waiting import poll_until
from shipflow.deployments.production import load_definitions
from shipflow.deployments.sandbox.services import listening

CLI = str(Path(sys.executable).with_name("shipflow"))


def shipflow(
    *argv: str, env: dict[str, str], timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *argv], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_up_serves_the_ui_and_real_traffic_and_down_leaves_nothing(tmp_path: Path) -> None:
    root = tmp_path / "sandbox"
    env = {**os.environ, "SHIPFLOW_SANDBOX_DIR": str(root)}
    bystander = subprocess.Popen(["sleep", "300"])  # not the sandbox's: must survive down
    try:
        started = shipflow("sandbox", "up", "--json", env=env)
        assert started.returncode == 0, started.stderr
        report: dict[str, Any] = json.loads(started.stdout)
        assert report["started"] is True
        urls = report["urls"]

        # The Prefect UI answers a browser's navigation to a run page, and knows its API.
        ui = httpx.get(f"{urls['Prefect UI']}/runs", headers={"Accept": "text/html"})
        assert ui.status_code == 200
        assert "<!DOCTYPE html>" in ui.text
        settings = httpx.get(f"{urls['Prefect UI']}/ui-settings").json()
        assert settings["api_url"] == urls["Prefect API"]
        # The worker serves the release deployment, triggered by merges as prefect.yaml says.
        deployment = httpx.get(f"{urls['Prefect API']}/deployments/name/release/release")
        assert deployment.status_code == 200
        related = f"{urls['Prefect API']}/automations/related-to/prefect.deployment."
        owned = poll_until(
            lambda: httpx.get(related + deployment.json()["id"]).json() or None,
            timeout=10,
            interval=0.2,
        )
        (packaged,) = next(s for s in load_definitions() if s.name == "release").triggers
        assert [a["trigger"]["expect"] for a in owned] == [packaged["expect"]]
        assert [a["actions"][0]["parameters"] for a in owned] == [packaged["parameters"]]

        # Real requests through HAProxy reach the stable version; Prometheus scrapes the app.
        def answered() -> dict[str, int] | None:
            counts: dict[str, int] = httpx.get(f"{urls['load generator']}/counts").json()
            return counts if counts.get("stable/200", 0) > 50 else None

        counts = poll_until(answered, timeout=30, interval=0.5)
        assert set(counts) == {"stable/200"}, counts
        through = httpx.get(urls["app through HAProxy"])
        assert through.text == "web stable: registry.local/shop/web:1.0.0\n"

        def scraped() -> list[Any] | None:
            query = 'sum by (version) (http_requests_total{job="local",app="web"})'
            answer = httpx.get(f"{urls['Prometheus']}/api/v1/query", params={"query": query})
            found: list[Any] = answer.json()["data"]["result"]
            return found or None

        assert poll_until(scraped, timeout=30, interval=0.5)[0]["metric"] == {"version": "stable"}

        status = shipflow("sandbox", "status", "--json", env=env)
        assert status.returncode == 0, status.stderr
        processes = json.loads(status.stdout)["processes"]
        names = {p["name"] for p in processes}
        assert names >= {"prefect", "worker", "prometheus", "registry", "moto", "haproxy"}
        assert names >= {"webhook", "kube", "load", "web-stable"}
        assert all(p["running"] for p in processes)

        again = shipflow("sandbox", "up", env=env)
        assert again.returncode == 0
        assert "the sandbox is already up" in again.stdout

        record = json.loads((root / "sandbox.json").read_text())["processes"]
        pids = [(p["pid"], p["ticks"]) for p in record]
        pids += [(p["pid"], start_ticks(p["pid"])) for p in processes if p["name"] == "web-stable"]
        ports = [p["port"] for p in processes if p["port"]]

        began = time.monotonic()
        stopped = shipflow("sandbox", "down", env=env)
        took = time.monotonic() - began
        assert stopped.returncode == 0, stopped.stderr
        assert "sandbox stopped" in stopped.stdout
        assert not [pid for pid, ticks in pids if alive(pid, ticks)]
        assert not [port for port in ports if listening(port)]
        assert not root.exists()
        assert bystander.poll() is None  # not the sandbox's, so untouched
        assert took < 30, f"down took {took:.1f}s"

        after = shipflow("sandbox", "status", env=env)
        assert after.returncode == 1
        assert "no sandbox is running" in after.stdout
    finally:
        bystander.kill()
        bystander.wait()
        if root.exists():
            shipflow("sandbox", "down", env=env)


def test_a_missing_system_tool_is_named_with_the_command_that_installs_it(
    tmp_path: Path,
) -> None:
    # Only the venv's own executables: prometheus, docker-registry, haproxy… are "missing".
    env = {
        **os.environ,
        "PATH": str(Path(sys.executable).parent),
        "SHIPFLOW_SANDBOX_DIR": str(tmp_path / "sandbox"),
    }
    began = time.monotonic()
    done = shipflow("sandbox", "up", env=env)
    took = time.monotonic() - began
    assert done.returncode == 1, done.stderr
    assert "haproxy is not installed: apt-get install -y --no-install-recommends haproxy" in (
        done.stderr.replace("\n", "")
    )
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "sandbox").exists()
    assert took < 5, took
