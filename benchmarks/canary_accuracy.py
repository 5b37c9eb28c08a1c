"""How often the canary analysis rolls back, driven by simulated traffic: no services.

Each run climbs the default ladder (5 % for 10 min, 25 % for 10 min, 50 % for 15 min; a check
every 30 s) through the real step state machine (``shipflow.core.steps``) and the real
judgement (``shipflow.core.analysis.measure``). Traffic is the app's: ``RPS`` requests per
second, the canary getting its step's weight of them. Each check interval draws Poisson request
counts for both versions, Poisson errors (the baseline fails 1 % of requests, the canary a
multiple of that) and a latency histogram from the same log-normal for both versions (median
40 ms, P99 about 80 ms) in Prometheus' default buckets. Each check judges the counts since the
step began (or since the last failed check), as ``increase()`` over that span would read them.

Printed for 1, 10 and 100 requests/s and canary error rates 1x, 1.5x, 2x, 3x and 10x the
baseline's: the share of runs rolled back, and the median time from the start of the run to
the rollback. Goals: a healthy canary (1x) rolled back in under 0.5 % of runs at every traffic
level; a 3x canary caught in over 99 % of runs at 10 requests/s and more.

Last run (1000 runs per row; limit max(1.5 x baseline, 1 %) up to 5 %, confidence 0.99):

     req/s  canary  rolled back   failed  inconcl.  median s  promoted  goal
         1      1x       0.00%    0.00%     0.00%         -   100.00%  rolled back < 0.5 %: ok
         1    1.5x       1.00%    1.00%     0.00%      1200    99.00%
         1      2x       2.40%    2.40%     0.00%      1800    97.60%
         1      3x      13.60%   13.60%     0.00%      2700    86.40%
         1     10x     100.00%  100.00%     0.00%      1440     0.00%
        10      1x       0.00%    0.00%     0.00%         -   100.00%  rolled back < 0.5 %: ok
        10    1.5x       1.30%    1.30%     0.00%      1200    98.70%
        10      2x      30.10%   30.10%     0.00%      2100    69.90%
        10      3x      99.40%   99.40%     0.00%      1200     0.60%  rolled back > 99 %: ok
        10     10x     100.00%  100.00%     0.00%       180     0.00%
       100      1x       0.00%    0.00%     0.00%         -   100.00%  rolled back < 0.5 %: ok
       100    1.5x       2.60%    2.60%     0.00%      1200    97.40%
       100      2x      99.90%   99.90%     0.00%       960     0.10%
       100      3x     100.00%  100.00%     0.00%       270     0.00%  rolled back > 99 %: ok
       100     10x     100.00%  100.00%     0.00%        30     0.00%

Run: .venv/bin/python benchmarks/canary_accuracy.py [RUNS]  (default 1000 per row: about 65 s)
"""

from __future__ import annotations

import math
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shipflow.core.analysis import Observation, Sample, measure  # noqa: E402
from shipflow.core.canary import CanaryPolicy  # noqa: E402
from shipflow.core.steps import (  # noqa: E402
    AskHuman,
    Pass,
    Rollback,
    StepState,
    check_significance,
    next_action,
)

BASELINE_ERROR_RATE = 0.01
TRAFFIC = (1.0, 10.0, 100.0)
MULTIPLES = (1.0, 1.5, 2.0, 3.0, 10.0)
BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, math.inf)
MEDIAN_SECONDS, SIGMA = 0.040, 0.3
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _cdf(x: float) -> float:
    if math.isinf(x):
        return 1.0
    return 0.5 * (1 + math.erf(math.log(x / MEDIAN_SECONDS) / (SIGMA * math.sqrt(2))))


# Probability of a request landing in each bucket (non-cumulative).
SHARES = [_cdf(le) - (_cdf(BOUNDS[i - 1]) if i else 0.0) for i, le in enumerate(BOUNDS)]


def poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 40:  # normal approximation, ample at this size
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


class Version:
    """One version's counts since the evidence began."""

    def __init__(self) -> None:
        self.requests = 0
        self.errors = 0
        self.buckets = [0] * len(BOUNDS)

    def add(self, rng: random.Random, rate: float, seconds: float, error_rate: float) -> None:
        mean = rate * seconds
        counts = [poisson(rng, mean * share) for share in SHARES]
        self.requests += sum(counts)
        self.errors += min(sum(counts), poisson(rng, mean * error_rate))
        for i, c in enumerate(counts):
            self.buckets[i] += c

    def sample(self) -> Sample:
        cumulative, total = [], 0
        for le, c in zip(BOUNDS, self.buckets, strict=True):
            total += c
            cumulative.append((le, float(total)))
        buckets = tuple(cumulative) if total else ()
        return Sample.model_construct(
            requests=float(self.requests), errors=float(self.errors), buckets=buckets
        )


def one_run(
    rng: random.Random, policy: CanaryPolicy, rps: float, multiple: float
) -> tuple[str, float] | None:
    """Why the run rolled back (failed, inconclusive, …) and the seconds from its start to the
    rollback; None when it promoted."""
    started = 0.0
    every = policy.check_interval_seconds
    for step in policy.steps:
        share = step.weight / 100
        state = StepState.start(step.hold_seconds)
        canary, baseline = Version(), Version()
        elapsed = 0.0
        while True:
            elapsed += every
            canary.add(rng, rps * share, every, BASELINE_ERROR_RATE * multiple)
            baseline.add(rng, rps * (1 - share), every, BASELINE_ERROR_RATE)
            seen = Observation.model_construct(
                span_seconds=elapsed - state.evidence_since,
                canary=canary.sample(),
                baseline=baseline.sample(),
                unlabelled_requests=0.0,
                newest_sample_age_seconds=1.0,
                version_label="version",
            )
            alpha = check_significance(state, policy, elapsed)
            m = measure(seen, policy, at=NOW, weight=step.weight, significance=alpha)
            before = state.evidence_since
            state, action = next_action(state, m, policy, elapsed)
            if state.evidence_since != before:  # evidence starts again after a failed check
                canary, baseline = Version(), Version()
            if isinstance(action, Rollback):
                return action.outcome, started + elapsed
            if isinstance(action, AskHuman):
                return "asked a human", started + elapsed
            if isinstance(action, Pass):
                break
        started += elapsed
    return None


def main(runs: int) -> None:
    policy = CanaryPolicy()
    print(
        f"default policy: ladder {[s.weight for s in policy.steps]} %, holds "
        f"{[s.hold_seconds for s in policy.steps]} s, a check every "
        f"{policy.check_interval_seconds:g} s, confidence {policy.confidence:g}, limit "
        f"max({policy.max_error_ratio:g} x baseline, {policy.error_rate_floor:.0%}) up to "
        f"{policy.max_error_rate:.0%}; baseline error rate {BASELINE_ERROR_RATE:.0%}; "
        f"{runs} runs per row"
    )
    print(
        f"{'req/s':>6} {'canary':>7} {'rolled back':>12} {'failed':>8} {'inconcl.':>9} "
        f"{'median s':>9} {'promoted':>9}  goal"
    )
    began = time.perf_counter()
    for rps in TRAFFIC:
        for multiple in MULTIPLES:
            rng = random.Random(f"{rps}-{multiple}")
            ends = [one_run(rng, policy, rps, multiple) for _ in range(runs)]
            rolled = [end for end in ends if end is not None]
            failed = sum(why == "failed" for why, _ in rolled) / runs
            inconclusive = sum(why == "inconclusive" for why, _ in rolled) / runs
            share = len(rolled) / runs
            median = f"{statistics.median(t for _, t in rolled):.0f}" if rolled else "-"
            goal = ""
            if multiple == 1.0:  # every rollback is a false one
                goal = "rolled back < 0.5 %: " + ("ok" if share < 0.005 else "MISSED")
            elif multiple == 3.0 and rps >= 10:  # every promotion is a false one
                goal = "rolled back > 99 %: " + ("ok" if share > 0.99 else "MISSED")
            print(
                f"{rps:>6g} {multiple:>6g}x {share:>11.2%} {failed:>8.2%} {inconclusive:>9.2%} "
                f"{median:>9} {1 - share:>9.2%}  {goal}"
            )
    print(f"{len(TRAFFIC) * len(MULTIPLES) * runs} runs in {time.perf_counter() - began:.1f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
