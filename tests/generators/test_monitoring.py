"""`shipflow monitor`'s files: golden files, `promtool check rules`, `promtool test rules` with
unit tests of the burn-rate alerts, and the dashboard read back by Grafana's own SDK model."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafana_foundation_sdk.models.prometheus import Dataquery

from shipflow.adapters.binaries import find_binary
from shipflow.core.monitoring import MonitorSpec, Saturation, rule_groups
from shipflow.generators.monitoring import (
    build_dashboard,
    load_dashboard,
    monitor_files,
    render_dashboard,
    render_rules,
)

GOLDEN = Path(__file__).parent / "golden" / "monitor"
SPEC = MonitorSpec(
    name="shop",
    saturation=Saturation(pool_in_use="db_pool_in_use", pool_size="db_pool_size"),
)
SPECS = {
    "default": MonitorSpec(name="shop"),
    "pool": SPEC,
    "strict": MonitorSpec.model_validate(
        {"name": "pay", "slo": {"availability": 99.99, "latency_ms": 250, "period_days": 28}}
    ),
}


def _promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    promtool = find_binary("promtool")
    if promtool is None:
        pytest.fail("promtool is missing: apt-get install prometheus (scripts/bootstrap does)")
    return subprocess.run(
        [promtool, *args], capture_output=True, text=True, cwd=cwd, timeout=60, check=False
    )


def test_output_matches_golden() -> None:
    files = monitor_files(SPEC, operator=True, namespace="shop")
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for relative, text in files.items():
            (GOLDEN / relative).write_text(text)
    assert {p.name for p in GOLDEN.iterdir()} == {str(p) for p in files}
    for relative, text in files.items():
        assert (GOLDEN / relative).read_text() == text, f"{relative} differs"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_rules_file_passes_promtool_check(name: str, tmp_path: Path) -> None:
    spec = SPECS[name]
    files = monitor_files(spec, operator=True)
    for relative, text in files.items():
        (tmp_path / relative).write_text(text)
    # The operator's manifest holds the same groups; promtool reads them as a rules file.
    manifest = yaml.safe_load((tmp_path / f"{spec.name}.prometheusrule.yaml").read_text())
    (tmp_path / "from-manifest.yml").write_text(yaml.safe_dump(manifest["spec"]))
    checked = _promtool(
        "check", "rules", f"{spec.name}.rules.yml", "from-manifest.yml", cwd=tmp_path
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


# --- promtool test rules: the alerts fire exactly where the SLO says ---------------------


def _counter(labels: str, per_minute: float, minutes: int) -> dict[str, str]:
    return {"series": f"http_requests_total{{{labels}}}", "values": f"0+{per_minute:g}x{minutes}"}


def _traffic(
    error_share: float, *, minutes: int = 130, rps_per_minute: float = 6000
) -> list[dict[str, str]]:
    """A whole service's requests for ``minutes``, ``error_share`` of them 5xx (split over a
    stable and a canary version, so the SLO's ratio sums the versions)."""
    errors = rps_per_minute * error_share
    return [
        _counter(
            'app="shop",version="stable",status="200"', (rps_per_minute - errors) * 0.9, minutes
        ),
        _counter(
            'app="shop",version="canary",status="200"', (rps_per_minute - errors) * 0.1, minutes
        ),
        _counter('app="shop",version="stable",status="500"', errors * 0.9, minutes),
        _counter('app="shop",version="canary",status="500"', errors * 0.1, minutes),
    ]


def _latency(
    slow_share: float, minutes: int = 130, per_minute: float = 6000
) -> list[dict[str, str]]:
    h = "http_request_duration_seconds_bucket"
    fast = per_minute * (1 - slow_share)
    return [
        {
            "series": f'{h}{{app="shop",version="stable",le="0.5"}}',
            "values": f"0+{fast:g}x{minutes}",
        },
        {
            "series": f'{h}{{app="shop",version="stable",le="+Inf"}}',
            "values": f"0+{per_minute:g}x{minutes}",
        },
    ]


def _expected(spec: MonitorSpec, alert: str, value: str) -> dict[str, Any]:
    """The alert as promtool must see it: labels, and annotations with ``$value`` filled in."""
    (rule,) = [r for g in rule_groups(spec) for r in g["rules"] if r.get("alert") == alert]  # type: ignore[attr-defined]
    annotations = {
        k: v.replace("{{ $value | humanizePercentage }}", value)
        for k, v in rule["annotations"].items()
    }
    return {"exp_labels": {"app": spec.name, **rule["labels"]}, "exp_annotations": annotations}


def _run_unit_tests(tmp_path: Path, tests: list[dict[str, Any]]) -> None:
    spec = MonitorSpec(name="shop")
    (tmp_path / "shop.rules.yml").write_text(render_rules(spec))
    (tmp_path / "shop.test.yml").write_text(
        yaml.safe_dump(
            {"rule_files": ["shop.rules.yml"], "evaluation_interval": "1m", "tests": tests},
            sort_keys=False,
        )
    )
    result = _promtool("test", "rules", "shop.test.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_fast_burn_fires_past_the_threshold_and_not_at_the_slos_rate(tmp_path: Path) -> None:
    spec = MonitorSpec(name="shop")
    # 99.9 %: the fast burn pages above 1.44 % errors over 1 h and 5 min, the slow one files
    # a ticket above 0.6 % over 6 h and 30 min.
    _run_unit_tests(
        tmp_path,
        [
            {  # 5 % errors: both tiers fire
                "interval": "1m",
                "input_series": _traffic(0.05),
                "alert_rule_test": [
                    {
                        "eval_time": "60m",
                        "alertname": "SLOAvailabilityFastBurn",
                        "exp_alerts": [_expected(spec, "SLOAvailabilityFastBurn", "5%")],
                    },
                    {
                        "eval_time": "60m",
                        "alertname": "SLOAvailabilitySlowBurn",
                        "exp_alerts": [_expected(spec, "SLOAvailabilitySlowBurn", "5%")],
                    },
                ],
            },
            {  # exactly the SLO's allowed 0.1 %: nothing fires, ever
                "interval": "1m",
                "input_series": _traffic(0.001),
                "alert_rule_test": [
                    {"eval_time": t, "alertname": a, "exp_alerts": []}
                    for t in ("10m", "60m", "120m")
                    for a in ("SLOAvailabilityFastBurn", "SLOAvailabilitySlowBurn")
                ],
            },
            {  # 1 %: a 10x burn, above the slow tier's 6x and below the fast tier's 14.4x
                "interval": "1m",
                "input_series": _traffic(0.01),
                "alert_rule_test": [
                    {"eval_time": "60m", "alertname": "SLOAvailabilityFastBurn", "exp_alerts": []},
                    {
                        "eval_time": "60m",
                        "alertname": "SLOAvailabilitySlowBurn",
                        "exp_alerts": [_expected(spec, "SLOAvailabilitySlowBurn", "1%")],
                    },
                ],
            },
        ],
    )


def test_fast_burn_resets_with_the_short_window(tmp_path: Path) -> None:
    """30 min at 5 % errors, then none: the 1 h ratio is still high, the 5 min one is not, so
    the page stops (the point of the second window)."""
    ok = "0+5700x30 171000+6000x100"
    bad = "0+300x30 9000+0x100"
    series = [
        {"series": 'http_requests_total{app="shop",version="stable",status="200"}', "values": ok},
        {"series": 'http_requests_total{app="shop",version="stable",status="500"}', "values": bad},
    ]
    spec = MonitorSpec(name="shop")
    _run_unit_tests(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {
                        "eval_time": "25m",
                        "alertname": "SLOAvailabilityFastBurn",
                        "exp_alerts": [_expected(spec, "SLOAvailabilityFastBurn", "5%")],
                    },
                    {"eval_time": "45m", "alertname": "SLOAvailabilityFastBurn", "exp_alerts": []},
                ],
                "promql_expr_test": [
                    {  # the long window still remembers the burst at 45 min
                        "expr": 'app:slo_errors:ratio_rate1h{app="shop"} > bool 0.0144',
                        "eval_time": "45m",
                        "exp_samples": [{"labels": '{app="shop"}', "value": 1}],
                    }
                ],
            }
        ],
    )


def test_latency_burn_fires_on_slow_requests_only(tmp_path: Path) -> None:
    spec = MonitorSpec(name="shop")
    _run_unit_tests(
        tmp_path,
        [
            {  # 20 % of requests over 500 ms: 20x the P99's 1 % budget
                "interval": "1m",
                "input_series": _latency(0.2),
                "alert_rule_test": [
                    {
                        "eval_time": "60m",
                        "alertname": "SLOLatencyFastBurn",
                        "exp_alerts": [_expected(spec, "SLOLatencyFastBurn", "20%")],
                    }
                ],
            },
            {  # 1 % slow: exactly P99 < 500 ms
                "interval": "1m",
                "input_series": _latency(0.01),
                "alert_rule_test": [
                    {"eval_time": "60m", "alertname": "SLOLatencyFastBurn", "exp_alerts": []},
                    {"eval_time": "60m", "alertname": "SLOLatencySlowBurn", "exp_alerts": []},
                ],
            },
        ],
    )


PER_VERSION = "app_version:http_server_errors:ratio_rate5m"


def test_recorded_errors_tell_the_canary_from_stable(tmp_path: Path) -> None:
    """The classic trap: 10 % of traffic on a canary failing half its requests is 5 % overall;
    the per-version series show the canary at 50 % and stable at 0."""
    series = [
        _counter('app="shop",version="stable",status="200"', 5400, 20),
        _counter('app="shop",version="canary",status="200"', 300, 20),
        _counter('app="shop",version="canary",status="500"', 300, 20),
    ]
    _run_unit_tests(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": series,
                "promql_expr_test": [
                    {
                        "expr": 'app_version:http_server_errors:ratio_rate5m{app="shop"}',
                        "eval_time": "10m",
                        "exp_samples": [
                            {
                                "labels": PER_VERSION + '{app="shop",version="canary"}',
                                "value": 0.5,
                            },
                            {
                                "labels": PER_VERSION + '{app="shop",version="stable"}',
                                "value": 0,
                            },
                        ],
                    },
                    {
                        "expr": 'app:slo_errors:ratio_rate5m{app="shop"}',
                        "eval_time": "10m",
                        "exp_samples": [
                            {"labels": 'app:slo_errors:ratio_rate5m{app="shop"}', "value": 0.05}
                        ],
                    },
                ],
            }
        ],
    )


# --- the dashboard ------------------------------------------------------------------------


def test_dashboard_loads_with_the_sdk_model_and_splits_every_query_by_version() -> None:
    text = render_dashboard(SPEC)
    board = load_dashboard(text)
    assert board.title == "shop: golden signals and SLO"
    panels = board.panels or []
    rows = [p.title for p in panels if p.type_val == "row"]
    assert rows[:4] == ["Traffic", "Errors", "Latency", "Saturation"]
    assert rows[4].startswith("SLO: 99.9 % available, P99 < 500 ms")
    graphs = [p for p in panels if p.type_val == "timeseries"]
    assert {p.title for p in graphs} >= {
        "Requests per second by version",
        "Requests per second by version, endpoint and status",
        "5xx error ratio by version",
        "4xx error ratio by version",
        "Latency P50 by version",
        "Latency P90 by version",
        "Latency P99 by version",
        "CPU (cores) by version",
        "Memory by version",
        "Connection pool utilisation by version",
    }
    for panel in graphs:
        (target,) = panel.targets or []
        assert isinstance(target, Dataquery)
        expr = target.expr or ""
        assert re.search(r"by \([^)]*\bversion\b", expr), expr
        assert (target.legend_format or "").startswith("{{version}}")
    ids = [p.id_val for p in panels]
    assert len(set(ids)) == len(ids)
    # Round trip: the SDK's model writes back what it read.
    assert json.loads(
        json.dumps(build_dashboard(SPEC), default=lambda o: o.to_json())
    ) == json.loads(text)
