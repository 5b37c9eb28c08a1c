from __future__ import annotations

import pytest

from shipflow.adapters.waiting import Timeout, poll_until


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_returns_the_first_answer_and_stops_looking() -> None:
    clock = FakeClock()
    answers = iter([None, False, "ready", "never asked"])
    assert (
        poll_until(lambda: next(answers), timeout=10, interval=1, clock=clock, sleep=clock.sleep)
        == "ready"
    )
    assert clock.now == 2


def test_gives_up_at_the_deadline_after_a_last_look() -> None:
    clock = FakeClock()
    looks: list[float] = []

    def never() -> None:
        looks.append(clock.now)

    with pytest.raises(Timeout, match=r"not done after 2\.5s"):
        poll_until(never, timeout=2.5, interval=1, clock=clock, sleep=clock.sleep)
    assert looks == [0, 1, 2, 2.5]


def test_a_check_that_raises_stops_the_wait() -> None:
    def broken() -> None:
        raise RuntimeError("rollout failed")

    with pytest.raises(RuntimeError, match="rollout failed"):
        poll_until(broken, timeout=10, interval=1)
