"""Rollout predicates and weight arithmetic, as tables."""

from __future__ import annotations

import pytest

from shipflow.core.rollout import (
    RolloutStatus,
    replicas_for,
    rollout_complete,
    rollout_problem,
    scaled_down,
    share,
)
from shipflow.errors import ConfigError


def status(desired: int = 4, **fields: object) -> RolloutStatus:
    values: dict = {
        "generation": 2,
        "observed_generation": 2,
        "replicas": desired,
        "updated": desired,
        "available": desired,
    } | fields
    return RolloutStatus(desired=desired, **values)


STUCK = "ReplicaSet web-canary has timed out progressing."


@pytest.mark.parametrize(
    ("s", "complete", "problem", "down"),
    [
        (status(), True, None, False),
        (status(observed_generation=1), False, None, False),  # controller has not seen it
        (status(updated=3), False, None, False),
        (status(available=3), False, None, False),
        (status(replicas=5), False, None, False),  # old pods still terminating
        (status(available=0, updated=0, deadline_exceeded=STUCK), False, STUCK, False),
        # the condition of the previous rollout, before the controller saw the new spec
        (status(observed_generation=1, deadline_exceeded=STUCK), False, None, False),
        (status(0), True, None, True),
        (status(0, deadline_exceeded=STUCK), True, None, True),  # scaled to 0: nothing stuck
        (status(0, replicas=2, available=2), False, None, False),  # pods still going
        (status(0, observed_generation=1), False, None, False),
    ],
)
def test_rollout_predicates(
    s: RolloutStatus, complete: bool, problem: str | None, down: bool
) -> None:
    assert rollout_complete(s) is complete
    assert rollout_problem(s) == problem
    assert scaled_down(s) is down


@pytest.mark.parametrize(
    ("weight", "total", "canary"),
    [
        (0, 4, 0),
        (5, 4, 1),  # at least one pod once there is any weight
        (25, 4, 1),
        (50, 4, 2),
        (90, 4, 3),  # at least one stable pod until 100 %
        (99, 10, 9),
        (100, 4, 4),
        (5, 20, 1),
        (33, 3, 1),
        (67, 3, 2),
    ],
)
def test_replicas_for(weight: int, total: int, canary: int) -> None:
    assert replicas_for(weight, total) == canary


@pytest.mark.parametrize("weight", [-1, 101])
def test_weights_outside_0_100_are_refused(weight: int) -> None:
    with pytest.raises(ConfigError, match=f"{weight} is not a percentage"):
        replicas_for(weight, 4)


@pytest.mark.parametrize(
    ("canary", "stable", "percent"),
    [(25, 75, 25), (1, 3, 25), (0, 100, 0), (0, 0, 0), (1, 1, 50), (2, 1, 67), (5, 0, 100)],
)
def test_share(canary: float, stable: float, percent: int) -> None:
    assert share(canary, stable) == percent
