"""The sandbox's users: a steady request rate through HAProxy, counted by the version that
answered.

Every answer is counted by its ``X-Shipflow-Version`` header (stable, canary, or ``proxy``
when HAProxy answered itself, e.g. 503) and status, in one-second buckets kept for an hour.
``GET /counts?since=T&until=T`` (Unix seconds) sums them, so a share seen by the users can be
checked against what Prometheus scraped from the app; ``/metrics`` has the same counts as
``shipflow_load_requests_total{version,status}``.

``python -m shipflow.deployments.sandbox.load --target http://127.0.0.1:PORT/ --rps 100
--port N``
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter
from prometheus_client.exposition import generate_latest

KEEP_SECONDS = 3600


class Tally:
    """Answers per second, version and status."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.buckets: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.registry = CollectorRegistry()
        self.total = Counter(
            "shipflow_load_requests_total",
            "Answers the load generator got.",
            ["version", "status"],
            registry=self.registry,
        )

    def add(self, at: float, version: str, status: str) -> None:
        second = int(at)
        with self.lock:
            self.buckets[second][f"{version}/{status}"] += 1
            for old in [s for s in self.buckets if s < second - KEEP_SECONDS]:
                del self.buckets[old]
        self.total.labels(version, status).inc()

    def counts(self, since: float, until: float) -> dict[str, int]:
        summed: dict[str, int] = defaultdict(int)
        with self.lock:
            for second, bucket in self.buckets.items():
                if since <= second < until:
                    for key, n in bucket.items():
                        summed[key] += n
        return dict(summed)


def users(target: str, rate: float, tally: Tally, stop: threading.Event) -> None:
    """One user: ``rate`` requests per second on one keep-alive connection, on schedule."""
    interval = 1.0 / rate
    with httpx.Client(timeout=5.0) as client:
        due = time.monotonic()
        while not stop.is_set():
            try:
                answer = client.get(target)
                version = answer.headers.get("X-Shipflow-Version", "proxy")
                tally.add(time.time(), version, str(answer.status_code))
            except httpx.HTTPError as exc:
                tally.add(time.time(), "proxy", type(exc).__name__)
            due += interval
            late = time.monotonic() - due
            if late > 1.0:  # fell behind (a slow answer): keep the rate, do not burst
                due = time.monotonic()
            stop.wait(max(0.0, due - time.monotonic()))


def handler(tally: Tally) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            if url.path == "/metrics":
                self._send(generate_latest(tally.registry), CONTENT_TYPE_LATEST)
            elif url.path == "/counts":
                query = parse_qs(url.query)
                since = float(query.get("since", ["0"])[0])
                until = float(query.get("until", [str(time.time() + 1)])[0])
                body = json.dumps(tally.counts(since, until)).encode()
                self._send(body, "application/json")
            else:
                self.send_error(404)

        def _send(self, body: bytes, content_type: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="shipflow-sandbox-load")
    parser.add_argument("--target", required=True)
    parser.add_argument("--rps", type=float, default=100.0)
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    tally, stop = Tally(), threading.Event()
    for _ in range(args.users):
        threading.Thread(
            target=users, args=(args.target, args.rps / args.users, tally, stop), daemon=True
        ).start()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler(tally))
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever()


if __name__ == "__main__":
    main()
