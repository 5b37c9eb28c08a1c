"""Judging one check of a new version against its baseline: the policy, the evidence, the
measurement.

Modelled on Argo Rollouts' analysis: every check is a :class:`Measurement` with a phase
(successful, failed, inconclusive, error) and a reason that carries the numbers. What a check
judges is an :class:`Observation`: the counts of both versions over the evidence span (since the
step began, or since the last failed check), so one error is one error however often it is
looked at. The step's decision from a run of measurements is :mod:`shipflow.core.steps`. Pure
functions only: callers pass the counts and the time in.
"""

from __future__ import annotations

import math
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

P99 = 0.99


class AnalysisPolicy(BaseModel):
    """When a new version is judged worse than its baseline, and how many checks of each kind a
    step tolerates (a flow parameter: a form in the UI). Shared by every rollout strategy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    check_interval_seconds: float = Field(default=30, gt=0, description="Seconds between checks.")
    max_error_ratio: float = Field(
        default=1.5, ge=1.0, description="Canary error rate may be up to this x the baseline's."
    )
    error_rate_floor: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="The relative limit is never below this (zero-error baselines).",
    )
    max_error_rate: float = Field(
        default=0.05,
        gt=0,
        le=1,
        description="Absolute ceiling: above this error rate the canary fails, whatever the "
        "baseline does (a sick baseline licenses nothing).",
    )
    confidence: float = Field(
        default=0.99,
        gt=0.5,
        lt=1,
        description="Evidence needed to fail: confidence that a limit is really exceeded.",
    )
    max_p99_seconds: float = Field(default=0.5, gt=0, description="Absolute P99 latency limit.")
    max_latency_ratio: float = Field(
        default=1.5,
        ge=1.0,
        description="Canary P99 may be up to this x the baseline's P99 (when it has data).",
    )
    min_requests: int = Field(
        default=50, ge=1, description="Canary requests a step needs before it can pass."
    )
    min_baseline_requests: int = Field(
        default=50, ge=1, description="Baseline requests needed to compare against it."
    )
    max_sample_age_seconds: float = Field(
        default=60,
        gt=0,
        description="A newest sample older than this is a scrape gap: an error, not evidence.",
    )
    failure_limit: int = Field(default=0, ge=0, description="Failed checks tolerated per step.")
    inconclusive_limit: int = Field(
        default=2,
        ge=0,
        description="Inconclusive step ends tolerated per step; each extends the hold "
        "(too little evidence is not a failure: at low traffic the hold needs longer).",
    )
    consecutive_error_limit: int = Field(
        default=4, ge=0, description="Checks in a row that could not measure, tolerated."
    )
    on_inconclusive: Literal["rollback", "pause"] = Field(
        default="rollback",
        description="Beyond inconclusive_limit: roll back, or pause for a human to decide.",
    )

    @model_validator(mode="after")
    def _floor_below_ceiling(self) -> AnalysisPolicy:
        if self.error_rate_floor > self.max_error_rate:
            raise ValueError(
                f"error_rate_floor ({self.error_rate_floor}) must not exceed "
                f"max_error_rate ({self.max_error_rate})"
            )
        return self


class Phase(StrEnum):
    SUCCESSFUL = "successful"  # enough evidence, no limit exceeded
    FAILED = "failed"  # evidence that the new version is worse
    INCONCLUSIVE = "inconclusive"  # too little of the new version's own data to judge
    ERROR = "error"  # could not measure: never blamed on the new version


Buckets = tuple[tuple[float, float], ...]


class Sample(BaseModel):
    """What one version did during the evidence span: requests, errors and the cumulative
    latency histogram (``(le, count)`` pairs, rising ``le``, the last one ``+Inf``)."""

    model_config = ConfigDict(frozen=True)

    requests: float = Field(default=0, ge=0)
    errors: float = Field(default=0, ge=0)
    buckets: Buckets = ()

    @property
    def error_rate(self) -> float | None:
        return min(1.0, self.errors / self.requests) if self.requests else None


class Observation(BaseModel):
    """Everything one check read, over ``span_seconds`` of evidence."""

    model_config = ConfigDict(frozen=True)

    span_seconds: float
    canary: Sample
    baseline: Sample | None = Field(
        default=None, description="None: no baseline in this analysis (absolute limits only)."
    )
    unlabelled_requests: float = Field(
        default=0, description="Requests in series without the version label."
    )
    newest_sample_age_seconds: float | None = Field(
        default=None, description="None: the app has no series at all."
    )
    version_label: str = "version"


class Quantile(BaseModel):
    """A quantile estimated from histogram buckets: the interpolated value (Prometheus'
    ``histogram_quantile``) and the bucket it lies in, which is all the data really says."""

    model_config = ConfigDict(frozen=True)

    value: float
    lower: float
    upper: float

    def describe(self) -> str:
        if math.isinf(self.upper):
            return f"> {_seconds(self.lower)} (above the largest bucket)"
        return f"≈ {_ms(self.value)} (between {_seconds(self.lower)} and {_seconds(self.upper)})"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _seconds(seconds: float) -> str:
    return f"{seconds:g} s"


def _monotonic(buckets: Buckets) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    high = 0.0
    for le, count in buckets:
        high = max(high, count)
        out.append((le, high))
    return out


def quantile(q: float, buckets: Buckets) -> Quantile | None:
    """The ``q`` quantile of a cumulative histogram, as Prometheus' ``histogram_quantile``
    computes it (linear interpolation within the bucket; in the ``+Inf`` bucket, the largest
    finite bound). None without a ``+Inf`` bucket or without observations."""
    rows = _monotonic(buckets)
    if not rows or not math.isinf(rows[-1][0]) or rows[-1][1] <= 0:
        return None
    rank = q * rows[-1][1]
    for i, (le, count) in enumerate(rows):
        if count >= rank:
            below_le, below = rows[i - 1] if i else (0.0, 0.0)
            if math.isinf(le):
                return Quantile(value=below_le, lower=below_le, upper=le)
            if i == 0 and le <= 0:
                return Quantile(value=le, lower=le, upper=le)
            fraction = (rank - below) / (count - below) if count > below else 1.0
            return Quantile(value=below_le + (le - below_le) * fraction, lower=below_le, upper=le)
    return None  # unreachable: the +Inf bucket holds the total


def slower_than(limit: float, buckets: Buckets) -> tuple[float, float, float | None]:
    """``(slow, total, bound)``: of ``total`` observations, ``slow`` are certainly slower than
    ``limit`` — those above ``bound``, the smallest bucket bound at or above ``limit`` (None
    when the buckets end below the limit, and nothing can be said)."""
    rows = _monotonic(buckets)
    if not rows:
        return 0.0, 0.0, None
    total = rows[-1][1]
    for le, count in rows:
        if not math.isinf(le) and le >= limit:
            return max(0.0, total - count), total, le
    return 0.0, total, None


def binomial_upper_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), computed exactly in log space."""
    if k <= 0:
        return 1.0
    if k > n or p <= 0:
        return 0.0
    if p >= 1:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    log_n = math.lgamma(n + 1)

    def log_term(i: int) -> float:
        return log_n - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q

    if k <= n * p:  # below the mean: the complement is the short sum
        total, i = 0.0, k - 1
        while i >= 0:
            term = math.exp(log_term(i))
            total += term
            if term < total * 1e-12:  # terms fall geometrically below the mean
                break
            i -= 1
        return max(0.0, 1.0 - total)
    total, i = 0.0, k
    while i <= n:
        term = math.exp(log_term(i))
        total += term
        if term < total * 1e-12:  # terms fall geometrically above the mean
            break
        i += 1
    return min(1.0, total)


def excess_p_value(hits: float, trials: float, limit: float) -> float:
    """How likely ``hits`` or more of ``trials`` would be if the true proportion were ``limit``.

    A one-sided exact binomial test of "proportion <= limit": a small value is evidence that
    the proportion really is above the limit, not that a few unlucky requests happened.
    """
    n = round(trials)
    return binomial_upper_tail(min(n, round(hits)), n, limit)


def ratio_p_value(
    canary_hits: float, canary_trials: float, base_hits: float, base_trials: float, ratio: float
) -> float:
    """How likely the canary would have ``canary_hits`` or more of both versions' hits if its
    rate were ``ratio`` x the baseline's: a one-sided exact test of "canary rate <= ratio x
    baseline rate" that counts the baseline's own noise.

    Given all the hits of both versions, the canary's share of them is binomial with
    probability ``ratio n_c / (ratio n_c + n_b)`` when its rate is exactly ``ratio`` x the
    baseline's (the conditional test of two Poisson rates). Treating the baseline's rate as
    exact instead fails a canary that meets its limit whenever the baseline happened to look
    better than it is.
    """
    x_c, x_b = round(canary_hits), round(base_hits)
    exposure = ratio * canary_trials
    if exposure <= 0:
        return 1.0
    return binomial_upper_tail(x_c, x_c + x_b, exposure / (exposure + base_trials))


class Measurement(BaseModel):
    """One check of the new version against the baseline, with the reason for its phase."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    weight: int = Field(description="Percent of traffic on the new version.")
    phase: Phase
    reason: str
    observation: Observation | None = None
    error_threshold: float | None = None
    latency_limit: float | None = None
    canary_p99: Quantile | None = None
    baseline_p99: Quantile | None = None

    def row(self) -> dict[str, str]:
        """A row of the measurements table artifact."""
        obs = self.observation

        def rate(s: Sample | None) -> str:
            if s is None or not s.requests:
                return "-"
            return f"{s.errors / s.requests:.2%} ({s.errors:.0f}/{s.requests:.0f})"

        def p99(q: Quantile | None) -> str:
            return "-" if q is None else q.describe()

        return {
            "time": self.at.strftime("%H:%M:%S"),
            "weight": f"{self.weight}%",
            "evidence": "-" if obs is None else f"{obs.span_seconds:.0f} s",
            "canary errors": rate(obs.canary if obs else None),
            "baseline errors": rate(obs.baseline if obs else None),
            "error limit": "-" if self.error_threshold is None else f"{self.error_threshold:.2%}",
            "canary p99": p99(self.canary_p99),
            "baseline p99": p99(self.baseline_p99),
            "p99 limit": "-" if self.latency_limit is None else _ms(self.latency_limit),
            "phase": self.phase.value,
            "reason": self.reason,
        }


def error_measurement(at: datetime, weight: int, problem: str) -> Measurement:
    """A check that could not be made (Prometheus down, a query refused)."""
    return Measurement(
        at=at, weight=weight, phase=Phase.ERROR, reason=f"could not measure: {problem}"
    )


def _rate(s: Sample) -> str:
    rate = s.error_rate
    return "-" if rate is None else f"{rate:.2%} ({s.errors:.0f}/{s.requests:.0f})"


def measure(
    observation: Observation,
    policy: AnalysisPolicy,
    *,
    at: datetime,
    weight: int,
    significance: float | None = None,
) -> Measurement:
    """Judge the evidence so far of the new version (canary) against its baseline.

    ERROR (could not measure; never the canary's fault) when the app has no series at all,
    when its newest sample is older than ``max_sample_age_seconds`` (a scrape gap), when its
    series carry no version label (canary and baseline cannot be told apart), when the
    baseline has fewer than ``min_baseline_requests`` (a silent baseline is never read as
    0 %), or when no version has a latency histogram.

    FAILED, at any amount of traffic, when an exact one-sided test rejects "the canary meets
    this limit" at ``significance`` (the p-value is at most it; by default ``1 - confidence``,
    a single look; a step that looks again and again at its growing evidence gives each check
    its share, :func:`shipflow.core.steps.check_significance`):
    - its error rate is above ``max_error_rate`` (the absolute ceiling, binomial test); or
    - its error rate is above ``max_error_ratio`` x the baseline's (the conditional test of
      two Poisson rates, :func:`ratio_p_value`: the baseline's rate is a noisy estimate too)
      **and** above ``error_rate_floor`` (binomial test): both must be shown, so a limit of
      min(max(ratio x baseline, floor), ceiling) is what a canary may reach; or
    - more than 1 % of its requests are slower than min(``max_p99_seconds``,
      ``max_latency_ratio`` x baseline P99), i.e. its P99 is above that limit. Only requests in
      buckets above the limit count as slower: a P99 between the limit and the next bucket
      bound cannot be seen.
    Without a baseline (``baseline`` None) only the absolute limits apply.

    INCONCLUSIVE when the canary has fewer than ``min_requests`` (no data is never a pass) or
    no latency data of its own. SUCCESSFUL otherwise; an error rate above the limit without
    the evidence to fail says so in the reason.
    """
    canary, baseline = observation.canary, observation.baseline
    label = observation.version_label
    alpha = 1 - policy.confidence if significance is None else significance
    if not 0 < alpha < 1:
        raise ValueError(f"significance must be between 0 and 1, not {alpha}")

    def result(phase: Phase, reason: str, **numbers: object) -> Measurement:
        return Measurement(
            at=at, weight=weight, phase=phase, reason=reason, observation=observation, **numbers
        )

    age = observation.newest_sample_age_seconds
    if age is None:
        return result(
            Phase.ERROR,
            "could not measure: the app has no series in Prometheus at all (is it scraped? "
            "is the app label right?)",
        )
    if age > policy.max_sample_age_seconds:
        return result(
            Phase.ERROR,
            f"could not measure: metrics are stale, the newest sample is {age:.0f} s old "
            f"(> max_sample_age_seconds {policy.max_sample_age_seconds:g}): a scrape gap, "
            "not evidence against the canary",
        )
    base_silent = baseline is not None and not baseline.requests
    if (
        not canary.requests
        and observation.unlabelled_requests
        and (baseline is None or base_silent)
    ):
        return result(
            Phase.ERROR,
            f"could not measure: the series carry no `{label}` label "
            f"({observation.unlabelled_requests:.0f} requests without it), so canary and "
            f"baseline cannot be told apart (metrics summed over all pods hide the canary's "
            f"errors): give each version's metrics its `{label}` label",
        )

    base_ok = baseline is not None and baseline.requests >= policy.min_baseline_requests
    base_rate = baseline.error_rate if baseline is not None and base_ok else None
    if base_rate is None:
        threshold = policy.max_error_rate
        how = f"absolute ceiling {policy.max_error_rate:.2%}"
    else:
        relative = max(policy.max_error_ratio * base_rate, policy.error_rate_floor)
        threshold = min(relative, policy.max_error_rate)
        how = (
            f"min(max({policy.max_error_ratio:g} x baseline, floor "
            f"{policy.error_rate_floor:.2%}), ceiling {policy.max_error_rate:.2%})"
        )
    canary_p99 = quantile(P99, canary.buckets)
    base_p99 = quantile(P99, baseline.buckets) if baseline is not None and base_ok else None
    latency_limit = policy.max_p99_seconds
    latency_how = "absolute"
    if base_p99 is not None and policy.max_latency_ratio * base_p99.value < latency_limit:
        latency_limit = policy.max_latency_ratio * base_p99.value
        latency_how = f"{policy.max_latency_ratio:g} x baseline p99 {_ms(base_p99.value)}"
    numbers: dict[str, object] = {
        "error_threshold": threshold,
        "latency_limit": latency_limit,
        "canary_p99": canary_p99,
        "baseline_p99": base_p99,
    }
    vs = "" if baseline is None else f" vs baseline {_rate(baseline)}"
    errors = f"canary error rate {_rate(canary)}{vs}"

    rate = canary.error_rate
    above = rate is not None and rate > threshold
    p_errors = 1.0
    if rate is not None and rate > policy.max_error_rate:
        p_errors = excess_p_value(canary.errors, canary.requests, policy.max_error_rate)
    if (
        baseline is not None
        and base_rate is not None
        and rate is not None
        and rate > policy.error_rate_floor
        and rate > policy.max_error_ratio * base_rate
    ):
        # above the relative limit only if above both the ratio and the floor: show both
        p_relative = max(
            ratio_p_value(
                canary.errors,
                canary.requests,
                baseline.errors,
                baseline.requests,
                policy.max_error_ratio,
            ),
            excess_p_value(canary.errors, canary.requests, policy.error_rate_floor),
        )
        p_errors = min(p_errors, p_relative)
    if above and p_errors <= alpha:
        return result(
            Phase.FAILED,
            f"{errors} > limit {threshold:.2%} ({how}), p={p_errors:.2g}",
            **numbers,
        )
    slow, total, bound = slower_than(latency_limit, canary.buckets)
    too_slow = slow > (1 - P99) * total
    p_slow = excess_p_value(slow, total, 1 - P99) if too_slow else 1.0
    if bound is not None and too_slow and p_slow <= alpha:
        seen = canary_p99.describe() if canary_p99 else "-"
        return result(
            Phase.FAILED,
            f"canary p99 {seen} > limit {_ms(latency_limit)} ({latency_how}): {slow:.0f} of "
            f"{total:.0f} requests slower than {_seconds(bound)}, p={p_slow:.2g}",
            **numbers,
        )

    if canary.requests < policy.min_requests:
        what = "canary without data" if not canary.requests else "too little canary traffic"
        hint = ""
        if not canary.requests and observation.unlabelled_requests:
            hint = (
                f" while {observation.unlabelled_requests:.0f} requests carry no `{label}` "
                "label: do the canary's metrics have it?"
            )
        return result(
            Phase.INCONCLUSIVE,
            f"{what}: {canary.requests:.0f} requests in {observation.span_seconds:.0f} s "
            f"< min_requests {policy.min_requests}{hint}",
            **numbers,
        )
    if baseline is not None and not base_ok:
        return result(
            Phase.ERROR,
            f"could not measure: baseline without data, {baseline.requests:.0f} requests in "
            f"{observation.span_seconds:.0f} s < min_baseline_requests "
            f"{policy.min_baseline_requests} (never read as 0 %)",
            **numbers,
        )
    if canary_p99 is None:
        if base_p99 is None:
            return result(
                Phase.ERROR,
                "could not measure: no latency histogram for the canary or the baseline",
                **numbers,
            )
        return result(Phase.INCONCLUSIVE, "no latency data for the canary", **numbers)

    p99 = f"p99 {canary_p99.describe()} ≤ limit {_ms(latency_limit)}"
    if above:
        return result(
            Phase.SUCCESSFUL,
            f"{errors} is above the limit {threshold:.2%} but not significantly "
            f"(p={p_errors:.2g} > {alpha:.2g}, this check's share of the step's "
            f"{1 - policy.confidence:.0%}); {p99}",
            **numbers,
        )
    return result(Phase.SUCCESSFUL, f"{errors} ≤ limit {threshold:.2%}; {p99}", **numbers)
