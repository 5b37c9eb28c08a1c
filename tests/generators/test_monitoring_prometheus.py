"""`shipflow monitor`'s rules loaded into the real Prometheus, scraping the test app: the fast
burn fires when the error rate passes the burn threshold and not at the SLO's allowed rate,
and the per-version series tell a failing canary from a healthy stable."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipflow.adapters.waiting import poll_until
from shipflow.core.monitoring import MonitorSpec
from shipflow.deployments import local
from shipflow.generators.monitoring import render_rules
from tests.conftest import MetricsApp

RUN = uuid.uuid4().hex[:6]
HOT = f"hot{RUN}"  # 5 % errors overall: a canary on 10 % of traffic failing half its requests
OK = f"ok{RUN}"  # exactly the SLO's allowed 0.1 %


@pytest.fixture(scope="module")
def rules_prometheus(
    metrics_app: MetricsApp, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("monitor-prometheus")
    rule_files: list[Path] = []
    for app in (HOT, OK):
        path = workdir / f"{app}.rules.yml"
        path.write_text(render_rules(MonitorSpec(name=app)))
        rule_files.append(path)
    metrics_app.control(HOT, "stable", rps=180, error_rate=0.0)
    metrics_app.control(HOT, "canary", rps=20, error_rate=0.5)
    metrics_app.control(OK, "stable", rps=200, error_rate=0.001)
    port = local.free_port()
    service = local.prometheus(
        port, workdir, [f"127.0.0.1:{metrics_app.port}"], rule_files=rule_files
    )
    try:
        with local.running(service):
            yield f"http://127.0.0.1:{port}"
    finally:
        for app, versions in ((HOT, ("stable", "canary")), (OK, ("stable",))):
            for version in versions:
                metrics_app.control(app, version, rps=0)


def _alerts(url: str) -> list[dict[str, Any]]:
    alerts: list[dict[str, Any]] = httpx.get(f"{url}/api/v1/alerts").json()["data"]["alerts"]
    return alerts


def _query(url: str, promql: str) -> dict[str, float]:
    result = httpx.get(f"{url}/api/v1/query", params={"query": promql}).json()["data"]["result"]
    return {r["metric"].get("version", ""): float(r["value"][1]) for r in result}


def test_fast_burn_fires_past_the_threshold_not_at_the_allowed_rate(rules_prometheus: str) -> None:
    def hot_firing() -> list[dict[str, Any]] | None:
        firing = [
            a
            for a in _alerts(rules_prometheus)
            if a["labels"]["app"] == HOT and a["state"] == "firing"
        ]
        names = {a["labels"]["alertname"] for a in firing}
        return firing if "SLOAvailabilityFastBurn" in names else None

    firing = poll_until(hot_firing, timeout=30, interval=0.5)
    fast = next(a for a in firing if a["labels"]["alertname"] == "SLOAvailabilityFastBurn")
    assert fast["labels"]["severity"] == "page"
    assert "14.4x" in fast["annotations"]["summary"]
    # Wait for the healthy app's own windows to hold a few seconds of data, then look again:
    # nothing, not even pending, for an app burning at exactly the rate its SLO allows.
    poll_until(
        lambda: _query(rules_prometheus, f'app:slo_errors:ratio_rate1h{{app="{OK}"}}') or None,
        timeout=15,
        interval=0.5,
    )
    assert [a for a in _alerts(rules_prometheus) if a["labels"]["app"] == OK] == []


def test_per_version_series_show_the_canary_the_total_hides(rules_prometheus: str) -> None:
    def both_versions() -> dict[str, float] | None:
        found = _query(
            rules_prometheus, f'app_version:http_server_errors:ratio_rate5m{{app="{HOT}"}}'
        )
        # The rule's first evaluations cover only the series' first scrapes: wait for the
        # canary's ratio to settle rather than take the first one seen.
        settled = {"stable", "canary"} <= set(found) and 0.3 < found["canary"] < 0.7
        return found if settled else None

    per_version = poll_until(both_versions, timeout=45, interval=0.5)
    assert per_version["stable"] == 0
    assert 0.3 < per_version["canary"] < 0.7
    (overall,) = _query(rules_prometheus, f'app:slo_errors:ratio_rate5m{{app="{HOT}"}}').values()
    assert overall < 0.1  # what an all-pods graph shows: ~5 %
