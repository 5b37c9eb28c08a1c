"""Canary analysis: the policy, one measurement, and the verdict on a step.

Modelled on Argo Rollouts' analysis: every check is a :class:`Measurement` with a phase
(successful, failed, inconclusive, error) and a reason that carries the numbers. No data is
never a pass. A query that fails is an ERROR measurement; a run of them (the consecutive-error
limit) fails the step. Pure functions only: callers pass samples and the time in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from shipflow.errors import ConfigError


class Step(BaseModel):
    """One rung of the ladder: send ``weight`` % of traffic to the canary, watch for ``hold``."""

    model_config = ConfigDict(frozen=True)

    weight: int = Field(gt=0, lt=100, description="Percent of traffic on the canary (1-99).")
    hold_seconds: float = Field(ge=0, description="How long to watch this weight.")


DEFAULT_STEPS = (
    Step(weight=5, hold_seconds=600),
    Step(weight=25, hold_seconds=600),
    Step(weight=50, hold_seconds=900),
)


class CanaryPolicy(BaseModel):
    """How a canary climbs and when it is rolled back (a flow parameter: a form in the UI).

    The default is the ladder DevOps teams use: 5 % (hold 10 min) → 25 % (10 min) → 50 %
    (15 min) → 100 %, rolled back when the canary's error rate exceeds 2 x the stable baseline
    (and an absolute floor) with statistical evidence, or its P99 latency exceeds 500 ms.
    """

    model_config = ConfigDict(frozen=True)

    steps: tuple[Step, ...] = Field(default=DEFAULT_STEPS, description="Weights below 100 %.")
    check_interval_seconds: float = Field(default=30, gt=0)
    window_seconds: float = Field(default=60, gt=0, description="PromQL range of each check.")
    max_error_ratio: float = Field(
        default=2.0, ge=1.0, description="Canary error rate may be at most this x baseline."
    )
    error_rate_floor: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="A canary error rate at or below this never fails (zero-error baselines).",
    )
    confidence: float = Field(
        default=0.99,
        gt=0.5,
        lt=1,
        description="Confidence that the canary's error proportion exceeds the baseline's.",
    )
    max_p99_seconds: float = Field(default=0.5, gt=0)
    min_requests: int = Field(
        default=50,
        ge=1,
        description="Canary requests per window below which a check is inconclusive.",
    )
    failure_limit: int = Field(default=0, ge=0, description="Failed checks tolerated per step.")
    consecutive_error_limit: int = Field(default=4, ge=1)
    inconclusive_limit: int = Field(
        default=3,
        ge=1,
        description="Consecutive inconclusive checks before the hold is "
        "extended once, then on_inconclusive applies.",
    )
    on_inconclusive: Literal["rollback", "pause"] = Field(
        default="rollback",
        description="After the extension: roll back, or pause for a human to decide.",
    )
    progress_deadline_seconds: float = Field(
        default=600, gt=0, description="How long a Deployment rollout may take."
    )

    @field_validator("steps")
    @classmethod
    def _ladder(cls, steps: tuple[Step, ...]) -> tuple[Step, ...]:
        if not steps:
            raise ValueError("the ladder needs at least one step below 100 %")
        for i in range(1, len(steps)):
            if steps[i].weight <= steps[i - 1].weight:
                raise ValueError(
                    f"weights must rise: steps[{i}].weight={steps[i].weight} is not above "
                    f"steps[{i - 1}].weight={steps[i - 1].weight}"
                )
        return steps

    @model_validator(mode="after")
    def _window_covers_interval(self) -> CanaryPolicy:
        if self.window_seconds < self.check_interval_seconds:
            raise ValueError(
                f"window_seconds ({self.window_seconds}) must be at least "
                f"check_interval_seconds ({self.check_interval_seconds}) so no traffic goes unseen"
            )
        return self


def policy_from(data: dict[str, object]) -> CanaryPolicy:
    """A policy from untrusted input; a bad field is a ConfigError naming it."""
    try:
        return CanaryPolicy.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = "policy." + ".".join(str(p) for p in first["loc"]) if first["loc"] else "policy"
        raise ConfigError(field, first["msg"]) from None


class Phase(StrEnum):
    SUCCESSFUL = "successful"
    FAILED = "failed"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"


class Sample(BaseModel):
    """What one version did during one window."""

    model_config = ConfigDict(frozen=True)

    requests: float = Field(ge=0)
    errors: float = Field(ge=0)
    p99_seconds: float | None = None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


class Measurement(BaseModel):
    """One check of the canary against the baseline, with the reason for its phase."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    weight: int
    phase: Phase
    reason: str
    canary: Sample | None = None
    baseline: Sample | None = None

    def row(self) -> dict[str, str]:
        """A row of the measurements table artifact."""

        def rate(s: Sample | None) -> str:
            return "-" if s is None or not s.requests else f"{s.error_rate:.2%}"

        p99 = self.canary.p99_seconds if self.canary else None
        return {
            "time": self.at.strftime("%H:%M:%S"),
            "weight": f"{self.weight}%",
            "canary error rate": rate(self.canary),
            "baseline error rate": rate(self.baseline),
            "canary p99": "-" if p99 is None else f"{p99 * 1000:.0f} ms",
            "canary requests": "-" if self.canary is None else f"{self.canary.requests:.0f}",
            "phase": self.phase.value,
            "reason": self.reason,
        }


def error_measurement(at: datetime, weight: int, problem: str) -> Measurement:
    """A check that could not be made (Prometheus down, a query refused)."""
    return Measurement(at=at, weight=weight, phase=Phase.ERROR, reason=problem)


def binomial_upper_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), computed exactly in log space."""
    if k <= 0:
        return 1.0
    if k > n or p <= 0:
        return 0.0
    if p >= 1:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)

    def log_term(i: int) -> float:
        return (
            math.lgamma(n + 1)
            - math.lgamma(i + 1)
            - math.lgamma(n - i + 1)
            + i * log_p
            + (n - i) * log_q
        )

    if k <= n * p:  # below the mean: the complement is the short sum
        return max(0.0, 1.0 - sum(math.exp(log_term(i)) for i in range(k)))
    total, i = 0.0, k
    while i <= n:
        term = math.exp(log_term(i))
        total += term
        if term < total * 1e-12:  # terms fall geometrically above the mean
            break
        i += 1
    return min(1.0, total)


def excess_error_p_value(canary: Sample, threshold: float) -> float:
    """How likely the canary's errors would be if its true error rate were ``threshold``.

    A one-sided exact binomial test of "canary error rate <= threshold": small values are
    evidence that the canary really is worse than the threshold, not merely unlucky.
    """
    n = round(canary.requests)
    k = min(n, round(canary.errors))
    return binomial_upper_tail(k, n, threshold)


def measure(
    canary: Sample, baseline: Sample, policy: CanaryPolicy, *, at: datetime, weight: int
) -> Measurement:
    """Judge one window of canary traffic against the stable baseline.

    - INCONCLUSIVE when the canary served fewer than ``min_requests`` (no data is no pass),
      or has no latency data.
    - FAILED when its P99 exceeds ``max_p99_seconds``.
    - FAILED when its error rate exceeds the threshold max(``max_error_ratio`` x baseline
      rate, ``error_rate_floor``) *and* a one-sided exact binomial test rejects "the canary's
      true error rate is at most the threshold" at ``confidence``. The baseline, which serves
      most of the traffic, is taken as known. This asks for evidence that the canary is worse
      than the threshold, not just than the baseline, so a low-traffic canary is not rolled
      back for one unlucky request, and a healthy one almost never is across many checks.
      Above the threshold without that evidence: INCONCLUSIVE.
    - SUCCESSFUL otherwise.
    """

    def result(phase: Phase, reason: str) -> Measurement:
        return Measurement(
            at=at, weight=weight, phase=phase, reason=reason, canary=canary, baseline=baseline
        )

    if canary.requests < policy.min_requests:
        return result(
            Phase.INCONCLUSIVE,
            f"too little canary traffic: {canary.requests:.0f} requests in "
            f"{policy.window_seconds:.0f}s < {policy.min_requests}",
        )
    if canary.p99_seconds is None:
        return result(Phase.INCONCLUSIVE, "no latency data for the canary")
    if canary.p99_seconds > policy.max_p99_seconds:
        return result(
            Phase.FAILED,
            f"canary p99 {canary.p99_seconds * 1000:.0f} ms > "
            f"{policy.max_p99_seconds * 1000:.0f} ms",
        )
    rate, base = canary.error_rate, baseline.error_rate
    threshold = max(policy.error_rate_floor, policy.max_error_ratio * base)
    numbers = (
        f"canary error rate {rate:.2%} ({canary.errors:.0f}/{canary.requests:.0f}) vs "
        f"baseline {base:.2%} ({baseline.errors:.0f}/{baseline.requests:.0f})"
    )
    if rate > threshold:
        p_value = excess_error_p_value(canary, threshold)
        if p_value <= 1 - policy.confidence:
            return result(
                Phase.FAILED,
                f"{numbers} > threshold {threshold:.2%} (max({policy.max_error_ratio:g} x "
                f"baseline, floor {policy.error_rate_floor:.2%})), p={p_value:.2g}",
            )
        return result(
            Phase.INCONCLUSIVE,
            f"{numbers} > threshold {threshold:.2%} but not significant at "
            f"{policy.confidence:.0%} (p={p_value:.2g})",
        )
    p99 = f", p99 {canary.p99_seconds * 1000:.0f} ms"
    return result(Phase.SUCCESSFUL, f"{numbers} ≤ threshold {threshold:.2%}{p99}")


class Decision(StrEnum):
    CONTINUE = "continue"  # keep watching
    PASSED = "passed"  # hold done, last check successful: next step
    FAILED = "failed"  # roll back
    INCONCLUSIVE = "inconclusive"  # too many inconclusive checks: extend once, then policy


class Verdict(BaseModel):
    model_config = ConfigDict(frozen=True)

    decision: Decision
    reason: str


def _trailing(measurements: Sequence[Measurement], phase: Phase) -> int:
    count = 0
    for m in reversed(measurements):
        if m.phase is not phase:
            break
        count += 1
    return count


def assess_step(
    measurements: Sequence[Measurement], policy: CanaryPolicy, *, hold_elapsed: bool
) -> Verdict:
    """The verdict on one step from its measurements so far (oldest first).

    FAILED when failed checks exceed ``failure_limit`` or the last ``consecutive_error_limit``
    checks were errors; INCONCLUSIVE after ``inconclusive_limit`` inconclusive checks in a
    row; PASSED once the hold has elapsed and the latest check is successful; else CONTINUE.
    """
    failed = [m for m in measurements if m.phase is Phase.FAILED]
    if len(failed) > policy.failure_limit:
        return Verdict(decision=Decision.FAILED, reason=failed[-1].reason)
    errors = _trailing(measurements, Phase.ERROR)
    if errors >= policy.consecutive_error_limit:
        return Verdict(
            decision=Decision.FAILED,
            reason=f"{errors} consecutive measurement errors: {measurements[-1].reason}",
        )
    inconclusive = _trailing(measurements, Phase.INCONCLUSIVE)
    if inconclusive >= policy.inconclusive_limit:
        return Verdict(
            decision=Decision.INCONCLUSIVE,
            reason=f"{inconclusive} inconclusive checks in a row: {measurements[-1].reason}",
        )
    if hold_elapsed and measurements and measurements[-1].phase is Phase.SUCCESSFUL:
        return Verdict(decision=Decision.PASSED, reason=measurements[-1].reason)
    return Verdict(decision=Decision.CONTINUE, reason="watching")
