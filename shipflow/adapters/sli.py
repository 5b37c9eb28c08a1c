"""The counts behind an SLO, read from Prometheus with the shared PromQL definitions.

Every version of the app counts (users saw all of them). The queries are the canary
analysis' own (:class:`shipflow.core.metrics.HttpMetrics`), summed over versions here, so the
SLO gate and the analysis can never disagree on what a request or an error is.
"""

from __future__ import annotations

import math

from shipflow.adapters.prometheus import MetricsTarget, PrometheusClient, bucket_bound, within
from shipflow.core.slo import SliCounts
from shipflow.errors import ConfigError


def read_sli(
    client: PrometheusClient,
    target: MetricsTarget,
    window_seconds: float,
    timeout: float,
    latency_threshold: float | None = None,
) -> SliCounts:
    """Requests, errors and (with ``latency_threshold``) requests within it, of every version
    of ``target.app`` over the last ``window_seconds``; the queries share ``timeout``.

    The latency bound used is the smallest histogram bucket bound at or above the threshold
    (a histogram cannot say more); a threshold above every bucket is a ConfigError.
    """
    defs, app = target.definitions, target.app
    total = within(client, timeout, "reading")
    requests = sum(max(0.0, v) for _, v in total(defs.requests_by_version(app, window_seconds)))
    errors = sum(max(0.0, v) for _, v in total(defs.errors_by_version(app, window_seconds)))
    if latency_threshold is None:
        return SliCounts(total=requests, errors=min(errors, requests))
    by_le: dict[float, float] = {}
    for labels, value in total(defs.latency_buckets_by_version(app, window_seconds)):
        if (le := bucket_bound(labels)) is None:
            continue
        by_le[le] = by_le.get(le, 0.0) + max(0.0, value)
    finite = sorted(le for le in by_le if not math.isinf(le))
    if requests and not by_le:
        raise ConfigError(
            "slo.latency_threshold_seconds",
            f"no {defs.latency_histogram}_bucket series for app {app!r}: no latency SLI",
        )
    bound = next((le for le in finite if le >= latency_threshold), None)
    if by_le and bound is None:
        raise ConfigError(
            "slo.latency_threshold_seconds",
            f"{latency_threshold:g} s is above every bucket of {defs.latency_histogram} "
            f"(largest {finite[-1] if finite else 'none'})",
        )
    fast = by_le.get(bound, 0.0) if bound is not None else 0.0
    return SliCounts(
        total=requests,
        errors=min(errors, requests),
        fast=min(fast, requests),
        latency_bound=bound if bound is not None else latency_threshold,
    )
