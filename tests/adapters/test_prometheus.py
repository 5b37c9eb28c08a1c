"""What a check reads from the real Prometheus scraping the test app every second; and the
client's connection rules (no retries, TLS verified, credentials) against a small HTTPS stand-in
that records what it was sent."""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pydantic import SecretStr

from shipflow.adapters.prometheus import (
    Credentials,
    MetricsTarget,
    PrometheusClient,
    connection_for,
    observe,
)
from shipflow.adapters.waiting import poll_until
from shipflow.core.analysis import P99, Observation, quantile
from shipflow.deployments import local
from shipflow.errors import PrometheusError
from shipflow.settings import Settings
from tests.conftest import MetricsApp, Prometheus


def client(url: str) -> PrometheusClient:
    return PrometheusClient(connection_for(MetricsTarget(app="x", url=url), Settings()))


def read(prometheus: Prometheus, app: str, span: float = 5) -> Observation:
    target = MetricsTarget(app=app, url=prometheus.url)
    return observe(client(prometheus.url), target, span, timeout=5)


def test_a_check_reads_both_versions_over_its_span(
    prometheus: Prometheus, metrics_app: MetricsApp
) -> None:
    app = f"shop-{uuid.uuid4().hex[:6]}"
    metrics_app.control(app, "stable", rps=200, error_rate=0.0, latency_ms=40)
    metrics_app.control(app, "canary", rps=100, error_rate=0.2, latency_ms=300)
    # A series' first sample is no increase: read once the span holds none of the series'
    # first seconds (early on, 20 % errors read as 11 % on a loaded machine).
    started = time.monotonic()
    seen = poll_until(
        lambda: (
            time.monotonic() - started > 7
            and (obs := read(prometheus, app)).canary.requests > 200
            and obs
        ),
        timeout=25,
        interval=0.5,
    )
    assert seen.canary.errors / seen.canary.requests == pytest.approx(0.2, abs=0.08)
    assert seen.baseline is not None
    assert seen.baseline.requests > seen.canary.requests
    assert seen.baseline.errors == 0  # no 5xx series: zero errors, not "no data"
    canary_p99, base_p99 = quantile(P99, seen.canary.buckets), quantile(P99, seen.baseline.buckets)
    assert canary_p99 is not None
    assert (canary_p99.lower, canary_p99.upper) == (0.25, 0.5)
    assert base_p99 is not None
    assert base_p99.upper <= 0.05
    assert seen.newest_sample_age_seconds is not None
    assert seen.newest_sample_age_seconds < 3
    assert seen.unlabelled_requests == 0


def test_series_without_the_version_label_are_seen(
    prometheus: Prometheus, metrics_app: MetricsApp
) -> None:
    app = f"flat-{uuid.uuid4().hex[:6]}"
    metrics_app.control(app, "", rps=200)  # one series for all pods: no version label
    seen = poll_until(
        lambda: (obs := read(prometheus, app)).unlabelled_requests > 100 and obs,
        timeout=20,
        interval=0.5,
    )
    assert seen.canary.requests == 0
    assert seen.baseline is not None
    assert seen.baseline.requests == 0
    metrics_app.control(app, "", rps=0)


def test_an_app_without_series_has_no_data_not_zero(prometheus: Prometheus) -> None:
    seen = read(prometheus, "never-deployed", 10)
    assert seen.newest_sample_age_seconds is None
    assert seen.canary.requests == 0
    assert seen.canary.buckets == ()


def test_the_rate_definitions_run_on_prometheus_per_version(
    prometheus: Prometheus, metrics_app: MetricsApp
) -> None:
    app = f"dash-{uuid.uuid4().hex[:6]}"
    metrics_app.control(app, "stable", rps=100, error_rate=0.1)
    metrics_app.control(app, "canary", rps=50, error_rate=0.0)
    defs, c = MetricsTarget(app=app).definitions, client(prometheus.url)

    def versions(query: str) -> dict[str, float]:
        return {labels.get("version", ""): v for labels, v in c.vector(query, 5)}

    rates = poll_until(
        lambda: (r := versions(defs.request_rate(app, "5s"))).keys() == {"stable", "canary"} and r,
        timeout=20,
        interval=0.5,
    )
    assert rates["stable"] > rates["canary"] > 0
    ratios = versions(defs.error_ratio(app, "5s"))
    assert ratios["canary"] == 0
    assert 0 < ratios["stable"] < 0.3
    assert set(versions(defs.latency_quantile(0.99, app, "5s"))) == {"stable", "canary"}


def test_a_bad_query_is_a_prometheus_error_with_its_status(prometheus: Prometheus) -> None:
    with pytest.raises(PrometheusError) as err:
        client(prometheus.url).vector("sum(rate(http_requests_total[5s]", 5)
    assert err.value.query == "sum(rate(http_requests_total[5s]"
    assert err.value.status == 400
    assert "HTTP error" in err.value.problem


def test_prometheus_down_is_a_prometheus_error() -> None:
    with pytest.raises(PrometheusError, match=r"unreachable at http://127\.0\.0\.1:9"):
        client("http://127.0.0.1:9").vector("up", 1)


def test_the_url_is_decided_in_one_place() -> None:
    settings = Settings(prometheus_url="http://from-settings:9090/")
    assert connection_for(MetricsTarget(app="a"), settings).url == "http://from-settings:9090"
    mine = MetricsTarget(app="a", url="https://thanos.example")
    assert connection_for(mine, settings).url == "https://thanos.example"
    assert connection_for(mine, settings).verify is True
    assert connection_for(mine.model_copy(update={"tls_verify": False}), settings).verify is False
    assert connection_for(mine, Settings(prometheus_ca_bundle="/ca.pem")).verify == "/ca.pem"


# --- a stand-in that records requests, to see what the client sends ---------------------


@dataclass
class Recorder:
    url: str
    seen: list[dict[str, str]] = field(default_factory=list)
    status: int = 200


@pytest.fixture
def tls_stand_in(tmp_path: Path) -> Iterator[tuple[Recorder, Path]]:
    """An HTTPS server with a self-signed certificate for 127.0.0.1 answering like Prometheus."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            local.require_binary("openssl"),
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    recorder = Recorder(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            recorder.seen.append(dict(self.headers))
            body = json.dumps(
                {"status": "success", "data": {"resultType": "vector", "result": []}}
                if recorder.status == 200
                else {"status": "error", "errorType": "unavailable", "error": "overloaded"}
            ).encode()
            self.send_response(recorder.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    recorder.url = f"https://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield recorder, cert
    finally:
        server.shutdown()


def test_tls_is_verified_by_default(tls_stand_in: tuple[Recorder, Path]) -> None:
    recorder, cert = tls_stand_in
    with pytest.raises(PrometheusError, match="TLS verification failed"):
        client(recorder.url).vector("up", 5)
    trusted = MetricsTarget(app="a", url=recorder.url, ca_bundle=str(cert))
    assert PrometheusClient(connection_for(trusted, Settings())).vector("up", 5) == []


@pytest.mark.parametrize(
    ("credentials", "header"),
    [
        (Credentials(bearer_token=SecretStr("t0ken-s3cret")), "Bearer t0ken-s3cret"),
        (Credentials(username="grafana", password=SecretStr("pa55")), "Basic Z3JhZmFuYTpwYTU1"),
        (Credentials(), None),
    ],
)
def test_credentials_reach_the_server_and_no_error(
    tls_stand_in: tuple[Recorder, Path], credentials: Credentials, header: str | None
) -> None:
    recorder, cert = tls_stand_in
    target = MetricsTarget(app="a", url=recorder.url, ca_bundle=str(cert))
    c = PrometheusClient(connection_for(target, Settings(), credentials))
    c.vector("up", 5)
    assert recorder.seen[-1].get("Authorization") == header
    recorder.status = 503
    with pytest.raises(PrometheusError) as err:
        c.vector("up", 5)
    assert err.value.status == 503
    assert "s3cret" not in str(err.value)
    assert "pa55" not in str(err.value)


def test_a_failed_query_is_not_retried(tls_stand_in: tuple[Recorder, Path]) -> None:
    recorder, cert = tls_stand_in
    recorder.status = 503
    target = MetricsTarget(app="a", url=recorder.url, ca_bundle=str(cert))
    c = PrometheusClient(connection_for(target, Settings()))
    with pytest.raises(PrometheusError):
        c.vector("up", 5)
    assert len(recorder.seen) == 1  # one attempt: the analysis counts failures, not the client
