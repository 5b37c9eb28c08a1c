"""Seconds to canary weight 0: from a fault in the canary, against the floor Prometheus sets,
and from Prometheus going away, against the bound the analysis promises.

Starts a Prefect server, the test app (stable + canary traffic), Prometheus (1 s scrape) and
the fake Kubernetes API server, all on 127.0.0.1. promote_canary holds a canary at 25 %.

- A bad canary: for each hold length, after a few healthy checks the canary's error rate is
  turned to 30 % at a known time, and the route's canary weight is polled until it is 0. The
  floor is what Prometheus alone costs: one scrape interval (a check judges the counts since
  the step began, so the first scrape of bad data is enough). Goal: within one check interval
  of that floor, whatever the hold (a 10-minute hold must not delay a rollback).
- Prometheus down (a Prometheus of its own, healthy canary): killed (connection refused) or
  frozen with SIGSTOP (every query times out) after a few healthy checks. Bound:
  (consecutive_error_limit + 1) x check interval + one query timeout — intervals, not the
  retries and backoff of a client library — + 0.5 s for the rollback's own writes (route
  weight) and this script's 0.2 s poll of the route.

Run: .venv/bin/python benchmarks/rollback_latency.py [HOLD_SECONDS ...]  (default 60 600)
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from shipflow.deployments import local  # noqa: E402

SCRAPE = 1.0
INTERVAL = 2.0
RPS = 600.0
ERROR_LIMIT = 4
QUERY_TIMEOUT = INTERVAL / 2  # what a check's queries may take: at most half the interval
ROLLBACK_SLACK = 0.5  # the rollback's route write, and the 0.2 s poll that sees it


class _App:
    """The control side of the test app."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"

    def control(self, app: str, version: str, **settings: float) -> None:
        body = {"app": app, "version": version, **settings}
        httpx.post(f"{self.url}/control", json=body).raise_for_status()


def main(holds: list[float]) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="shipflow-bench-"))
    api_port, app_port, prom_port = local.free_port(), local.free_port(), local.free_port()
    app = local.metrics_app(app_port, workdir)
    prom = local.prometheus(prom_port, workdir, [f"127.0.0.1:{app_port}"], f"{SCRAPE:g}s")
    with (
        local.running(local.prefect_server(api_port, workdir)),
        local.running(app),
        local.running(prom),
    ):
        os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{api_port}/api"
        os.environ["PREFECT_HOME"] = str(workdir / "prefect-home")
        os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
        from shipflow.deployments.sandbox.fake_kube import FakeKube

        fake = FakeKube(rollout_delay=0.3).start()
        kubeconfig = workdir / "kubeconfig"
        kubeconfig.write_text(json.dumps(fake.kubeconfig()))
        os.environ["KUBECONFIG"] = str(kubeconfig)
        control = _App(app_port)
        try:
            floor, goal = SCRAPE, SCRAPE + INTERVAL
            print(
                f"A bad canary (30 % errors at 25 %): scrape {SCRAPE:g}s, check interval "
                f"{INTERVAL:g}s: floor {floor:g}s, goal <= {goal:g}s"
            )
            print(f"{'hold s':>7} {'fault→0 s':>10} {'floor s':>8} {'goal s':>7}  verdict")
            for hold in holds:
                url = f"http://127.0.0.1:{prom_port}"
                seconds, _ = measure(fake, control, url, hold, _bad_canary(control))
                verdict = "ok" if seconds <= goal else "SLOWER THAN GOAL"
                print(f"{hold:>7.0f} {seconds:>10.2f} {floor:>8.1f} {goal:>7.1f}  {verdict}")

            bound = (ERROR_LIMIT + 1) * INTERVAL + QUERY_TIMEOUT + ROLLBACK_SLACK
            print(
                f"\nPrometheus down (healthy canary at 25 %): consecutive_error_limit "
                f"{ERROR_LIMIT}, check interval {INTERVAL:g}s, query timeout "
                f"{QUERY_TIMEOUT:g}s, rollback {ROLLBACK_SLACK:g}s: bound {bound:g}s"
            )
            print(f"{'prometheus':>11} {'down→0 s':>9} {'bound s':>8}  verdict  reason")
            for how in ("killed", "frozen"):
                own_port = local.free_port()
                own_dir = workdir / f"prometheus-{how}"
                own_dir.mkdir()
                own = local.prometheus(own_port, own_dir, [f"127.0.0.1:{app_port}"], f"{SCRAPE:g}s")
                with local.running(own):
                    _wait_scraped(f"http://127.0.0.1:{own_port}")
                    seconds, message = measure(
                        fake, control, f"http://127.0.0.1:{own_port}", 600, _down(own, how)
                    )
                    if how == "frozen" and own.proc is not None:
                        os.killpg(own.proc.pid, signal.SIGCONT)
                verdict = "ok" if seconds <= bound else "SLOWER THAN BOUND"
                print(f"{how:>11} {seconds:>9.2f} {bound:>8.1f}  {verdict:>7}  {message[:90]}")
        finally:
            fake.stop()


def _bad_canary(control: _App) -> Any:
    def fault(label: str) -> None:
        control.control(label, "canary", error_rate=0.30)

    return fault


def _down(service: local.Service, how: str) -> Any:
    def fault(label: str) -> None:
        if how == "killed":
            service.kill()
        elif service.proc is not None:
            os.killpg(service.proc.pid, signal.SIGSTOP)

    return fault


def _wait_scraped(url: str) -> None:
    from tests.harness.prefect_api import wait_until

    def up() -> bool:
        answer = httpx.get(f"{url}/api/v1/query", params={"query": "up"}).json()
        return bool(answer["data"]["result"])

    wait_until(up, timeout=30, what="Prometheus scraping the app")


def measure(fake: Any, control: _App, prom_url: str, hold: float, fault: Any) -> tuple[float, str]:
    """Seconds from ``fault`` to the canary's weight being 0, and the run's final message."""
    from kubernetes import config as k8s_config

    from shipflow.adapters.kubernetes import ClusterTarget
    from shipflow.adapters.prometheus import MetricsTarget
    from shipflow.core.canary import CanaryPolicy, Step
    from shipflow.deployments.sandbox.cluster import create_app
    from shipflow.deployments.sandbox.traffic import canary_share, traffic
    from shipflow.flows.promote_canary import promote_canary
    from tests.harness.prefect_api import start_in_background, wait_until

    kube = create_app(k8s_config.new_client_from_config(config_file=os.environ["KUBECONFIG"]))
    label = f"bench-{uuid.uuid4().hex[:6]}"
    control.control(label, "stable", error_rate=0.01)
    control.control(label, "canary", error_rate=0.01)
    policy = CanaryPolicy(
        steps=(Step(weight=25, hold_seconds=hold),),
        check_interval_seconds=INTERVAL,
        consecutive_error_limit=ERROR_LIMIT,
        min_requests=20,
        min_baseline_requests=20,
        max_sample_age_seconds=10,
    )
    with traffic(fake, control, kube.namespace, "gateway", label, rps=RPS):
        run = start_in_background(
            promote_canary,
            app="web",
            image="registry.local/web:2.0.0",
            policy=policy,
            cluster=ClusterTarget(namespace=kube.namespace),
            metrics=MetricsTarget(url=prom_url, app=label, timeout_seconds=QUERY_TIMEOUT),
        )
        wait_until(lambda: canary_share(fake, kube.namespace, "gateway") == 0.25, timeout=60)
        time.sleep(3 * INTERVAL)  # a few healthy checks first
        fault(label)
        began = time.monotonic()
        wait_until(lambda: canary_share(fake, kube.namespace, "gateway") == 0, timeout=hold + 60)
        seconds = time.monotonic() - began
        state = run.join()
    assert state.is_failed(), state.message
    return seconds, str(state.message)


if __name__ == "__main__":
    main([float(a) for a in sys.argv[1:]] or [60, 600])
