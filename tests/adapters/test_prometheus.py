"""Canary samples from the real Prometheus scraping the test app every second."""

from __future__ import annotations

import time
import uuid

import pytest

from shipflow.adapters.prometheus import MetricsTarget, PrometheusMetrics
from shipflow.errors import PrometheusError
from tests.conftest import MetricsApp, Prometheus


def wait_for(fn, timeout: float = 20):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


def test_stable_and_canary_samples_carry_requests_errors_and_p99(
    prometheus: Prometheus, metrics_app: MetricsApp
) -> None:
    app = f"shop-{uuid.uuid4().hex[:6]}"
    metrics_app.control(app, "stable", rps=200, error_rate=0.0, latency_ms=40)
    metrics_app.control(app, "canary", rps=100, error_rate=0.2, latency_ms=300)
    metrics = PrometheusMetrics(MetricsTarget(url=prometheus.url, app=app))
    canary = wait_for(
        lambda: metrics.sample("canary", 5).requests > 200 and metrics.sample("canary", 5)
    )
    baseline = metrics.sample("stable", 5)
    assert canary.errors / canary.requests == pytest.approx(0.2, abs=0.08)
    assert 0.2 < canary.p99_seconds < 0.6
    assert baseline.requests > canary.requests
    assert baseline.errors == 0  # no 5xx series yet: `or vector(0)` means a real zero
    assert baseline.p99_seconds < 0.1


def test_a_version_without_traffic_has_no_data_not_zero_latency(prometheus: Prometheus) -> None:
    metrics = PrometheusMetrics(MetricsTarget(url=prometheus.url, app="never-deployed"))
    sample = metrics.sample("canary", 10)
    assert sample.requests == 0
    assert sample.p99_seconds is None


def test_a_bad_query_is_a_prometheus_error_naming_it(prometheus: Prometheus) -> None:
    metrics = PrometheusMetrics(MetricsTarget(url=prometheus.url, app="x"))
    with pytest.raises(PrometheusError) as err:
        metrics.scalar("sum(rate(http_requests_total[5s]")
    assert err.value.query == "sum(rate(http_requests_total[5s]"
    assert "HTTP error" in err.value.status


def test_prometheus_down_is_a_prometheus_error() -> None:
    metrics = PrometheusMetrics(MetricsTarget(url="http://127.0.0.1:9", app="x", timeout_seconds=1))
    with pytest.raises(PrometheusError, match="unreachable"):
        metrics.sample("canary", 10)
