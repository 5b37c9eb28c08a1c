"""Canary analysis rules, as tables over frozen samples."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shipflow.core.analysis import (
    CanaryPolicy,
    Decision,
    Measurement,
    Phase,
    Sample,
    Step,
    assess_step,
    binomial_upper_tail,
    error_measurement,
    excess_error_p_value,
    measure,
    policy_from,
)
from shipflow.errors import ConfigError

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
POLICY = CanaryPolicy()


def check(canary: Sample, baseline: Sample, policy: CanaryPolicy = POLICY) -> Measurement:
    return measure(canary, baseline, policy, at=NOW, weight=25)


@pytest.mark.parametrize(
    ("canary", "baseline", "phase", "words"),
    [
        # healthy: same error rate as stable
        (
            Sample(requests=3000, errors=30, p99_seconds=0.1),
            Sample(requests=9000, errors=90),
            Phase.SUCCESSFUL,
            "canary error rate 1.00%",
        ),
        # 3 x baseline with plenty of traffic: failed, with the numbers
        (
            Sample(requests=3000, errors=90, p99_seconds=0.1),
            Sample(requests=9000, errors=90),
            Phase.FAILED,
            "canary error rate 3.00% (90/3000) vs baseline 1.00% (90/9000)",
        ),
        # zero-error baseline, one error in 10,000: under the floor
        (
            Sample(requests=10000, errors=1, p99_seconds=0.1),
            Sample(requests=190000, errors=0),
            Phase.SUCCESSFUL,
            "0.01%",
        ),
        # too little traffic is never a pass
        (
            Sample(requests=12, errors=0, p99_seconds=0.1),
            Sample(requests=9000, errors=90),
            Phase.INCONCLUSIVE,
            "too little canary traffic: 12 requests",
        ),
        # no traffic at all (empty vector): inconclusive
        (
            Sample(requests=0, errors=0),
            Sample(requests=9000, errors=90),
            Phase.INCONCLUSIVE,
            "too little canary traffic: 0 requests",
        ),
        # slow canary
        (
            Sample(requests=3000, errors=0, p99_seconds=0.73),
            Sample(requests=9000, errors=0),
            Phase.FAILED,
            "canary p99 730 ms > 500 ms",
        ),
        # no latency histogram
        (
            Sample(requests=3000, errors=0, p99_seconds=None),
            Sample(requests=9000, errors=0),
            Phase.INCONCLUSIVE,
            "no latency data",
        ),
        # above the threshold but on 2 errors in 60 requests: no evidence yet
        (
            Sample(requests=60, errors=2, p99_seconds=0.1),
            Sample(requests=9000, errors=90),
            Phase.INCONCLUSIVE,
            "not significant at 99%",
        ),
    ],
)
def test_measure(canary: Sample, baseline: Sample, phase: Phase, words: str) -> None:
    m = check(canary, baseline)
    assert m.phase is phase, m.reason
    assert words in m.reason


def test_p_value_is_small_only_with_evidence() -> None:
    strong = excess_error_p_value(Sample(requests=3000, errors=90), 0.02)
    weak = excess_error_p_value(Sample(requests=39, errors=2), 0.0189)
    none = excess_error_p_value(Sample(requests=100, errors=0), 0.01)
    assert strong < 1e-3
    assert 0.1 < weak < 0.2  # 2 errors in 39 requests is not evidence against 1.89 %
    assert none == 1.0


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
    ],
)
def test_binomial_upper_tail(k: int, n: int, p: float, expected: float) -> None:
    assert binomial_upper_tail(k, n, p) == pytest.approx(expected, rel=2e-3, abs=1e-9)


def ms(*phases: Phase) -> list[Measurement]:
    return [
        Measurement(at=NOW, weight=5, phase=p, reason=f"check {i} {p.value}")
        for i, p in enumerate(phases)
    ]


S, F, N, E = Phase.SUCCESSFUL, Phase.FAILED, Phase.INCONCLUSIVE, Phase.ERROR  # N: no verdict


@pytest.mark.parametrize(
    ("phases", "elapsed", "decision"),
    [
        ((), False, Decision.CONTINUE),
        ((), True, Decision.CONTINUE),  # a hold with no data does not pass
        ((S,), False, Decision.CONTINUE),
        ((S, S), True, Decision.PASSED),
        ((S, N), True, Decision.CONTINUE),
        ((S, F), False, Decision.FAILED),
        ((E, E, E), False, Decision.CONTINUE),
        ((E, E, E, E), False, Decision.FAILED),
        ((E, S, E, E, E), False, Decision.CONTINUE),
        ((N, N), True, Decision.CONTINUE),
        ((N, N, N), False, Decision.INCONCLUSIVE),
        ((N, S, N, N), True, Decision.CONTINUE),
    ],
)
def test_assess_step(phases: tuple[Phase, ...], elapsed: bool, decision: Decision) -> None:
    assert assess_step(ms(*phases), POLICY, hold_elapsed=elapsed).decision is decision


def test_failed_verdict_carries_the_failing_measurements_reason() -> None:
    verdict = assess_step(ms(S, F), POLICY, hold_elapsed=False)
    assert verdict.reason == "check 1 failed"


def test_error_run_reason_counts_the_errors() -> None:
    errors = [error_measurement(NOW, 25, "prometheus unreachable: connection refused")] * 4
    verdict = assess_step(errors, POLICY, hold_elapsed=False)
    assert verdict.decision is Decision.FAILED
    assert (
        verdict.reason
        == "4 consecutive measurement errors: prometheus unreachable: connection refused"
    )


def test_default_ladder_is_5_25_50_then_100() -> None:
    assert [(s.weight, s.hold_seconds) for s in POLICY.steps] == [(5, 600), (25, 600), (50, 900)]
    assert POLICY.max_error_ratio == 2.0
    assert POLICY.max_p99_seconds == 0.5
    assert POLICY.consecutive_error_limit == 4


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
        ({"window_seconds": 5, "check_interval_seconds": 10}, "policy", "window_seconds (5.0)"),
    ],
)
def test_bad_policies_name_the_field(data: dict, field: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        policy_from(data)
    assert err.value.field == field
    assert words in str(err.value)


def test_a_policy_round_trips_as_a_flow_parameter() -> None:
    policy = CanaryPolicy(
        steps=(Step(weight=10, hold_seconds=5),), check_interval_seconds=1, window_seconds=5
    )
    assert CanaryPolicy.model_validate(policy.model_dump(mode="json")) == policy
