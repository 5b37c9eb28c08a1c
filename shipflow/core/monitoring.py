"""What a service's monitoring is: golden-signal recording rules and SLO burn-rate alerts.

Every query comes from :class:`~shipflow.core.metrics.HttpMetrics` (the definitions the canary
analysis judges on) or from :class:`Saturation` here, so what a canary was judged on is what
the on-call sees.

SLO alerts are the multi-window, multi-burn-rate alerts of Google's SRE workbook (ch. 5): an
alert fires when the error ratio over a long window *and* over a short window (1/12 of it)
both exceed ``burn rate x error budget``. The burn rate is derived from the share of the
budget one may spend in the long window, never written by hand:

    burn rate = budget share x SLO period / long window
    fast: 2 % of a 30-day budget in 1 h  → 14.4x; page   (checked over 1 h and 5 min)
    slow: 5 % of a 30-day budget in 6 h  →  6x;  ticket (checked over 6 h and 30 min)

so a 99.9 % availability SLO pages above a 1.44 % error ratio and files a ticket above 0.6 %.
The latency SLO ("P99 < 500 ms") is the same with "requests slower than the target" as the
bad events and ``100 - percentile`` as the budget.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from shipflow.core.metrics import LABEL_NAME, METRIC_NAME, HttpMetrics, escape
from shipflow.errors import ConfigError

_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d)$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}

#: The window of the golden-signal recording rules and the dashboard's fallback.
SIGNAL_WINDOW = "5m"
#: The latency quantiles recorded and drawn for each version.
QUANTILES = (0.5, 0.9, 0.99)


def seconds_of(duration: str) -> float:
    """Seconds in a PromQL duration with one unit (``5m``, ``1h``, ``30d``).

    Raises:
        ConfigError: not such a duration.
    """
    match = _DURATION.match(duration)
    if not match or int(match.group(1)) == 0:
        raise ConfigError("window", f"{duration!r} is not a duration such as 5m, 1h or 30d")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def number(value: float) -> str:
    """A threshold as it is written in PromQL and in messages (no float noise)."""
    return f"{value:.6g}"


class BurnAlert(BaseModel):
    """One tier of burn-rate alerting: how much of the budget may burn in the long window."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Literal["fast", "slow"]
    long_window: str
    short_window: str
    budget_share: float = Field(gt=0, le=1, description="Share of the period's budget.")
    severity: str

    @field_validator("long_window", "short_window")
    @classmethod
    def _window(cls, value: str) -> str:
        seconds_of(value)
        return value


FAST_BURN = BurnAlert(
    name="fast", long_window="1h", short_window="5m", budget_share=0.02, severity="page"
)
SLOW_BURN = BurnAlert(
    name="slow", long_window="6h", short_window="30m", budget_share=0.05, severity="ticket"
)


class Slo(BaseModel):
    """A service's objectives: availability (share of non-5xx responses) and a latency
    percentile under a target, over a rolling period."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    availability: float = Field(
        default=99.9, gt=0, lt=100, description="Percent of requests answered without a 5xx."
    )
    latency_ms: float = Field(
        default=500, gt=0, description="Latency target in ms (a histogram bucket boundary)."
    )
    latency_percentile: float = Field(
        default=99, gt=0, lt=100, description="Percent of requests faster than latency_ms."
    )
    period_days: int = Field(default=30, ge=1, le=366, description="Rolling SLO period.")
    alerts: tuple[BurnAlert, ...] = (FAST_BURN, SLOW_BURN)

    @property
    def error_budget(self) -> float:
        """Share of requests that may fail in the period (0.001 for 99.9 %)."""
        return round((100 - self.availability) / 100, 12)

    @property
    def latency_budget(self) -> float:
        """Share of requests that may be slower than the target (0.01 for P99)."""
        return round((100 - self.latency_percentile) / 100, 12)

    @property
    def budget_minutes(self) -> float:
        """Minutes of full outage the availability budget allows per period (43.2 for 99.9 %
        over 30 days; 43.8 over an average month)."""
        return round(self.error_budget * self.period_days * 24 * 60, 3)

    def burn_rate(self, alert: BurnAlert) -> float:
        """How many times faster than sustainable the budget burns when ``alert`` fires."""
        return round(
            alert.budget_share * self.period_days * 86400 / seconds_of(alert.long_window), 9
        )

    @model_validator(mode="after")
    def _reachable(self) -> Slo:
        for alert in self.alerts:
            if seconds_of(alert.short_window) >= seconds_of(alert.long_window):
                raise ValueError(
                    f"{alert.name}: short window {alert.short_window} must be shorter than the "
                    f"long window {alert.long_window}",
                )
            for what, budget in (
                ("availability", self.error_budget),
                ("latency", self.latency_budget),
            ):
                if self.burn_rate(alert) * budget >= 1:
                    raise ValueError(
                        f"a {number(self.burn_rate(alert))}x burn of the {what} budget of "
                        f"{number(budget * 100)} % needs more than 100 % bad requests; "
                        f"raise the objective or lower the {alert.name} budget share",
                    )
        return self


class Saturation(BaseModel):
    """Where a service's saturation shows: CPU, memory, a connection pool, a queue. Each is a
    metric name carrying the app and version labels (unset: not drawn, not recorded). The
    defaults are the process metrics every official client library exports."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cpu_seconds: str | None = "process_cpu_seconds_total"
    memory_bytes: str | None = "process_resident_memory_bytes"
    pool_in_use: str | None = None
    pool_size: str | None = None
    queue_depth: str | None = None

    @field_validator("cpu_seconds", "memory_bytes", "pool_in_use", "pool_size", "queue_depth")
    @classmethod
    def _metric(cls, value: str | None) -> str | None:
        if value is not None and not METRIC_NAME.match(value):
            raise ValueError(f"{value!r} is not a Prometheus metric name")
        return value

    @model_validator(mode="after")
    def _pool_pair(self) -> Saturation:
        if (self.pool_in_use is None) != (self.pool_size is None):
            raise ValueError("pool_in_use and pool_size go together (utilisation = in use / size)")
        return self


class Signal(BaseModel):
    """One golden-signal series: its recorded name, its PromQL, its unit and legend."""

    model_config = ConfigDict(frozen=True)

    signal: Literal["traffic", "errors", "latency", "saturation"]
    title: str
    record: str
    expr: str
    unit: str
    legend: str


class MonitorSpec(BaseModel):
    """What ``shipflow monitor`` needs to know of a service."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, description="The service (the value of the app label).")
    slo: Slo = Slo()
    metrics: HttpMetrics = HttpMetrics()
    saturation: Saturation = Saturation()
    endpoint_label: str | None = Field(
        default="handler", description="Label naming the endpoint (unset: no endpoint split)."
    )

    @field_validator("endpoint_label")
    @classmethod
    def _label(cls, value: str | None) -> str | None:
        if value is not None and not LABEL_NAME.match(value):
            raise ValueError(f"{value!r} is not a Prometheus label name")
        return value


# --- golden signals -----------------------------------------------------------------------


def golden_signals(spec: MonitorSpec, window: str = SIGNAL_WINDOW) -> tuple[Signal, ...]:
    """The four golden signals of ``spec``, each split by version (and traffic by endpoint and
    status), as recording rules name them. ``window`` is the rate window (the dashboard passes
    ``$__rate_interval``)."""
    m = spec.metrics
    app, version = m.app_label, m.version_label
    by = (app, version)
    client = m.model_copy(update={"error_status": "4.."})
    split = tuple(x for x in (spec.endpoint_label, m.status_label) if x)
    rate = f"rate{window}" if window == SIGNAL_WINDOW else "rate"
    legend = "{{" + version + "}}"
    split_legend = legend + "".join(f" {{{{{x}}}}}" for x in split)
    signals = [
        Signal(
            signal="traffic",
            title="Requests per second by version",
            record=f"app_version:{m.requests_metric.removesuffix('_total')}:{rate}",
            expr=m.request_rate(spec.name, window, by=by),
            unit="reqps",
            legend=legend,
        ),
        Signal(
            signal="traffic",
            title="Requests per second by version, endpoint and status",
            record=f"app_version_{'_'.join(split)}:{m.requests_metric.removesuffix('_total')}:{rate}",
            expr=m.request_rate(spec.name, window, by=(*by, *split)),
            unit="reqps",
            legend=split_legend,
        ),
        Signal(
            signal="errors",
            title="5xx error ratio by version",
            record=f"app_version:http_server_errors:ratio_{rate}",
            expr=m.error_ratio(spec.name, window, by=by),
            unit="percentunit",
            legend=legend,
        ),
        Signal(
            signal="errors",
            title="4xx error ratio by version",
            record=f"app_version:http_client_errors:ratio_{rate}",
            expr=client.error_ratio(spec.name, window, by=by),
            unit="percentunit",
            legend=legend,
        ),
    ]
    for q in QUANTILES:
        pct = f"p{number(q * 100)}"
        signals.append(
            Signal(
                signal="latency",
                title=f"Latency {pct.upper()} by version",
                record=f"app_version:{m.latency_histogram}:{pct}_{rate}",
                expr=m.latency_quantile(q, spec.name, window, by=by),
                unit="s",
                legend=legend,
            )
        )
    signals.extend(_saturation(spec, window, rate, legend))
    return tuple(signals)


def _saturation(spec: MonitorSpec, window: str, rate: str, legend: str) -> list[Signal]:
    s, m = spec.saturation, spec.metrics
    sel = m.selector(spec.name)
    by = f"sum by ({m.app_label}, {m.version_label})"

    def summed(metric: str) -> str:
        return f"{by} ({metric}{{{sel}}})"

    rows: list[tuple[str, str, str, str]] = []  # title, record, expr, unit
    if s.cpu_seconds:
        rows.append(
            (
                "CPU (cores) by version",
                f"app_version:{s.cpu_seconds.removesuffix('_total')}:{rate}",
                f"{by} (rate({s.cpu_seconds}{{{sel}}}[{window}]))",
                "short",
            )
        )
    if s.memory_bytes:
        rows.append(
            (
                "Memory by version",
                f"app_version:{s.memory_bytes}:sum",
                summed(s.memory_bytes),
                "bytes",
            )
        )
    if s.pool_in_use and s.pool_size:
        rows.append(
            (
                "Connection pool utilisation by version",
                f"app_version:{s.pool_in_use}:ratio",
                f"{summed(s.pool_in_use)} / {summed(s.pool_size)}",
                "percentunit",
            )
        )
    if s.queue_depth:
        rows.append(
            (
                "Queue depth by version",
                f"app_version:{s.queue_depth}:sum",
                summed(s.queue_depth),
                "short",
            )
        )
    return [
        Signal(signal="saturation", title=title, record=record, expr=expr, unit=unit, legend=legend)
        for title, record, expr, unit in rows
    ]


# --- SLO ----------------------------------------------------------------------------------


class SloRatio(BaseModel):
    """The bad-event ratio of one SLI over one window, for the whole service (all versions:
    the budget is the users'), as recorded."""

    model_config = ConfigDict(frozen=True)

    sli: Literal["availability", "latency"]
    window: str
    record: str
    expr: str


def slo_ratios(spec: MonitorSpec) -> tuple[SloRatio, ...]:
    """The ratios the burn-rate alerts compare, one per SLI and alert window."""
    m = spec.metrics
    windows = sorted(
        {w for a in spec.slo.alerts for w in (a.long_window, a.short_window)}, key=seconds_of
    )
    by = (m.app_label,)
    out: list[SloRatio] = []
    for window in windows:
        out.append(
            SloRatio(
                sli="availability",
                window=window,
                record=f"app:slo_errors:ratio_rate{window}",
                expr=m.error_ratio(spec.name, window, by=by),
            )
        )
        out.append(
            SloRatio(
                sli="latency",
                window=window,
                record=f"app:slo_slow_requests:ratio_rate{window}",
                expr=m.slow_ratio(spec.name, window, spec.slo.latency_ms / 1000, by=by),
            )
        )
    return tuple(out)


class Threshold(BaseModel):
    """When one burn-rate alert fires, and why that number."""

    model_config = ConfigDict(frozen=True)

    sli: Literal["availability", "latency"]
    alert: BurnAlert
    burn_rate: float
    budget: float
    ratio: float  # the bad-event ratio above which it fires (burn rate x budget)

    @property
    def alert_name(self) -> str:
        """The alert's name in the rules file (``SLOAvailabilityFastBurn``)."""
        return f"SLO{self.sli.capitalize()}{self.alert.name.capitalize()}Burn"


def thresholds(slo: Slo) -> tuple[Threshold, ...]:
    """Every burn-rate alert's threshold, derived from the SLO."""
    out: list[Threshold] = []
    for sli, budget in (("availability", slo.error_budget), ("latency", slo.latency_budget)):
        for alert in slo.alerts:
            burn = slo.burn_rate(alert)
            out.append(
                Threshold(
                    sli=sli,
                    alert=alert,
                    burn_rate=burn,
                    budget=budget,
                    ratio=round(burn * budget, 12),
                )
            )
    return tuple(out)


# --- rule files ---------------------------------------------------------------------------


def rule_groups(spec: MonitorSpec) -> list[dict[str, object]]:
    """The Prometheus rule groups of ``spec`` (the ``groups:`` list of a rules file)."""
    m = spec.metrics
    app_match = f'{m.app_label}="{escape(spec.name)}"'
    recording: list[dict[str, object]] = [
        {"record": s.record, "expr": s.expr} for s in golden_signals(spec)
    ]
    ratios = slo_ratios(spec)
    slo_rules: list[dict[str, object]] = [{"record": r.record, "expr": r.expr} for r in ratios]
    record_of = {(r.sli, r.window): r.record for r in ratios}
    slo = spec.slo
    for t in thresholds(slo):
        long_series = record_of[(t.sli, t.alert.long_window)]
        short_series = record_of[(t.sli, t.alert.short_window)]
        bad = (
            "5xx responses"
            if t.sli == "availability"
            else f"requests slower than {number(slo.latency_ms)} ms"
        )
        objective = (
            f"{number(slo.availability)} % availability"
            if t.sli == "availability"
            else f"P{number(slo.latency_percentile)} < {number(slo.latency_ms)} ms"
        )
        slo_rules.append(
            {
                "alert": t.alert_name,
                "expr": (
                    f"{long_series}{{{app_match}}} > {number(t.ratio)}"
                    f" and {short_series}{{{app_match}}} > {number(t.ratio)}"
                ),
                "labels": {
                    "severity": t.alert.severity,
                    "slo": t.sli,
                    "burn": t.alert.name,
                },
                "annotations": {
                    "summary": (
                        f"{spec.name} burns its {objective} error budget "
                        f"{number(t.burn_rate)}x too fast"
                    ),
                    "description": (
                        f"{bad} are above {number(t.ratio * 100)} % of requests over the last "
                        f"{t.alert.long_window} and {t.alert.short_window} (now "
                        "{{ $value | humanizePercentage }} over "
                        f"{t.alert.long_window}): at this rate "
                        f"{number(t.alert.budget_share * 100)} % of the {slo.period_days}-day "
                        f"budget ({number(t.budget * 100)} % of requests) is gone in "
                        f"{t.alert.long_window}."
                    ),
                },
            }
        )
    return [
        {"name": f"{spec.name}-golden-signals", "rules": recording},
        {"name": f"{spec.name}-slo", "rules": slo_rules},
    ]


def prometheus_rule(
    spec: MonitorSpec, namespace: str | None = None, labels: Sequence[tuple[str, str]] = ()
) -> dict[str, object]:
    """The same groups as a Prometheus Operator ``PrometheusRule`` (``labels`` are what the
    operator's ``ruleSelector`` matches, e.g. ``release=prometheus``)."""
    metadata: dict[str, object] = {
        "name": f"{spec.name}-monitoring",
        "labels": {"app.kubernetes.io/name": spec.name, **dict(labels)},
    }
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": metadata,
        "spec": {"groups": rule_groups(spec)},
    }


#: The keys of an app spec that ``shipflow monitor`` reads; the others belong to other commands
#: (``shipflow plan`` reads image, port, replicas, ... from the same file).
SPEC_KEYS = ("name", "slo", "metrics", "saturation", "endpoint_label")


def monitor_spec(document: Mapping[str, object]) -> MonitorSpec:
    """The monitoring part of an app spec (a parsed YAML, TOML or JSON document).

    Raises:
        ConfigError: a value is out of range; the field is its dotted path (``slo.availability``).
    """
    picked = {k: v for k, v in document.items() if k in SPEC_KEYS}
    try:
        return MonitorSpec.model_validate(picked)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "spec"
        raise ConfigError(field, first["msg"].removeprefix("Value error, ")) from exc
