"""Judging one check: tables over frozen observations, the binomial test, histogram quantiles,
and the policy as untrusted input."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shipflow.core.analysis import (
    AnalysisPolicy,
    Observation,
    Phase,
    Quantile,
    Sample,
    binomial_upper_tail,
    error_measurement,
    excess_p_value,
    measure,
    quantile,
    ratio_p_value,
    slower_than,
)
from shipflow.core.canary import CanaryPolicy, Step
from shipflow.core.validation import validated
from shipflow.errors import ConfigError

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
POLICY = AnalysisPolicy()
INF = float("inf")
BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, INF)


def at(requests: float, ms: float) -> tuple[tuple[float, float], ...]:
    """Cumulative buckets of ``requests`` observations all at ``ms``."""
    return tuple((le, requests if ms / 1000 <= le else 0.0) for le in BOUNDS)


def sample(requests: float, errors: float, ms: float | None = 40) -> Sample:
    return Sample(requests=requests, errors=errors, buckets=at(requests, ms) if ms else ())


def check(canary: Sample, baseline: Sample | None, **obs: object) -> tuple[Phase, str]:
    values: dict = {"span_seconds": 60, "newest_sample_age_seconds": 2.0} | obs
    m = measure(Observation(canary=canary, baseline=baseline, **values), POLICY, at=NOW, weight=25)
    return m.phase, m.reason


@pytest.mark.parametrize(
    ("canary", "baseline", "obs", "phase", "words"),
    [
        (sample(3000, 30), sample(9000, 90), {}, Phase.SUCCESSFUL, "canary error rate 1.00%"),
        (
            sample(3000, 90),
            sample(9000, 90),
            {},
            Phase.FAILED,
            "canary error rate 3.00% (90/3000) vs baseline 1.00% (90/9000) > limit 1.50%",
        ),
        (sample(10000, 1), sample(190000, 0), {}, Phase.SUCCESSFUL, "0.01%"),
        (sample(12, 0), sample(9000, 90), {}, Phase.INCONCLUSIVE, "too little canary traffic"),
        (sample(0, 0, None), sample(9000, 90), {}, Phase.INCONCLUSIVE, "canary without data"),
        (
            sample(3000, 0, 730),
            sample(9000, 0, 600),
            {},
            Phase.FAILED,
            "canary p99 ≈ 995 ms (between 0.5 s and 1 s) > limit 500 ms (absolute)",
        ),
        (sample(3000, 0, None), sample(9000, 0), {}, Phase.INCONCLUSIVE, "no latency data"),
        (
            sample(3000, 0, None),
            sample(9000, 0, None),
            {},
            Phase.ERROR,
            "no latency histogram for the canary or the baseline",
        ),
        (
            sample(3000, 0),
            sample(20, 0),
            {},
            Phase.ERROR,
            "baseline without data, 20 requests in 60 s < min_baseline_requests 50",
        ),
        (
            sample(3000, 600),
            sample(20, 0),
            {},
            Phase.FAILED,
            "> limit 5.00% (absolute ceiling 5.00%)",
        ),
        (sample(3000, 30), None, {}, Phase.SUCCESSFUL, "canary error rate 1.00% (30/3000) ≤"),
        (
            sample(3000, 30),
            sample(9000, 90),
            {"newest_sample_age_seconds": 75.0},
            Phase.ERROR,
            "metrics are stale, the newest sample is 75 s old (> max_sample_age_seconds 60)",
        ),
        (
            sample(0, 0, None),
            sample(0, 0, None),
            {"newest_sample_age_seconds": None},
            Phase.ERROR,
            "no series in Prometheus at all",
        ),
        (
            sample(0, 0, None),
            sample(0, 0, None),
            {"unlabelled_requests": 1234, "version_label": "track"},
            Phase.ERROR,
            "the series carry no `track` label (1234 requests without it)",
        ),
    ],
)
def test_measure(
    canary: Sample, baseline: Sample | None, obs: dict, phase: Phase, words: str
) -> None:
    got, reason = check(canary, baseline, **obs)
    assert got is phase, reason
    assert words in reason


def test_the_measurements_row_says_how_coarse_each_p99_is() -> None:
    obs = Observation(
        span_seconds=42,
        canary=sample(3000, 30, 730),
        baseline=sample(9000, 90, 40),
        newest_sample_age_seconds=1,
    )
    row = measure(obs, POLICY, at=NOW, weight=25).row()
    assert row["canary p99"] == "≈ 995 ms (between 0.5 s and 1 s)"
    assert row["baseline p99"] == "≈ 50 ms (between 0.025 s and 0.05 s)"
    assert row["p99 limit"] == "75 ms"
    assert row["canary errors"] == "1.00% (30/3000)"
    assert row["error limit"] == "1.50%"
    assert row["evidence"] == "42 s"
    assert row["phase"] == "failed"


def test_an_error_measurement_says_it_could_not_measure() -> None:
    m = error_measurement(NOW, 5, "prometheus query failed (timeout after 2.5s): up")
    assert m.phase is Phase.ERROR
    assert m.reason.startswith("could not measure: prometheus query failed (timeout")
    assert m.row()["canary errors"] == "-"


@pytest.mark.parametrize(
    ("q", "buckets", "expected"),
    [
        (0.99, at(100, 40), Quantile(value=0.04975, lower=0.025, upper=0.05)),
        (0.5, ((0.1, 50.0), (0.2, 100.0), (INF, 100.0)), Quantile(value=0.1, lower=0.0, upper=0.1)),
        (0.99, ((0.1, 0.0), (0.2, 0.0), (INF, 10.0)), Quantile(value=0.2, lower=0.2, upper=INF)),
        (0.99, ((0.1, 5.0), (INF, 5.0)), Quantile(value=0.099, lower=0.0, upper=0.1)),
        (0.99, ((0.1, 6.0), (0.2, 5.0), (INF, 10.0)), Quantile(value=0.2, lower=0.2, upper=INF)),
        (0.99, (), None),
        (0.99, ((0.1, 5.0),), None),  # no +Inf bucket
        (0.99, ((0.1, 0.0), (INF, 0.0)), None),  # no observations
    ],
)
def test_quantile_as_prometheus_interpolates_it(
    q: float, buckets: tuple, expected: Quantile | None
) -> None:
    got = quantile(q, buckets)
    if expected is None:
        assert got is None
    else:
        assert got is not None
        assert got.value == pytest.approx(expected.value)
        assert (got.lower, got.upper) == (expected.lower, expected.upper)


@pytest.mark.parametrize(
    ("limit", "buckets", "expected"),
    [
        (0.5, at(100, 600), (100.0, 100.0, 0.5)),
        (0.5, at(100, 500), (0.0, 100.0, 0.5)),  # at the limit is not slower
        (0.075, at(100, 70), (0.0, 100.0, 0.1)),  # between the limit and the next bound
        (0.075, at(100, 200), (100.0, 100.0, 0.1)),
        (9.0, at(100, 600), (0.0, 100.0, None)),  # beyond the largest finite bucket
        (0.5, (), (0.0, 0.0, None)),
    ],
)
def test_slower_than_counts_only_what_is_certainly_slower(
    limit: float, buckets: tuple, expected: tuple
) -> None:
    assert slower_than(limit, buckets) == expected


def test_p_value_is_small_only_with_evidence() -> None:
    assert excess_p_value(90, 3000, 0.02) < 1e-3
    assert 0.1 < excess_p_value(2, 39, 0.0189) < 0.2
    assert excess_p_value(0, 100, 0.01) == 1.0


@pytest.mark.parametrize(
    ("k", "n", "p", "expected"),
    [
        (0, 10, 0.5, 1.0),
        (1, 1, 0.5, 0.5),
        (2, 2, 0.5, 0.25),
        (3, 10, 0.1, 0.0701908),  # 1 - P(X<=2), from the binomial CDF
        (11, 10, 0.1, 0.0),
        (5, 100000, 0.0, 0.0),
        (150, 100000, 0.001, 1.8604062e-06),  # checked with exact decimal sums
        (90, 10000, 0.01, 0.85489854),  # below the mean; exact fractions, as above
    ],
)
def test_binomial_upper_tail(k: int, n: int, p: float, expected: float) -> None:
    assert binomial_upper_tail(k, n, p) == pytest.approx(expected, rel=2e-3, abs=1e-9)


def test_default_ladder_and_limits() -> None:
    policy = CanaryPolicy()
    assert [(s.weight, s.hold_seconds) for s in policy.steps] == [(5, 600), (25, 600), (50, 900)]
    assert (policy.max_error_ratio, policy.error_rate_floor, policy.max_error_rate) == (
        1.5,
        0.01,
        0.05,
    )
    assert (policy.max_p99_seconds, policy.max_latency_ratio) == (0.5, 1.5)
    assert (policy.failure_limit, policy.inconclusive_limit, policy.consecutive_error_limit) == (
        0,
        2,
        4,
    )


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"steps": []}, "policy.steps", "at least one step"),
        (
            {"steps": [{"weight": 25, "hold_seconds": 1}, {"weight": 5, "hold_seconds": 1}]},
            "policy.steps",
            "steps[1].weight=5 is not above steps[0].weight=25",
        ),
        ({"steps": [{"weight": 100, "hold_seconds": 1}]}, "policy.steps.0.weight", "less than 100"),
        ({"steps": [{"weight": 0, "hold_seconds": 1}]}, "policy.steps.0.weight", "greater than 0"),
        ({"max_error_ratio": 0.5}, "policy.max_error_ratio", "greater than or equal to 1"),
        ({"on_inconclusive": "shrug"}, "policy.on_inconclusive", "'rollback' or 'pause'"),
        ({"window_seconds": 60}, "policy.window_seconds", "Extra inputs are not permitted"),
        (
            {"error_rate_floor": 0.1, "max_error_rate": 0.05},
            "policy",
            "error_rate_floor (0.1) must not exceed max_error_rate (0.05)",
        ),
    ],
)
def test_bad_policies_name_the_field(data: dict, field: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        validated(CanaryPolicy, data, prefix="policy")
    assert err.value.field == field
    assert words in str(err.value)


def test_a_policy_round_trips_as_a_flow_parameter() -> None:
    policy = CanaryPolicy(steps=(Step(weight=10, hold_seconds=5),), check_interval_seconds=1)
    assert CanaryPolicy.model_validate(policy.model_dump(mode="json")) == policy


def test_nan_free_error_rate() -> None:
    assert Sample().error_rate is None  # no requests: no rate, never 0/0
    assert Sample(requests=4, errors=1).error_rate == 0.25
    # Counters read a moment apart can show more errors than requests: capped at 100 %.
    assert Sample(requests=3, errors=5).error_rate == 1.0


@pytest.mark.parametrize(
    ("significance", "phase", "words"),
    [
        (
            None,
            Phase.FAILED,
            "> limit 1.50% (min(max(1.5 x baseline, floor 1.00%), ceiling 5.00%))",
        ),
        (None, Phase.FAILED, "p=0.0039"),
        (0.0075, Phase.FAILED, "p=0.0039"),  # the share of the check that ends a hold
        (
            0.003,
            Phase.SUCCESSFUL,
            "not significantly (p=0.0039 > 0.003, this check's share of the step's 1%)",
        ),
        (
            0.0025 / 19,  # a check before the end of a default 10-minute hold
            Phase.SUCCESSFUL,
            "not significantly (p=0.0039 > 0.00013, this check's share of the step's 1%)",
        ),
    ],
)
def test_a_check_fails_only_at_its_significance(
    significance: float | None, phase: Phase, words: str
) -> None:
    obs = Observation(
        span_seconds=60,
        canary=sample(3000, 70),
        baseline=sample(9000, 90),
        newest_sample_age_seconds=1,
    )
    m = measure(obs, POLICY, at=NOW, weight=25, significance=significance)
    assert m.phase is phase, m.reason
    assert words in m.reason


@pytest.mark.parametrize("significance", [0.0, 1.0, -0.1])
def test_a_check_needs_a_significance_between_0_and_1(significance: float) -> None:
    obs = Observation(span_seconds=60, canary=sample(3000, 80), newest_sample_age_seconds=1)
    with pytest.raises(ValueError, match="significance must be between 0 and 1"):
        measure(obs, POLICY, at=NOW, weight=25, significance=significance)


@pytest.mark.parametrize(
    ("canary", "base", "ratio", "expected"),
    [
        ((10, 1000), (10, 1000), 1.0, 0.58809853),  # P(X >= 10), X ~ Bin(20, 1/2)
        ((5, 100), (0, 1000), 1.5, 3.7754358e-05),  # (150 / 1150) ** 5
        ((0, 100), (5, 100), 1.5, 1.0),  # no canary errors: nothing to show
        ((30, 1000), (100, 10000), 1.5, 0.0012111595),  # exact fractions, Bin(130, 15/115)
        ((63, 2700), (81, 8100), 1.5, 0.005880462),  # exact fractions, Bin(144, 1/3)
        ((5, 0), (5, 100), 1.5, 1.0),  # no canary requests
    ],
)
def test_ratio_p_value(
    canary: tuple[int, int], base: tuple[int, int], ratio: float, expected: float
) -> None:
    got = ratio_p_value(canary[0], canary[1], base[0], base[1], ratio)
    assert got == pytest.approx(expected, rel=2e-3, abs=1e-9)


def test_a_noisy_baseline_counts_against_failing() -> None:
    # 1.5 % beside a baseline seen at 0.8 % (limit 1.2 %) on 10,000 requests each: taken as
    # exact, 1.2 % would make 150 errors look significant (p ≈ 0.005); counting the
    # baseline's own noise, they are not.
    obs = Observation(
        span_seconds=600,
        canary=sample(10000, 150),
        baseline=sample(10000, 80),
        newest_sample_age_seconds=1,
    )
    assert excess_p_value(150, 10000, 0.012) < 0.01
    m = measure(obs, POLICY, at=NOW, weight=50)
    assert m.phase is Phase.SUCCESSFUL, m.reason
    assert "is above the limit 1.20% but not significantly (p=0.06" in m.reason
