"""Monitoring rules: burn-rate thresholds derived from the SLO, golden signals per version, the
same PromQL definitions as the canary analysis."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from shipflow.core.metrics import HttpMetrics, bucket_pattern
from shipflow.core.monitoring import (
    FAST_BURN,
    SLOW_BURN,
    BurnAlert,
    MonitorSpec,
    Saturation,
    Slo,
    golden_signals,
    prometheus_rule,
    rule_groups,
    seconds_of,
    slo_ratios,
    thresholds,
)

SIX_HOURS_10PCT = BurnAlert(
    name="slow", long_window="6h", short_window="30m", budget_share=0.1, severity="ticket"
)


@pytest.mark.parametrize(
    ("slo", "sli", "alert", "burn", "ratio"),
    [
        # The SRE workbook's table: 2 % of a 30-day budget in 1 h, 5 % in 6 h.
        (Slo(), "availability", "fast", 14.4, 0.0144),
        (Slo(), "availability", "slow", 6.0, 0.006),
        (Slo(availability=99.5), "availability", "fast", 14.4, 0.072),
        (Slo(availability=99.5), "availability", "slow", 6.0, 0.03),
        (Slo(availability=99.99), "availability", "fast", 14.4, 0.00144),
        (Slo(availability=99.0), "availability", "fast", 14.4, 0.144),
        # The period changes the burn rate: 2 % of 28 days in 1 h is 13.44x.
        (Slo(period_days=28), "availability", "fast", 13.44, 0.01344),
        (Slo(period_days=7), "availability", "slow", 1.4, 0.0014),
        # A latency SLO: P99 under the target leaves 1 % of requests as budget.
        (Slo(), "latency", "fast", 14.4, 0.144),
        (Slo(), "latency", "slow", 6.0, 0.06),
        (Slo(latency_percentile=95), "latency", "fast", 14.4, 0.72),
        (Slo(latency_percentile=99.9), "latency", "slow", 6.0, 0.006),
        # A tier of one's own: 10 % of the budget in 6 h.
        (Slo(alerts=(FAST_BURN, SIX_HOURS_10PCT)), "availability", "slow", 12.0, 0.012),
    ],
)
def test_thresholds_are_derived_from_the_slo(
    slo: Slo, sli: str, alert: str, burn: float, ratio: float
) -> None:
    (found,) = [t for t in thresholds(slo) if t.sli == sli and t.alert.name == alert]
    assert found.burn_rate == pytest.approx(burn)
    assert found.ratio == pytest.approx(ratio)


@pytest.mark.parametrize(
    ("slo", "minutes"),
    [
        (Slo(), 43.2),  # 99.9 % of 30 days (43.8 over an average month of 30.44 days)
        (Slo(availability=99.5), 216.0),
        (Slo(availability=99.99), 4.32),
        (Slo(period_days=28), 40.32),
    ],
)
def test_budget_minutes(slo: Slo, minutes: float) -> None:
    assert slo.budget_minutes == pytest.approx(minutes)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        # 14.4 x 10 % budget = 144 %: such an alert could never fire.
        ({"availability": 90}, "needs more than 100 % bad requests"),
        ({"latency_percentile": 90}, "latency budget"),
        ({"availability": 100}, "less than 100"),
        ({"availability": 0}, "greater than 0"),
        ({"period_days": 0}, "greater than or equal to 1"),
        (
            {
                "alerts": [
                    {
                        "name": "fast",
                        "long_window": "5m",
                        "short_window": "1h",
                        "budget_share": 0.02,
                        "severity": "page",
                    }
                ]
            },
            "must be shorter than the long window",
        ),
        (
            {
                "alerts": [
                    {
                        "name": "fast",
                        "long_window": "1 hour",
                        "short_window": "5m",
                        "budget_share": 0.02,
                        "severity": "page",
                    }
                ]
            },
            "is not a duration",
        ),
        ({"latency_ms": -1}, "greater than 0"),
        ({"availabilty": 99.9}, "Extra inputs are not permitted"),
    ],
)
def test_impossible_slos_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        Slo.model_validate(fields)


@pytest.mark.parametrize(
    ("duration", "seconds"),
    [("5m", 300), ("30m", 1800), ("1h", 3600), ("6h", 21600), ("30d", 2592000), ("500ms", 0.5)],
)
def test_seconds_of(duration: str, seconds: float) -> None:
    assert seconds_of(duration) == seconds


@pytest.mark.parametrize("bad", ["", "5", "0m", "1h30m", "-5m", "5M", "1w"])
def test_seconds_of_refuses(bad: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        seconds_of(bad)


@pytest.mark.parametrize(
    ("seconds", "pattern", "matches", "misses"),
    [
        (0.5, r"0\.5", ["0.5"], ["0.25", "5", "0.55"]),
        (1, r"1(\.0)?", ["1", "1.0"], ["10", "0.1", "1.5"]),
        (2.5, r"2\.5", ["2.5"], ["2", "25"]),
        (0.025, r"0\.025", ["0.025"], ["0.0025"]),
        (10, r"10(\.0)?", ["10", "10.0"], ["1", "100"]),
    ],
)
def test_bucket_pattern_matches_go_and_python_labels(
    seconds: float, pattern: str, matches: list[str], misses: list[str]
) -> None:
    assert bucket_pattern(seconds) == pattern
    # Prometheus anchors label regexes at both ends.
    assert all(re.fullmatch(pattern, m) for m in matches)
    assert not any(re.fullmatch(pattern, m) for m in misses)


def test_every_golden_signal_is_split_by_version() -> None:
    signals = golden_signals(MonitorSpec(name="shop"))
    assert {s.signal for s in signals} == {"traffic", "errors", "latency", "saturation"}
    for s in signals:
        assert re.search(r"by \([^)]*\bversion\b", s.expr), s.record
        assert 'app="shop"' in s.expr
        assert s.legend.startswith("{{version}}")
    titles = {s.title for s in signals}
    assert "Requests per second by version, endpoint and status" in titles
    assert {"Latency P50 by version", "Latency P90 by version", "Latency P99 by version"} <= titles
    assert {"5xx error ratio by version", "4xx error ratio by version"} <= titles


def test_golden_signals_read_the_canary_analysis_definitions() -> None:
    """The error ratio the dashboard draws is the one HttpMetrics writes for the analysis."""
    metrics = HttpMetrics(
        requests_metric="requests_total",
        version_label="track",
        app_label="service",
        error_status="5..|429",
        latency_histogram="latency_seconds",
    )
    spec = MonitorSpec(name="shop", metrics=metrics, endpoint_label=None)
    by_record = {s.record: s.expr for s in golden_signals(spec)}
    assert by_record["app_version:http_server_errors:ratio_rate5m"] == metrics.error_ratio(
        "shop", "5m", by=("service", "track")
    )
    assert by_record["app_version:latency_seconds:p99_rate5m"] == metrics.latency_quantile(
        0.99, "shop", "5m", by=("service", "track")
    )
    assert by_record["app_version_status:requests:rate5m"] == metrics.request_rate(
        "shop", "5m", by=("service", "track", "status")
    )
    client = by_record["app_version:http_client_errors:ratio_rate5m"]
    assert 'status=~"4.."' in client
    assert all("track" in e and "version" not in e for e in by_record.values())


@pytest.mark.parametrize(
    ("saturation", "titles"),
    [
        (Saturation(), ["CPU (cores) by version", "Memory by version"]),
        (Saturation(cpu_seconds=None, memory_bytes=None), []),
        (
            Saturation(pool_in_use="db_pool_in_use", pool_size="db_pool_size", queue_depth="jobs"),
            [
                "CPU (cores) by version",
                "Memory by version",
                "Connection pool utilisation by version",
                "Queue depth by version",
            ],
        ),
    ],
)
def test_saturation_signals(saturation: Saturation, titles: list[str]) -> None:
    spec = MonitorSpec(name="shop", saturation=saturation)
    assert [s.title for s in golden_signals(spec) if s.signal == "saturation"] == titles


def test_pool_needs_both_metrics() -> None:
    with pytest.raises(ValidationError, match="go together"):
        Saturation(pool_in_use="db_pool_in_use")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "shop", "endpoint_label": "bad-label"}, "endpoint_label"),
        ({"name": "shop", "saturation": {"queue_depth": "bad metric"}}, "queue_depth"),
        ({"name": "shop", "metrics": {"version_label": "1x"}}, "version_label"),
    ],
)
def test_bad_spec_names_the_field(fields: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        MonitorSpec.model_validate(fields)


def test_alerts_compare_recorded_ratios_over_both_windows() -> None:
    groups = rule_groups(MonitorSpec(name="shop"))
    assert [g["name"] for g in groups] == ["shop-golden-signals", "shop-slo"]
    rules = groups[1]["rules"]
    assert isinstance(rules, list)
    recorded = {r["record"] for r in rules if "record" in r}
    alerts = {r["alert"]: r for r in rules if "alert" in r}
    assert set(alerts) == {
        "SLOAvailabilityFastBurn",
        "SLOAvailabilitySlowBurn",
        "SLOLatencyFastBurn",
        "SLOLatencySlowBurn",
    }
    fast = alerts["SLOAvailabilityFastBurn"]
    assert fast["expr"] == (
        'app:slo_errors:ratio_rate1h{app="shop"} > 0.0144'
        ' and app:slo_errors:ratio_rate5m{app="shop"} > 0.0144'
    )
    assert fast["labels"] == {"severity": "page", "slo": "availability", "burn": "fast"}
    assert "14.4x" in fast["annotations"]["summary"]
    slow = alerts["SLOLatencySlowBurn"]
    assert "app:slo_slow_requests:ratio_rate6h" in slow["expr"]
    assert "> 0.06" in slow["expr"]
    for alert in alerts.values():
        for series in re.findall(r"(app:[a-z_:0-9]+)\{", alert["expr"]):
            assert series in recorded


def test_slo_ratios_are_for_the_whole_service() -> None:
    for ratio in slo_ratios(MonitorSpec(name="shop")):
        assert "by (app)" in ratio.expr
        assert "version" not in ratio.expr
    windows = [r.window for r in slo_ratios(MonitorSpec(name="shop")) if r.sli == "latency"]
    assert windows == ["5m", "30m", "1h", "6h"]


def test_prometheus_rule_holds_the_same_groups() -> None:
    spec = MonitorSpec(name="shop")
    manifest = prometheus_rule(spec, namespace="prod", labels=[("release", "prometheus")])
    assert manifest["apiVersion"] == "monitoring.coreos.com/v1"
    assert manifest["kind"] == "PrometheusRule"
    assert manifest["metadata"] == {
        "name": "shop-monitoring",
        "labels": {"app.kubernetes.io/name": "shop", "release": "prometheus"},
        "namespace": "prod",
    }
    assert manifest["spec"] == {"groups": rule_groups(spec)}


def test_slow_burn_defaults() -> None:
    assert (SLOW_BURN.long_window, SLOW_BURN.short_window, SLOW_BURN.severity) == (
        "6h",
        "30m",
        "ticket",
    )
    assert (FAST_BURN.long_window, FAST_BURN.short_window, FAST_BURN.severity) == (
        "1h",
        "5m",
        "page",
    )
