"""The PromQL definitions: what each builder writes, and names Prometheus would refuse."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shipflow.core.metrics import HttpMetrics, duration, escape

M = HttpMetrics()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            M.requests_by_version("web", 42),
            'sum by (version) ((http_requests_total{app="web"} - http_requests_total{app="web"} '
            'offset 42000ms unless resets(http_requests_total{app="web"}[42000ms]) > 0) or '
            '(http_requests_total{app="web"} unless http_requests_total{app="web"} offset '
            '42000ms) or increase(http_requests_total{app="web"}[42000ms]))',
        ),
        (
            M.errors_by_version("web", 1.5),
            'sum by (version) ((http_requests_total{app="web",status=~"5.."} - '
            'http_requests_total{app="web",status=~"5.."} offset 1500ms unless '
            'resets(http_requests_total{app="web",status=~"5.."}[1500ms]) > 0) or '
            '(http_requests_total{app="web",status=~"5.."} unless '
            'http_requests_total{app="web",status=~"5.."} offset 1500ms) or '
            'increase(http_requests_total{app="web",status=~"5.."}[1500ms]))',
        ),
        (
            M.latency_buckets_by_version("web", 60),
            'sum by (version, le) ((http_request_duration_seconds_bucket{app="web"} - '
            'http_request_duration_seconds_bucket{app="web"} offset 60000ms unless '
            'resets(http_request_duration_seconds_bucket{app="web"}[60000ms]) > 0) or '
            '(http_request_duration_seconds_bucket{app="web"} unless '
            'http_request_duration_seconds_bucket{app="web"} offset 60000ms) or '
            'increase(http_request_duration_seconds_bucket{app="web"}[60000ms]))',
        ),
        (
            M.newest_sample_age("web"),
            'time() - max(timestamp(http_requests_total{app="web"}))',
        ),
        (
            M.request_rate("web", "5m"),
            'sum by (version) (rate(http_requests_total{app="web"}[5m]))',
        ),
        (
            M.error_ratio("web", "5m", by=()),
            '(sum by () (rate(http_requests_total{app="web",status=~"5.."}[5m])) or '
            'sum by () (rate(http_requests_total{app="web"}[5m])) * 0) / '
            'sum by () (rate(http_requests_total{app="web"}[5m]))',
        ),
        (
            M.latency_quantile(0.99, "web", "5m"),
            "histogram_quantile(0.99, sum by (le, version) "
            '(rate(http_request_duration_seconds_bucket{app="web"}[5m])))',
        ),
        (
            HttpMetrics(version_label="track", app_label="service").selector('a"b', version="c"),
            'service="a\\"b",track="c"',
        ),
    ],
)
def test_builders(query: str, expected: str) -> None:
    assert query == expected


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("requests_metric", "http-requests"),
        ("latency_histogram", "9lives"),
        ("version_label", "ver sion"),
        ("app_label", "__name__{"),
    ],
)
def test_names_prometheus_would_refuse(field: str, value: str) -> None:
    with pytest.raises(ValidationError, match="is not a Prometheus"):
        HttpMetrics(**{field: value})


def test_durations_and_escapes() -> None:
    assert duration(0) == "1ms"
    assert duration(0.0004) == "1ms"
    assert duration(600) == "600000ms"
    assert escape('a\\b"c\nd') == 'a\\\\b\\"c\\nd'


def test_the_default_grouping_is_the_configured_version_label() -> None:
    """A team whose pods carry ``track`` instead of ``version`` gets its rates split by
    ``track`` without passing the grouping itself."""
    m = HttpMetrics(version_label="track")
    assert m.request_rate("web", "5m").startswith("sum by (track) ")
    assert "sum by (track) " in m.error_ratio("web", "5m")
    assert "sum by (le, track) " in m.latency_quantile(0.99, "web", "5m")
    assert m.slow_ratio("web", "5m", 0.5).count("sum by (track) ") == 2
    assert "sum by (le) " in m.latency_quantile(0.99, "web", "5m", by=())
