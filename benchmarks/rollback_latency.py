"""Seconds from a fault to the canary's weight being 0, against the floor Prometheus sets.

Starts a Prefect server, the test app (stable + canary traffic), Prometheus (1 s scrape) and
the fake Kubernetes API server, all on 127.0.0.1. For each hold length, promote_canary holds
the canary at 25 %; a few checks after the step starts, the canary's error rate is turned to
30 % at a known time, and the route's canary weight is polled until it is 0.

The floor is what Prometheus alone costs: one scrape interval plus the query window (the
window must fill with bad data before a rate can show it). Goal: fault → weight 0 within one
check interval of that floor, whatever the hold (a 10-minute hold must not delay a rollback).

Run: .venv/bin/python benchmarks/rollback_latency.py [HOLD_SECONDS ...]  (default 60 600)
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from shipflow.deployments import local  # noqa: E402

SCRAPE = 1.0
WINDOW = 10.0
INTERVAL = 2.0
RPS = 600.0


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
        try:
            print(
                f"scrape {SCRAPE:g}s, window {WINDOW:g}s, check interval {INTERVAL:g}s: "
                f"floor {SCRAPE + WINDOW:g}s, goal <= {SCRAPE + WINDOW + INTERVAL:g}s"
            )
            print(f"{'hold s':>7} {'fault→0 s':>10} {'floor s':>8} {'goal s':>7}  verdict")
            for hold in holds:
                seconds = measure(fake, app_port, prom_port, hold)
                goal = SCRAPE + WINDOW + INTERVAL
                verdict = "ok" if seconds <= goal else "SLOWER THAN GOAL"
                print(
                    f"{hold:>7.0f} {seconds:>10.2f} {SCRAPE + WINDOW:>8.1f} {goal:>7.1f}  {verdict}"
                )
        finally:
            fake.stop()


def measure(fake: object, app_port: int, prom_port: int, hold: float) -> float:
    from kubernetes import config as k8s_config

    from shipflow.adapters.kubernetes import ClusterTarget
    from shipflow.adapters.prometheus import MetricsTarget
    from shipflow.core.analysis import CanaryPolicy, Step
    from shipflow.deployments.sandbox.cluster import create_app
    from shipflow.deployments.sandbox.traffic import canary_share, traffic
    from shipflow.flows.promote_canary import promote_canary
    from tests.harness.prefect_api import start_in_background, wait_until

    class _App:  # the control side of the test app
        url = f"http://127.0.0.1:{app_port}"

        def control(self, app: str, version: str, **settings: float) -> None:
            body = {"app": app, "version": version, **settings}
            httpx.post(f"{self.url}/control", json=body).raise_for_status()

    control = _App()
    kube = create_app(k8s_config.new_client_from_config(config_file=os.environ["KUBECONFIG"]))
    label = f"bench-{uuid.uuid4().hex[:6]}"
    control.control(label, "stable", error_rate=0.01)
    control.control(label, "canary", error_rate=0.01)
    policy = CanaryPolicy(
        steps=(Step(weight=25, hold_seconds=hold),),
        check_interval_seconds=INTERVAL,
        window_seconds=WINDOW,
        min_requests=20,
    )
    with traffic(fake, control, kube.namespace, "gateway", label, rps=RPS):
        run = start_in_background(
            promote_canary,
            app="web",
            image="registry.local/web:2.0.0",
            policy=policy,
            cluster=ClusterTarget(namespace=kube.namespace),
            metrics=MetricsTarget(url=f"http://127.0.0.1:{prom_port}", app=label),
        )
        wait_until(lambda: canary_share(fake, kube.namespace, "gateway") == 0.25, timeout=60)
        time.sleep(WINDOW)  # a full window of healthy data first
        control.control(label, "canary", error_rate=0.30)
        fault = time.monotonic()
        wait_until(lambda: canary_share(fake, kube.namespace, "gateway") == 0, timeout=hold + 60)
        seconds = time.monotonic() - fault
        state = run.join()
    assert state.is_failed(), state.message
    return seconds


if __name__ == "__main__":
    main([float(a) for a in sys.argv[1:]] or [60, 600])
