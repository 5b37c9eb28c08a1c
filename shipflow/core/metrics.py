"""The PromQL definitions of an HTTP service's signals, written once for every reader.

The canary analysis, the SLO gate, the recording rules and alerts and the dashboards all read
the same series through :class:`HttpMetrics`, so what a canary is judged on is what the on-call
sees. The defaults are the conventional instrumentation: a request counter
``http_requests_total{app, version, status}`` and a latency histogram
``http_request_duration_seconds{app, version}``; every name is adjustable.

Queries group by the version label, so one answer holds every version, and series *without*
the label come back as a group without it (that is how "the metrics carry no version label" is
seen). Builders return PromQL text only; running it is the Prometheus adapter's business.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: A Prometheus metric name, and a label name (the data model's grammar).
METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def duration(seconds: float) -> str:
    """A PromQL duration for ``seconds`` (milliseconds, at least 1 ms)."""
    return f"{max(1, round(seconds * 1000))}ms"


def escape(value: str) -> str:
    """A label value as it goes between double quotes in PromQL."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class HttpMetrics(BaseModel):
    """Where an HTTP service's requests, errors and latency are, and how versions are told
    apart (a flow parameter: a form in the UI)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    requests_metric: str = Field(
        default="http_requests_total", description="Counter of requests, one series per status."
    )
    status_label: str = Field(default="status", description="Label holding the HTTP status.")
    error_status: str = Field(
        default="5..", description="Regular expression of the statuses that count as errors."
    )
    latency_histogram: str = Field(
        default="http_request_duration_seconds",
        description="Histogram of request latency in seconds (its _bucket series are read).",
    )
    app_label: str = Field(default="app", description="Label naming the service.")
    version_label: str = Field(
        default="version", description="Label telling the versions (canary, stable) apart."
    )

    @field_validator("requests_metric", "latency_histogram")
    @classmethod
    def _metric_name(cls, value: str) -> str:
        if not METRIC_NAME.match(value):
            raise ValueError(f"{value!r} is not a Prometheus metric name")
        return value

    @field_validator("status_label", "app_label", "version_label")
    @classmethod
    def _label_name(cls, value: str) -> str:
        if not LABEL_NAME.match(value):
            raise ValueError(f"{value!r} is not a Prometheus label name")
        return value

    # --- selectors --------------------------------------------------------------------

    def selector(self, app: str, *, version: str | None = None, errors: bool = False) -> str:
        """Label matchers (without braces) for ``app``, one version, and only errors."""
        parts = [f'{self.app_label}="{escape(app)}"']
        if version is not None:
            parts.append(f'{self.version_label}="{escape(version)}"')
        if errors:
            parts.append(f'{self.status_label}=~"{escape(self.error_status)}"')
        return ",".join(parts)

    def _by(self, by: Sequence[str] | None) -> str:
        """The grouping labels; ``None`` groups by the version label, whatever it is named."""
        return ", ".join((self.version_label,) if by is None else by)

    def _by_le(self, by: Sequence[str] | None) -> str:
        return ", ".join(("le", *((self.version_label,) if by is None else by)))

    # --- evidence: counts over a span, one value per version ----------------------------

    def requests_by_version(self, app: str, seconds: float) -> str:
        """Requests of each version of ``app`` during the last ``seconds``."""
        return self._counted(f"{self.requests_metric}{{{self.selector(app)}}}", seconds)

    def errors_by_version(self, app: str, seconds: float) -> str:
        """Error responses of each version during the last ``seconds`` (a version with no error
        series is absent: zero errors, when it has requests)."""
        sel = self.selector(app, errors=True)
        return self._counted(f"{self.requests_metric}{{{sel}}}", seconds)

    def latency_buckets_by_version(self, app: str, seconds: float) -> str:
        """Cumulative latency bucket counts (``le``) of each version during ``seconds``."""
        series = f"{self.latency_histogram}_bucket{{{self.selector(app)}}}"
        return self._counted(series, seconds, by=("le",))

    def _counted(self, series: str, seconds: float, by: Sequence[str] = ()) -> str:
        """What ``series`` counted during the last ``seconds``, summed by version: evidence a
        statistical test can take as counts.

        ``increase()`` alone is not that. It extrapolates to the span's edges (a 2 s span
        scraped every second doubles what was seen: twice the evidence, for a test) and it
        never counts a series' first sample (a 5xx series born with its first error hides
        that error). So, per series: the counter's value now minus its value a span ago, when
        it did not reset in between (exact, no extrapolation); everything a series born within
        the span counted; and only for a series that reset, Prometheus' ``increase()``.
        """
        d = duration(seconds)
        exact = f"{series} - {series} offset {d} unless resets({series}[{d}]) > 0"
        born = f"{series} unless {series} offset {d}"
        labels = ", ".join((self.version_label, *by))
        return f"sum by ({labels}) (({exact}) or ({born}) or increase({series}[{d}]))"

    def newest_sample_age(self, app: str) -> str:
        """Seconds since the newest sample of ``app``'s request counter (empty: no series in
        Prometheus' lookback window at all)."""
        return f"time() - max(timestamp({self.requests_metric}{{{self.selector(app)}}}))"

    # --- rates, for recording rules, alerts, dashboards and SLOs -------------------------

    def request_rate(self, app: str, window: str, by: Sequence[str] | None = None) -> str:
        """Requests per second over ``window`` (a PromQL duration such as ``5m``)."""
        return (
            f"sum by ({self._by(by)}) "
            f"(rate({self.requests_metric}{{{self.selector(app)}}}[{window}]))"
        )

    def error_rate(self, app: str, window: str, by: Sequence[str] | None = None) -> str:
        """Error responses per second over ``window``."""
        sel = self.selector(app, errors=True)
        return f"sum by ({self._by(by)}) (rate({self.requests_metric}{{{sel}}}[{window}]))"

    def error_ratio(self, app: str, window: str, by: Sequence[str] | None = None) -> str:
        """Errors / requests over ``window`` (0 when there were requests and no errors)."""
        return (
            f"({self.error_rate(app, window, by)} or {self.request_rate(app, window, by)} * 0)"
            f" / {self.request_rate(app, window, by)}"
        )

    def latency_quantile(
        self, q: float, app: str, window: str, by: Sequence[str] | None = None
    ) -> str:
        """The ``q`` quantile of latency over ``window``, interpolated within buckets."""
        return (
            f"histogram_quantile({q:g}, sum by ({self._by_le(by)}) "
            f"(rate({self.latency_histogram}_bucket{{{self.selector(app)}}}[{window}])))"
        )

    def slow_ratio(
        self, app: str, window: str, threshold_seconds: float, by: Sequence[str] | None = None
    ) -> str:
        """Share of requests slower than ``threshold_seconds`` over ``window``: 1 - (requests in
        the bucket ``le`` = threshold) / (all requests, ``le="+Inf"``). The threshold must be a
        bucket boundary of the histogram (a latency SLO's target is chosen as one)."""
        bucket = f"{self.latency_histogram}_bucket{{{self.selector(app)}"
        bound = escape(bucket_pattern(threshold_seconds))
        group = f"sum by ({self._by(by)})"
        return (
            f'1 - {group} (rate({bucket},le=~"{bound}"}}[{window}]))'
            f' / {group} (rate({bucket},le="+Inf"}}[{window}]))'
        )


def bucket_pattern(seconds: float) -> str:
    """A regular expression matching the ``le`` label of the bucket bounded at ``seconds`` as
    every client library writes it (Go writes ``1``, Python ``1.0``; Prometheus 2 keeps the
    text as scraped)."""
    text = format(seconds, "f").rstrip("0").rstrip(".") or "0"
    pattern = re.escape(text)
    return pattern + r"(\.0)?" if "." not in text else pattern
