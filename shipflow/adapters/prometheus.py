"""Canary metrics from Prometheus, through prometheus-api-client.

PromQL is built from templates with the version's label selector and the window as
parameters. An empty result is "no data" and stays so: ``or vector(0)`` is used only for the
error count, where a missing 5xx series truly means zero errors. Any failure (connection,
timeout, HTTP error, bad response) is a :class:`PrometheusError` naming the query.
"""

from __future__ import annotations

import math
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from pydantic import BaseModel, ConfigDict, Field

from shipflow.core.analysis import Sample
from shipflow.errors import PrometheusError


class MetricQueries(BaseModel):
    """PromQL templates; ``{selector}`` and ``{window}`` are filled in per check.

    The defaults read the conventional ``http_requests_total{status}`` counter and the
    ``http_request_duration_seconds`` histogram. Adapt them for other instrumentation.
    """

    model_config = ConfigDict(frozen=True)

    requests: str = "sum(increase(http_requests_total{{{selector}}}[{window}]))"
    errors: str = (
        'sum(increase(http_requests_total{{{selector},status=~"5.."}}[{window}])) or vector(0)'
    )
    p99: str = (
        "histogram_quantile(0.99, sum by (le) "
        "(rate(http_request_duration_seconds_bucket{{{selector}}}[{window}])))"
    )
    app_label: str = "app"
    version_label: str = "version"

    def selector(self, app: str, version: str) -> str:
        return f'{self.app_label}="{_escape(app)}",{self.version_label}="{_escape(version)}"'


class MetricsTarget(BaseModel):
    """Where the canary's metrics are and how they are labelled (a flow parameter)."""

    model_config = ConfigDict(frozen=True)

    url: str = Field(default="http://127.0.0.1:9090", description="Prometheus base URL.")
    app: str = Field(description="Value of the app label.")
    canary_version: str = "canary"
    stable_version: str = "stable"
    queries: MetricQueries = MetricQueries()
    timeout_seconds: float = Field(default=5, gt=0)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _window(seconds: float) -> str:
    return f"{max(1, round(seconds))}s"


class PrometheusMetrics:
    """Samples of one app's versions over a window."""

    def __init__(self, target: MetricsTarget) -> None:
        self.target = target
        self._client = PrometheusConnect(
            url=target.url, disable_ssl=True, timeout=target.timeout_seconds
        )

    def scalar(self, query: str) -> float | None:
        """The single value of an instant query; None for an empty vector or NaN."""
        try:
            result: Any = self._client.custom_query(query)
        except PrometheusApiClientException as exc:
            raise PrometheusError(query, f"HTTP error: {str(exc)[:200]}") from exc
        except requests.Timeout as exc:
            raise PrometheusError(query, f"timeout after {self.target.timeout_seconds:g}s") from exc
        except requests.RequestException as exc:
            raise PrometheusError(query, f"unreachable: {type(exc).__name__}") from exc
        except ValueError as exc:  # a body that is not JSON
            raise PrometheusError(query, "response is not JSON") from exc
        if not isinstance(result, list):
            raise PrometheusError(query, f"unexpected result type {type(result).__name__}")
        if not result:
            return None
        if len(result) > 1:
            raise PrometheusError(query, f"expected one series, got {len(result)}")
        try:
            value = float(result[0]["value"][1])
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise PrometheusError(query, "malformed sample") from exc
        return None if math.isnan(value) else value

    def sample(self, version: str, window_seconds: float) -> Sample:
        """Requests, errors and P99 of one version over the last ``window_seconds``."""
        q = self.target.queries
        params = {
            "selector": q.selector(self.target.app, version),
            "window": _window(window_seconds),
        }
        requests_count = self.scalar(q.requests.format(**params))
        errors = self.scalar(q.errors.format(**params))
        p99 = self.scalar(q.p99.format(**params))
        return Sample(
            requests=max(0.0, requests_count or 0.0),
            errors=max(0.0, errors or 0.0),
            p99_seconds=p99,
        )

    def canary_and_baseline(self, window_seconds: float) -> tuple[Sample, Sample]:
        return (
            self.sample(self.target.canary_version, window_seconds),
            self.sample(self.target.stable_version, window_seconds),
        )
