"""Waiting for the outside world: one poll loop with a deadline, for every adapter."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Timeout(Exception):
    """``poll_until`` gave up; the caller turns it into its own typed error."""


def poll_until(
    check: Callable[[], T | None],
    *,
    timeout: float,
    interval: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``check`` until it returns something other than None (or False), and return it.

    ``check`` may raise to stop early (a failed rollout, a process that died). After
    ``timeout`` seconds without an answer: :class:`Timeout`. The check runs at least once and
    once more at the deadline, so a zero timeout is a single look.
    """
    deadline = clock() + timeout
    while True:
        found = check()
        if found is not None and found is not False:
            return found
        left = deadline - clock()
        if left <= 0:
            raise Timeout(f"not done after {timeout:g}s")
        sleep(min(interval, left))
