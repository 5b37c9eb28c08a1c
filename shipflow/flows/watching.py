"""The loop every strategy's step runs: sleep a check interval → measure → act on
:func:`shipflow.core.steps.next_action`. The flow only sleeps, measures and acts; the decision
is the core's state machine. And the body of the strategies' reconciles: undo, under the app's
rollout slot, what a run killed outright left.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prefect import get_run_logger
from prefect.client.schemas.objects import State
from prefect.states import Completed

from shipflow.core.analysis import AnalysisPolicy, Measurement
from shipflow.core.steps import (
    AskHuman,
    Continue,
    Extend,
    Pass,
    Rollback,
    StepState,
    check_significance,
    next_action,
)
from shipflow.errors import ConcurrencyBusy
from shipflow.tasks.common import hold_limit, rollout_slot
from shipflow.tasks.strategies import Target

Measure = Callable[[float, float], Measurement]  # (evidence span s, significance) -> check
Until = Callable[[float], Pass | Rollback | None]  # elapsed -> end the step early, or None


def watch_step(
    what: str,
    measure: Measure,
    policy: AnalysisPolicy,
    hold: float,
    history: list[Measurement],
    publish: Callable[[list[Measurement]], None],
    until: Until | None = None,
) -> Pass | Rollback:
    """Watch one step for ``hold`` seconds (or until ``until`` ends it), a check every check
    interval. Ends with Pass, or Rollback with the outcome and reason. Beyond the
    inconclusive limit these strategies roll back (only the canary pauses for a human)."""
    logger = get_run_logger()
    state = StepState.start(hold)
    started = time.monotonic()
    due = started
    while True:
        due = max(due + policy.check_interval_seconds, time.monotonic())
        time.sleep(max(0.0, due - time.monotonic()))
        elapsed = time.monotonic() - started
        if until is not None and (early := until(elapsed)) is not None:
            log = logger.info if isinstance(early, Pass) else logger.error
            log("%s: %s", what, early.reason)
            return early
        # the step's checks share its significance, as the canary's do
        m = measure(state.evidence_span(elapsed), check_significance(state, policy, elapsed))
        state, action = next_action(state, m, policy, elapsed)
        history.append(m)
        publish(history)
        match action:
            case Continue():
                continue
            case Extend(reason=reason):
                logger.warning("%s: extending the hold: %s", what, reason)
            case Pass(reason=reason):
                logger.info("%s passed: %s", what, reason)
                return action
            case Rollback(outcome=outcome, reason=reason):
                logger.error("%s %s: %s", what, outcome, reason)
                return action
            case AskHuman(reason=reason):
                logger.error("%s inconclusive: %s", what, reason)
                return Rollback("inconclusive", reason)


def undo_unwatched(
    target: Target, wait_seconds: float, undo: Callable[[], str | None], nothing: str
) -> State[Any]:
    """A reconcile's body: under the app's rollout slot (one rollout per app, any strategy),
    ``undo`` what a dead run left, returning what it did (None: nothing was left). A live
    rollout that keeps the slot past ``wait_seconds`` is left alone: it decides."""
    logger = get_run_logger()
    slot = rollout_slot(target.key)
    try:
        with hold_limit(slot, wait_seconds=wait_seconds, lease_seconds=60):
            done = undo()
    except ConcurrencyBusy:
        message = f"left {target.app} alone: a live run holds its rollout slot"
        logger.info(message)
        return Completed(message=message)
    if done is None:
        logger.info(nothing)
        return Completed(message=nothing)
    logger.warning(done)
    return Completed(message=done)
