"""The sandbox's app, one process per running version, standing in for its container image.

No container can run on this machine, so the ``local`` target runs this process for an image:
it serves real HTTP (``GET /`` answers which image and version it is, in the body and in the
``X-Shipflow-Version`` header), and records each request exactly as an instrumented service
would, for Prometheus to scrape at ``/metrics``: ``http_requests_total{app,version,status}``
and the ``http_request_duration_seconds`` histogram. ``/healthz`` (HAProxy's check) is not
counted.

It behaves as the image's environment says (the ``local`` target passes the image config's
``ENV`` on): ``FAULT_RATE`` is the share of requests answered 500 (the bug the demo's second
merge ships), ``LATENCY_MS`` the mean time a request takes.

``python -m shipflow.deployments.sandbox.web_app --port N --app web --version canary
--image REF``
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def command() -> list[str]:
    """How the ``local`` target starts one version of the app (``LocalWorkloads.define``
    fills ``{port}``, ``{app}``, ``{version}`` and ``{image}`` in)."""
    return [
        sys.executable,
        "-m",
        "shipflow.deployments.sandbox.web_app",
        "--port",
        "{port}",
        "--app",
        "{app}",
        "--version",
        "{version}",
        "--image",
        "{image}",
    ]


class App:
    """What one version serves and what it counts."""

    def __init__(
        self, app: str, version: str, image: str, fault_rate: float, latency_ms: float
    ) -> None:
        self.app, self.version, self.image = app, version, image
        self.fault_rate, self.latency_ms = fault_rate, latency_ms
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests_total",
            "Requests served.",
            ["app", "version", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Request latency.",
            ["app", "version"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        # Series exist from the start at 0, so that the first requests count in increase().
        self.requests.labels(app, version, "200")
        self.latency.labels(app, version)
        self.rng = random.Random()  # noqa: S311 - a simulated fault, not security
        self.lock = threading.Lock()
        self.in_flight = 0

    def serve(self) -> tuple[int, bytes]:
        started = time.perf_counter()
        with self.lock:
            self.in_flight += 1
            failed = self.rng.random() < self.fault_rate
            delay = max(0.0, self.rng.gauss(self.latency_ms, self.latency_ms * 0.1)) / 1000
        time.sleep(delay)
        with self.lock:
            self.in_flight -= 1
        status = 500 if failed else 200
        body = f"{self.app} {self.version}: {self.image}\n".encode()
        self.requests.labels(self.app, self.version, str(status)).inc()
        self.latency.labels(self.app, self.version).observe(time.perf_counter() - started)
        return status, body


def handler(app: App) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as HAProxy expects of a server

        def do_GET(self) -> None:
            if self.path.startswith("/metrics"):
                self._send(200, generate_latest(app.registry), CONTENT_TYPE_LATEST)
            elif self.path.startswith("/healthz"):
                self._send(200, b"ok\n", "text/plain")
            else:
                status, body = app.serve()
                self._send(status, body, "text/plain")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Shipflow-Version", app.version)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="shipflow-sandbox-web")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--app", default="web")
    parser.add_argument("--version", default="stable")
    parser.add_argument("--image", default="(unknown)")
    args = parser.parse_args(argv)
    app = App(
        args.app,
        args.version,
        args.image,
        fault_rate=float(os.environ.get("FAULT_RATE", "0") or 0),
        latency_ms=float(os.environ.get("LATENCY_MS", "20") or 20),
    )
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler(app))
    server.daemon_threads = True
    # SIGTERM: stop accepting, let the requests in flight be answered (HAProxy has drained
    # this version by then, so there are few), then exit; idle keep-alives just close.
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stopping.wait()
    server.shutdown()
    deadline = time.monotonic() + 5
    while app.in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    sys.exit(0)


if __name__ == "__main__":
    main()
