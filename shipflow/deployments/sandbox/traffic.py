"""Plays the users of the Kubernetes target in tests (no pod can run here): the metrics app
splits a fixed request rate between stable and canary the way the cluster's router says, read
straight from the fake API server's store. (The sandbox's own users are real: its load
generator sends requests through HAProxy to the local target's processes.)"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

import httpx

from shipflow.deployments.sandbox.cluster import APP
from shipflow.deployments.sandbox.fake_kube import FakeKube


class TrafficControl(Protocol):
    """The control side of the metrics app (tests' MetricsApp, the demo's client)."""

    def control(self, app: str, version: str, **settings: float) -> object: ...


class MetricsAppClient:
    """``POST /control`` of a running metrics app."""

    def __init__(self, url: str) -> None:
        self.url = url

    def control(self, app: str, version: str, **settings: float) -> object:
        response = httpx.post(
            f"{self.url}/control", json={"app": app, "version": version, **settings}
        )
        response.raise_for_status()
        return response.json()


def canary_share(fake: FakeKube, namespace: str, kind: str) -> float:
    """The canary's share of traffic (0..1) as the router object in the store says."""
    objects = fake.store.objects
    with fake.store.lock:
        if kind == "gateway":
            route = objects.get(("httproutes", namespace, APP))
            refs = route["spec"]["rules"][0]["backendRefs"] if route else []
            weights = {r["name"]: r.get("weight", 1) for r in refs}
            canary, stable = weights.get(f"{APP}-canary", 0), weights.get(f"{APP}-stable", 0)
        elif kind == "istio":
            vs = objects.get(("virtualservices", namespace, APP))
            routes = vs["spec"]["http"][0]["route"] if vs else []
            weights = {r["destination"]["host"]: r.get("weight", 0) for r in routes}
            canary, stable = weights.get(f"{APP}-canary", 0), weights.get(f"{APP}-stable", 0)
        elif kind == "nginx":
            ing = objects.get(("ingresses", namespace, f"{APP}-canary"))
            notes = ing["metadata"].get("annotations", {}) if ing else {}
            canary = int(notes.get("nginx.ingress.kubernetes.io/canary-weight", "0"))
            stable = 100 - canary
        else:

            def ready(name: str) -> int:
                dep = objects.get(("deployments", namespace, name))
                return int(dep["status"].get("availableReplicas", 0)) if dep else 0

            canary, stable = ready(f"{APP}-canary"), ready(APP)
    total = canary + stable
    return canary / total if total else 0.0


@contextmanager
def traffic(
    fake: FakeKube,
    metrics_app: TrafficControl,
    namespace: str,
    kind: str,
    metrics_label: str,
    rps: float = 400,
) -> Iterator[None]:
    stop = threading.Event()

    def follow() -> None:
        last = None
        while not stop.is_set():
            share = canary_share(fake, namespace, kind)
            if share != last:
                metrics_app.control(metrics_label, "canary", rps=rps * share)
                metrics_app.control(metrics_label, "stable", rps=rps * (1 - share))
                last = share
            stop.wait(0.1)

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)
        metrics_app.control(metrics_label, "canary", rps=0)
        metrics_app.control(metrics_label, "stable", rps=0)
