"""A test app that serves traffic for a stable and a canary version and exposes its metrics.

Run as ``python -m shipflow.deployments.sandbox.metrics_app PORT``. A background loop plays the
traffic each version receives (requests/s, error rate, latency), recording it exactly as an
instrumented service would: ``http_requests_total{app,version,status}`` and the
``http_request_duration_seconds`` histogram. ``POST /control`` with a JSON body changes one
app version's behaviour while it runs, e.g. ``{"app": "shop", "version": "canary",
"error_rate": 0.3}`` (tests use an app name of their own so they do not disturb each other);
``GET /control`` returns the current settings.
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

REGISTRY = CollectorRegistry()
REQUESTS = Counter(
    "http_requests_total", "Requests served.", ["app", "version", "status"], registry=REGISTRY
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Request latency.",
    ["app", "version"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)

_lock = threading.Lock()
_settings: dict[str, dict[str, float]] = {
    "web/stable": {"rps": 200.0, "error_rate": 0.01, "latency_ms": 40.0},
}
_errors_owed: dict[str, int] = {}


def _play(tick: float = 0.05) -> None:
    rng = random.Random(7)  # noqa: S311 - simulated traffic, not security
    carry: dict[str, float] = {}
    while True:
        with _lock:
            snapshot = {v: dict(s) for v, s in _settings.items()}
            owed = dict(_errors_owed)
            _errors_owed.clear()
        for key, s in snapshot.items():
            app, version = key.split("/", 1)
            carry[key] = carry.get(key, 0.0) + s["rps"] * tick
            n = int(carry[key])
            carry[key] -= n
            failed = sum(rng.random() < s["error_rate"] for _ in range(n))
            extra = owed.get(key, 0)  # injected errors are extra requests that failed
            if n or extra:
                REQUESTS.labels(app, version, "200").inc(n - failed)
                REQUESTS.labels(app, version, "500").inc(failed + extra)
            latency = LATENCY.labels(app, version)
            for _ in range(n):
                latency.observe(max(0.0, rng.gauss(s["latency_ms"], s["latency_ms"] * 0.1)) / 1000)
        time.sleep(tick)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/metrics"):
            self._send(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
        elif self.path.startswith("/control"):
            with _lock:
                self._send(200, json.dumps(_settings).encode(), "application/json")
        else:
            self._send(404, b"not found\n", "text/plain")

    def do_POST(self) -> None:
        if not self.path.startswith("/control"):
            self._send(404, b"not found\n", "text/plain")
            return
        body: dict[str, Any] = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        key = f"{body.pop('app', 'web')}/{body.pop('version')}"
        with _lock:
            if "inject_errors" in body:
                _errors_owed[key] = _errors_owed.get(key, 0) + int(body.pop("inject_errors"))
            _settings.setdefault(key, {"rps": 0.0, "error_rate": 0.0, "latency_ms": 40.0})
            _settings[key].update({k: float(v) for k, v in body.items()})
            reply = json.dumps(_settings).encode()
        self._send(200, reply, "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> None:
    port = int(sys.argv[1])
    threading.Thread(target=_play, daemon=True).start()
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
