"""The decision on one step of a rollout — some traffic on a new version, watched against a
baseline for a hold — as a pure state machine.

The caller loops: sleep a check interval → measure → ``next_action``. It knows nothing of
routers or Deployments, so every strategy (canary, blue-green, rolling, a feature flag's ramp)
runs its steps through it. The limits mean what Argo Rollouts' mean:

- they count over the whole step, and an extension of the hold forgets nothing;
- a limit is exceeded when its count is *greater than* the limit;
- ``failure_limit``: failed checks. After a failed check the evidence starts again from that
  check, so the next failure is judged on new requests only (one error is one error);
- ``consecutive_error_limit``: checks in a row that could not measure. An error is never
  blamed on the new version: it only says nothing, and enough of them in a row roll back with
  an ``error`` outcome, because nobody can see what the new version does;
- ``inconclusive_limit``: holds that end without enough of the new version's own data. Each one
  within the limit extends the hold (by the step's hold, at least three check intervals); past
  it, ``on_inconclusive`` applies (roll back, or ask a human). Too little evidence is not a
  failure: at low traffic a step simply needs longer, so the default allows two extensions.

Each check judges the step's growing evidence again, so the significance a step needs to fail
its new version is shared among its checks (:func:`check_significance`: three quarters for
the check that ends the hold, a quarter among the checks before it): however often it looks, a
step fails a new version that meets its limits with probability at most ``1 - confidence``
over its hold, and as much again over each extension.

A step passes when its hold is over and the latest check — which judges all the evidence since
the step began (or since the last failure) — is successful. A hold that ends on an error waits
for a check that can measure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

from shipflow.core.analysis import AnalysisPolicy, Measurement, Phase

Outcome = Literal["failed", "error", "inconclusive"]


@dataclass(frozen=True)
class StepState:
    """Where a step is. ``evidence_since`` is the elapsed time (seconds since the step began)
    from which the next check's evidence counts."""

    hold_seconds: float
    base_hold_seconds: float
    evidence_since: float = 0.0
    checks: int = 0
    failures: int = 0
    inconclusives: int = 0
    consecutive_errors: int = 0
    errors: int = 0

    @classmethod
    def start(cls, hold_seconds: float) -> StepState:
        return cls(hold_seconds=hold_seconds, base_hold_seconds=hold_seconds)

    def evidence_span(self, elapsed: float) -> float:
        """Seconds of evidence the check at ``elapsed`` should read."""
        return max(0.0, elapsed - self.evidence_since)


@dataclass(frozen=True)
class Continue:
    """Keep watching."""

    reason: str


@dataclass(frozen=True)
class Pass:
    """The step is done: on to the next."""

    reason: str


@dataclass(frozen=True)
class Extend:
    """Keep watching until ``hold_seconds`` (elapsed since the step began)."""

    hold_seconds: float
    reason: str


@dataclass(frozen=True)
class Rollback:
    """Take the traffic back. ``outcome`` says whose fault: ``failed`` (the new version is
    worse), ``error`` (could not measure), ``inconclusive`` (it never showed enough data)."""

    outcome: Outcome
    reason: str


@dataclass(frozen=True)
class AskHuman:
    """The analysis cannot decide: a person promotes or rolls back."""

    reason: str


Action = Continue | Pass | Extend | Rollback | AskHuman


FINAL_SHARE = 0.75  # of the hold's 1 - confidence, for the check that ends the hold


def check_significance(state: StepState, policy: AnalysisPolicy, elapsed: float) -> float:
    """The p-value the check about to be made at ``elapsed`` needs to fail the new version: its
    share of the hold's ``1 - confidence``, so that all of a hold's checks together fail a new
    version that meets its limits with probability at most ``1 - confidence`` (Bonferroni).

    The check that ends the hold (the first at or after its end) judges the most evidence and
    decides the close calls, so it gets three quarters; the checks before it share the last
    quarter evenly, which still fails a real fault at the first check (its p-value is orders
    of magnitude below any share). An extension is a new hold with
    a budget of its own. A hold that ends on an error spent nothing: the next check that can
    measure is still the one that ends it."""
    alpha = 1 - policy.confidence
    if elapsed >= state.hold_seconds:
        return FINAL_SHARE * alpha
    planned = math.ceil(state.hold_seconds / policy.check_interval_seconds - 1e-9)
    before_end = max(1, planned - 1, state.checks + 1)
    return (1 - FINAL_SHARE) * alpha / before_end


def extension_seconds(state: StepState, policy: AnalysisPolicy) -> float:
    return max(state.base_hold_seconds, 3 * policy.check_interval_seconds)


def next_action(
    state: StepState, measurement: Measurement, policy: AnalysisPolicy, elapsed: float
) -> tuple[StepState, Action]:
    """The step's next state and what to do, after ``measurement`` taken ``elapsed`` seconds
    into the step (see the module docstring for the rules)."""
    state = replace(state, checks=state.checks + 1)
    phase, why = measurement.phase, measurement.reason

    if phase is Phase.ERROR:
        state = replace(
            state, consecutive_errors=state.consecutive_errors + 1, errors=state.errors + 1
        )
        n, limit = state.consecutive_errors, policy.consecutive_error_limit
        if n > limit:
            return state, Rollback(
                "error", f"{n} checks in a row could not measure (limit {limit}): {why}"
            )
        return state, Continue(f"error {n} in a row of {limit} tolerated: {why}")
    state = replace(state, consecutive_errors=0)

    if phase is Phase.FAILED:
        state = replace(state, failures=state.failures + 1, evidence_since=elapsed)
        if state.failures > policy.failure_limit:
            return state, Rollback("failed", why)
        return state, Continue(
            f"failed check {state.failures} of {policy.failure_limit} tolerated, judging new "
            f"evidence from here: {why}"
        )

    if elapsed < state.hold_seconds:
        return state, Continue(why)
    if phase is Phase.SUCCESSFUL:
        return state, Pass(why)

    state = replace(state, inconclusives=state.inconclusives + 1)
    n, limit = state.inconclusives, policy.inconclusive_limit
    if n > limit:
        reason = f"inconclusive at the end of the hold {n} times (limit {limit}): {why}"
        if policy.on_inconclusive == "pause":
            return state, AskHuman(reason)
        return state, Rollback("inconclusive", reason)
    until = elapsed + extension_seconds(state, policy)
    state = replace(state, hold_seconds=until)
    return state, Extend(until, f"inconclusive at the end of the hold ({n} of {limit}): {why}")
