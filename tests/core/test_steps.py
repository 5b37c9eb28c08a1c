"""The step decision, driven check by check by simulated traffic: a table of scenarios.

Each scenario is what happened during each check interval (requests, errors, latency of both
versions; or a failed query, a scrape gap, missing labels). The harness does what the flow and
Prometheus do together: each check reads the counts of the evidence span the state asks for
(since the step began, or since the last failed check), ``measure`` judges them and
``next_action`` decides.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import pytest

from shipflow.core.analysis import (
    AnalysisPolicy,
    Measurement,
    Observation,
    Phase,
    Sample,
    error_measurement,
    measure,
)
from shipflow.core.steps import (
    Action,
    AskHuman,
    Continue,
    Extend,
    Pass,
    Rollback,
    StepState,
    check_significance,
    next_action,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, float("inf"))
POLICY = AnalysisPolicy(check_interval_seconds=1, max_sample_age_seconds=5)
HOLD = 10.0


@dataclass(frozen=True)
class Tick:
    """What happened during one check interval."""

    canary: tuple[int, int] = (100, 1)  # requests, errors
    baseline: tuple[int, int] = (1000, 10)
    canary_ms: float = 40.0  # the latency of all of that interval's requests
    baseline_ms: float = 40.0
    unlabelled: int = 0  # requests in series without the version label
    failed_query: str | None = None
    age: float | None = 1.0  # newest sample age (None: no series at all)


def histogram(requests: int, ms: float) -> list[float]:
    return [float(requests) if ms / 1000 <= le else 0.0 for le in BOUNDS]


def observe(ticks: list[Tick], since: float, elapsed: float) -> Observation:
    """The counts of the ticks inside (since, elapsed]: what increase() over the span reads."""
    every = POLICY.check_interval_seconds
    inside = [t for i, t in enumerate(ticks, 1) if since < i * every <= elapsed]

    def sample(which: str) -> Sample:
        req = sum(getattr(t, which)[0] for t in inside)
        err = sum(getattr(t, which)[1] for t in inside)
        counts = [0.0] * len(BOUNDS)
        for t in inside:
            for j, c in enumerate(histogram(getattr(t, which)[0], getattr(t, f"{which}_ms"))):
                counts[j] += c
        buckets = tuple(zip(BOUNDS, counts, strict=True)) if req else ()
        return Sample(requests=req, errors=err, buckets=buckets)

    return Observation(
        span_seconds=elapsed - since,
        canary=sample("canary"),
        baseline=sample("baseline"),
        unlabelled_requests=sum(t.unlabelled for t in inside),
        newest_sample_age_seconds=inside[-1].age if inside else 1.0,
    )


def run(
    ticks: list[Tick], policy: AnalysisPolicy = POLICY, hold: float = HOLD
) -> tuple[Action, StepState, list[Measurement]]:
    state = StepState.start(hold)
    seen: list[Measurement] = []
    action: Action = Continue("not started")
    for i, tick in enumerate(ticks, 1):
        elapsed = i * policy.check_interval_seconds
        if tick.failed_query:
            m = error_measurement(NOW, 25, tick.failed_query)
        else:
            seen_now = observe(ticks, state.evidence_since, elapsed)
            alpha = check_significance(state, policy, elapsed)
            m = measure(seen_now, policy, at=NOW, weight=25, significance=alpha)
        seen.append(m)
        state, action = next_action(state, m, policy, elapsed)
        if isinstance(action, Pass | Rollback | AskHuman):
            break
    return action, state, seen


def ticks(n: int, **tick: object) -> list[Tick]:
    return [Tick(**tick)] * n  # type: ignore[arg-type]


HEALTHY = Tick()
DOWN = Tick(failed_query="prometheus query failed (unreachable at http://p:9090: ConnectError)")
GAP = Tick(age=7.0)
SILENT = Tick(canary=(0, 0))


def policy(**changes: object) -> AnalysisPolicy:
    return POLICY.model_copy(update=changes)


# (id, ticks, policy, expected action type, outcome or None, words in the reason, checks made
#  [, hold seconds])
CASES: list[tuple[Any, ...]] = [
    # --- healthy ----------------------------------------------------------------------
    ("healthy passes when the hold ends", ticks(12), POLICY, Pass, None, "≤ limit 1.50%", 10),
    ("healthy before the hold ends", ticks(5), POLICY, Continue, None, "≤ limit", 5),
    (
        "zero-error baseline, one canary error in 10,000: under the floor",
        [Tick(canary=(1000, 1 if i == 3 else 0), baseline=(10000, 0)) for i in range(12)],
        POLICY,
        Pass,
        None,
        "0.01% (1/10000) vs baseline 0.00%",
        10,
    ),
    # --- error rate ---------------------------------------------------------------------
    (
        "3 x a 1 % baseline with plenty of traffic",
        ticks(12, canary=(300, 9)),
        POLICY,
        Rollback,
        "failed",
        # p ≤ 0.25 % / 9 (the checks before the hold's end share a quarter of 1 %)
        "canary error rate 3.00% (54/1800) vs baseline 1.00% (60/6000) > limit 1.50%",
        6,
    ),
    (
        "18 % against a sick 10 % baseline: the ceiling",
        ticks(12, canary=(300, 54), baseline=(1000, 100)),
        POLICY,
        Rollback,
        "failed",
        "> limit 5.00% (min(max(1.5 x baseline, floor 1.00%), ceiling 5.00%))",
        1,
    ),
    (
        "as sick as a sick baseline: a sick baseline licenses nothing",
        ticks(12, canary=(300, 30), baseline=(1000, 100)),
        POLICY,
        Rollback,
        "failed",
        "canary error rate 10.00% (60/600) vs baseline 10.00%",
        # 30 of 300 against the 5 % ceiling (p ≈ 5e-4) is not enough for a check before the
        # hold's end (0.25 % / 9); 60 of 600 (p ≈ 4e-7) is
        2,
    ),
    (
        "exactly at the limit (1.5 x baseline) is not above it",
        ticks(12, canary=(200, 3)),
        POLICY,
        Pass,
        None,
        "canary error rate 1.50% (30/2000) vs baseline 1.00% (100/10000) ≤ limit 1.50%",
        10,
    ),
    (
        "above the limit without evidence: 2 errors in 60",
        [Tick(canary=(6, 1 if i in (0, 5) else 0), baseline=(100, 1)) for i in range(12)],
        POLICY,
        Pass,
        None,
        "above the limit 1.50% but not significantly (p=0.26 > 0.0075",
        10,
    ),
    (
        "one error at low traffic over overlapping windows is one error",
        [Tick(canary=(1, 1 if i == 0 else 0), baseline=(20, 0)) for i in range(70)],
        policy(check_interval_seconds=1),
        Pass,
        None,
        "1.67% (1/60) vs baseline 0.00% (0/1200) is above the limit 1.00% but not significantly",
        60,
        60.0,
    ),
    (
        "blatant errors fail before min_requests: 10 of 10",
        ticks(12, canary=(10, 10)),
        POLICY,
        Rollback,
        "failed",
        "canary error rate 100.00% (10/10)",
        1,
    ),
    (
        "flapping around the threshold, no evidence either way",
        [Tick(canary=(500, 6 if i % 2 else 9), baseline=(5000, 50)) for i in range(12)],
        POLICY,
        Pass,
        None,
        "1.50% (75/5000) vs baseline 1.00% (500/50000) ≤ limit 1.50%",
        10,
    ),
    (
        "3 x a 1 % baseline, shown only by the hold's evidence: the check ending it decides",
        ticks(12, canary=(100, 3)),
        POLICY,
        Rollback,
        "failed",
        # p=0.0012: above the share of the 9 checks before the end (0.25 % / 9), within the
        # three quarters of 1 % that the check ending the hold gets
        "canary error rate 3.00% (30/1000) vs baseline 1.00% (100/10000) > limit 1.50%",
        10,
    ),
    (
        "a baseline that looks better than it is does not fail a canary at the limit",
        # 1.5 % beside a baseline read as 0.8 %: against 1.5 x 0.8 % taken as exact, p ≈ 0.003
        ticks(12, canary=(1000, 15), baseline=(1000, 8)),
        POLICY,
        Pass,
        None,
        "1.50% (150/10000) vs baseline 0.80% (80/10000) is above the limit 1.20% but not "
        "significantly (p=0.06 > 0.0075",
        10,
    ),
    (
        "beside a clean baseline the floor decides: 1.05 % is not shown above 1 %",
        ticks(12, canary=(10000, 105), baseline=(10000, 50)),
        POLICY,
        Pass,
        None,
        "1.05% (1050/100000) vs baseline 0.50% (500/100000) is above the limit 1.00% but not "
        "significantly (p=0.059",
        10,
    ),
    (
        "beside a clean baseline, well above the floor fails",
        ticks(12, canary=(10000, 150), baseline=(10000, 50)),
        POLICY,
        Rollback,
        "failed",
        "canary error rate 1.50% (150/10000) vs baseline 0.50% (50/10000) > limit 1.00%",
        1,
    ),
    # --- latency ------------------------------------------------------------------------
    (
        "canary P99 600 ms: the absolute limit",
        ticks(12, canary_ms=600, baseline_ms=400),
        POLICY,
        Rollback,
        "failed",
        "canary p99 ≈ 995 ms (between 0.5 s and 1 s) > limit 500 ms (absolute)",
        1,
    ),
    (
        "450 ms against a 50 ms baseline: latency relative to the baseline",
        ticks(12, canary_ms=450, baseline_ms=50),
        POLICY,
        Rollback,
        "failed",
        "> limit 75 ms (1.5 x baseline p99 50 ms): 100 of 100 requests slower than 0.1 s",
        1,
    ),
    (
        "a P99 inside the baseline's next bucket is not evidence",
        ticks(12, canary_ms=70, baseline_ms=40),
        POLICY,
        Pass,
        None,
        "p99 ≈ 100 ms (between 0.05 s and 0.1 s) ≤ limit 75 ms",
        10,
    ),
    (
        "P99 exactly at the absolute limit is not above it",
        ticks(12, canary_ms=500, baseline_ms=400),
        POLICY,
        Pass,
        None,
        "≤ limit 500 ms",
        10,
    ),
    # --- no data ------------------------------------------------------------------------
    (
        "canary silent for the hold and its two extensions",
        ticks(40, canary=(0, 0)),
        POLICY,
        Rollback,
        "inconclusive",
        "inconclusive at the end of the hold 3 times (limit 2): canary without data: 0 requests",
        30,
    ),
    (
        "canary silent, then its data arrives during the extension",
        [SILENT] * 12 + [HEALTHY] * 20,
        POLICY,
        Pass,
        None,
        "≤ limit",
        20,
    ),
    (
        "low traffic: 2 canary requests an interval extend the hold twice, then pass",
        ticks(40, canary=(2, 0), baseline=(57, 1)),
        POLICY,
        Pass,
        None,
        "canary error rate 0.00% (0/60)",
        30,
    ),
    (
        "baseline silent is never read as 0 %: an error, not the canary's fault",
        ticks(12, baseline=(0, 0)),
        POLICY,
        Rollback,
        "error",
        "5 checks in a row could not measure (limit 4): could not measure: baseline without "
        "data, 0 requests in 5 s < min_baseline_requests 50 (never read as 0 %)",
        5,
    ),
    (
        "nothing at all",
        ticks(12, age=None),
        POLICY,
        Rollback,
        "error",
        "the app has no series in Prometheus at all",
        5,
    ),
    (
        "series without the version label",
        ticks(12, canary=(0, 0), baseline=(0, 0), unlabelled=1100),
        POLICY,
        Rollback,
        "error",
        "the series carry no `version` label (5500 requests without it)",
        5,
    ),
    (
        "only the canary's series lack the label: its own silence",
        ticks(10, canary=(0, 0), unlabelled=100),
        POLICY,
        Extend,
        None,
        "while 1000 requests carry no `version` label: do the canary's metrics have it?",
        10,
    ),
    # --- outages ------------------------------------------------------------------------
    (
        "a short outage: 4 errors in a row are within the limit",
        [HEALTHY] * 3 + [DOWN] * 4 + [HEALTHY] * 5,
        POLICY,
        Pass,
        None,
        "≤ limit",
        10,
    ),
    (
        "a dead Prometheus: the 5th error in a row rolls back",
        [HEALTHY] * 3 + [DOWN] * 10,
        POLICY,
        Rollback,
        "error",
        "5 checks in a row could not measure (limit 4): could not measure: prometheus query",
        8,
    ),
    (
        "errors in a row reset on a measurement",
        [DOWN] * 4 + [HEALTHY] + [DOWN] * 4 + [HEALTHY] * 3,
        POLICY,
        Pass,
        None,
        "≤ limit",
        10,
    ),
    (
        "a hold that ends in an outage waits for a measurement",
        [HEALTHY] * 8 + [DOWN] * 3 + [HEALTHY],
        POLICY,
        Pass,
        None,
        "≤ limit",
        12,
    ),
    (
        "outage, then the scrape gap after it: errors, then a pass",
        [HEALTHY] * 3 + [DOWN] * 2 + [GAP] * 2 + [HEALTHY] * 5,
        POLICY,
        Pass,
        None,
        "≤ limit",
        10,
    ),
    (
        "a scrape gap that does not end",
        [HEALTHY] * 2 + [GAP] * 8,
        POLICY,
        Rollback,
        "error",
        "metrics are stale, the newest sample is 7 s old (> max_sample_age_seconds 5)",
        7,
    ),
    # --- limits at their boundaries -----------------------------------------------------
    (
        "failure_limit 1: one failed check is tolerated, the evidence restarts after it",
        [Tick(canary=(100, 30 if i == 2 else 1)) for i in range(12)],
        policy(failure_limit=1),
        Pass,
        None,
        "≤ limit",
        10,
    ),
    (
        "failure_limit 1: a second failure on new evidence rolls back",
        [Tick(canary=(100, 30 if i in (2, 6) else 1)) for i in range(12)],
        policy(failure_limit=1),
        Rollback,
        "failed",
        "canary error rate",
        7,
    ),
    (
        "failures count over the step, not in a row",
        [Tick(canary=(100, 30 if i in (1, 9) else 1)) for i in range(12)],
        policy(failure_limit=1),
        Rollback,
        "failed",
        "canary error rate",
        10,
    ),
    (
        "an extension never forgets a failure",
        [Tick(canary=(100, 30 if i == 1 else 0)) for i in range(2)]
        + [SILENT] * 10
        + [Tick(canary=(100, 30))],
        policy(failure_limit=1),
        Rollback,
        "failed",
        "canary error rate 30.00%",
        13,
    ),
    (
        "inconclusive_limit 0: no extension",
        ticks(15, canary=(0, 0)),
        policy(inconclusive_limit=0),
        Rollback,
        "inconclusive",
        "inconclusive at the end of the hold 1 times (limit 0)",
        10,
    ),
    (
        "inconclusive_limit 2: two extensions, then a rollback",
        ticks(60, canary=(0, 0)),
        policy(inconclusive_limit=2),
        Rollback,
        "inconclusive",
        "3 times (limit 2)",
        30,
    ),
    (
        "on_inconclusive pause asks a human",
        ticks(40, canary=(0, 0)),
        policy(on_inconclusive="pause"),
        AskHuman,
        None,
        "canary without data",
        30,
    ),
    (
        "consecutive_error_limit 0: the first error rolls back",
        [HEALTHY, DOWN],
        policy(consecutive_error_limit=0),
        Rollback,
        "error",
        "1 checks in a row could not measure (limit 0)",
        2,
    ),
    (
        "min_requests at its boundary: 50 canary requests can pass",
        ticks(12, canary=(5, 0), baseline=(100, 1)),
        POLICY,
        Pass,
        None,
        "(0/50)",
        10,
    ),
    (
        "min_requests just missed: 49 requests extend the hold",
        [*ticks(10, canary=(5, 0), baseline=(100, 1))[:-1], Tick(canary=(4, 0))],
        POLICY,
        Extend,
        None,
        "too little canary traffic: 49 requests in 10 s < min_requests 50",
        10,
    ),
]


@pytest.mark.parametrize(
    ("ticks_", "policy_", "kind", "outcome", "words", "checks", "hold"),
    [pytest.param(*case[1:], *((HOLD,) if len(case) == 7 else ()), id=case[0]) for case in CASES],
)
def test_step_decisions(
    ticks_: list[Tick],
    policy_: AnalysisPolicy,
    kind: type,
    outcome: str | None,
    words: str,
    checks: int,
    hold: float,
) -> None:
    action, state, seen = run(ticks_, policy_, hold)
    assert isinstance(action, kind), (action, [m.reason for m in seen][-3:])
    if outcome is not None:
        assert isinstance(action, Rollback)
        assert action.outcome == outcome
    assert words in action.reason, action.reason
    assert state.checks == checks


def test_there_are_at_least_thirty_scenarios() -> None:
    assert len(CASES) >= 30


def test_one_error_is_counted_once_however_often_it_is_looked_at() -> None:
    traffic = [Tick(canary=(1, 1 if i == 0 else 0), baseline=(20, 0)) for i in range(70)]
    _, _, seen = run(traffic, POLICY, hold=60.0)
    errors = {m.observation.canary.errors for m in seen if m.observation}
    assert errors == {1}
    assert all(m.phase is not Phase.FAILED for m in seen)


def test_after_a_failure_the_same_evidence_is_not_judged_again() -> None:
    traffic = [Tick(canary=(100, 30 if i == 2 else 1)) for i in range(12)]
    _, state, seen = run(traffic, policy(failure_limit=1))
    assert [m.phase for m in seen].count(Phase.FAILED) == 1
    assert state.evidence_since == 3.0
    later = seen[3].observation
    assert later is not None
    assert later.canary.errors == 1  # only the check after the failure


def test_an_extension_lasts_the_steps_hold_at_least_three_intervals() -> None:
    state = StepState.start(2.0)
    m = measure(observe([SILENT] * 3, 0, 3), POLICY, at=NOW, weight=5)
    state, action = next_action(state, m, POLICY, 3.0)
    assert isinstance(action, Extend)
    assert action.hold_seconds == 6.0  # 3 + max(2, 3 x 1 s)
    assert state.inconclusives == 1


@pytest.mark.parametrize(
    ("hold", "interval", "made", "elapsed", "expected"),
    [
        (10.0, 1.0, 0, 1.0, 0.0025 / 9),  # the 9 checks before the hold's end share a quarter
        (600.0, 30.0, 0, 30.0, 0.0025 / 19),  # the default 5 % step: 19 before the end
        (600.0, 30.0, 18, 570.0, 0.0025 / 19),  # the last check before the end
        (600.0, 30.0, 19, 600.0, 0.0075),  # the check that ends the hold: three quarters
        (600.0, 30.0, 25, 780.0, 0.0075),  # a hold that ended on errors: still the end's
        (2.5, 1.0, 0, 1.0, 0.0025 / 2),  # a part interval is a check
        (3.0, 1.0, 0, 1.0, 0.0025 / 2),  # exactly three, not four
        (1.0, 30.0, 0, 30.0, 0.0075),  # a hold shorter than an interval: its one check ends it
        (0.0, 30.0, 0, 30.0, 0.0075),
    ],
)
def test_check_significance(
    hold: float, interval: float, made: int, elapsed: float, expected: float
) -> None:
    state = StepState(hold_seconds=hold, base_hold_seconds=hold, checks=made)
    got = check_significance(state, policy(check_interval_seconds=interval), elapsed)
    assert got == pytest.approx(expected)


def test_a_holds_checks_together_spend_at_most_its_significance() -> None:
    for hold, interval in [(600.0, 30.0), (900.0, 30.0), (10.0, 1.0), (2.5, 1.0), (0.0, 30.0)]:
        p = policy(check_interval_seconds=interval)
        state, spent, elapsed = StepState.start(hold), 0.0, 0.0
        while True:
            elapsed += interval
            spent += check_significance(state, p, elapsed)
            state = replace(state, checks=state.checks + 1)
            if elapsed >= hold:
                break
        assert spent <= 1 - p.confidence + 1e-12, (hold, interval, spent)


def test_an_extension_is_a_new_hold_with_a_budget_of_its_own() -> None:
    state = StepState.start(10.0)
    for elapsed in range(1, 11):
        state, action = next_action(
            state,
            measure(observe([SILENT] * 10, 0, elapsed), POLICY, at=NOW, weight=25),
            POLICY,
            float(elapsed),
        )
    assert isinstance(action, Extend)
    assert check_significance(state, POLICY, 11.0) == pytest.approx(0.0025 / 19)
    assert check_significance(state, POLICY, 20.0) == pytest.approx(0.0075)


def test_many_looks_need_more_evidence_than_one_and_the_holds_end_decides() -> None:
    # 2.33 % beside a 1 % baseline (limit 1.5 %), 300 canary requests an interval: after 9
    # intervals p ≈ 0.006, enough for a single look at 1 % but not for a check before the
    # hold's end (0.25 % / 9); after 10, p ≈ 0.004 ≤ the end's three quarters of 1 %.
    canary = [Tick(canary=(300, 7), baseline=(900, 9))] * 10
    action, state, seen = run(canary, POLICY, hold=10.0)
    assert isinstance(action, Rollback), [m.reason for m in seen]
    assert action.outcome == "failed"
    assert state.checks == 10
    assert seen[8].phase is Phase.SUCCESSFUL, seen[8].reason
    assert "not significantly (p=0.0059 > 0.00028, this check's share of the step's 1%)" in (
        seen[8].reason
    )
    once = measure(observe(canary, 0, 9), POLICY, at=NOW, weight=25)  # a single look
    assert once.phase is Phase.FAILED, once.reason
    assert "canary error rate 2.33% (63/2700) vs baseline 1.00% (81/8100) > limit 1.50%" in (
        once.reason
    )
