"""When a run watches a canary, and when nobody does any more."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shipflow.core.watch import Watch, describe, watch_is_live

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def watch(seconds_ago: float, ttl: float = 6) -> Watch:
    return Watch(run="r-1", renewed_at=NOW - timedelta(seconds=seconds_ago), ttl_seconds=ttl)


@pytest.mark.parametrize(
    ("record", "unchanged_for", "live"),
    [
        (None, 0, False),
        (watch(1), 0, True),
        (watch(6), 0, True),  # at its ttl: still live
        (watch(6.5), 0, False),
        (watch(1), 5.9, True),
        (watch(1), 6, False),  # not renewed for a whole ttl while we looked: a writer ahead
        (watch(-30), 7, False),  # of our clock cannot keep a dead watch alive
        (watch(20, ttl=30), 0, True),
    ],
)
def test_watch_is_live(record: Watch | None, unchanged_for: float, live: bool) -> None:
    assert watch_is_live(record, NOW, unchanged_for) is live


def test_renewed_three_times_per_ttl_and_described() -> None:
    assert watch(0).renew_every() == 2
    assert describe(watch(8), NOW) == "last watched by flow run r-1, 8 s ago (ttl 6 s)"
    assert describe(None, NOW) == "no run ever watched it"
