"""The outbox file and one turn of the sender, against a Prefect stand-in that answers only
``POST /events`` and ``GET /health`` (anything else fails the test)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from shipflow.adapters.waiting import poll_until
from shipflow.deployments.outbox import KEEP_REFUSED, Outbox
from shipflow.deployments.webhook import SenderState, WebhookSettings, _send_round

API = "http://prefect.test/api"


def event(n: int) -> bytes:
    return json.dumps({"id": f"event-{n}", "n": n}).encode()


def filled(tmp_path: Path, count: int) -> Outbox:
    outbox = Outbox(tmp_path / "seen.sqlite")
    for n in range(count):
        assert outbox.accept(f"delivery-{n}", f"event-{n}", event(n))
    return outbox


class Prefect:
    """Answers POST /events with ``events(list of event numbers)`` and GET /health with
    ``health``; records what it took."""

    def __init__(self, events: Callable[[list[int]], int], health: int = 200) -> None:
        self.events = events
        self.health = health
        self.taken: list[int] = []
        self.posts = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path == "/api/health":
            return httpx.Response(self.health, json=self.health == 200)
        assert (request.method, request.url.path) == ("POST", "/api/events"), request
        self.posts += 1
        numbers = [e["n"] for e in json.loads(request.content)]
        status = self.events(numbers)
        if 200 <= status < 300:
            self.taken += numbers
        return httpx.Response(status, json={"detail": f"answered {status}"})


def turn(outbox: Outbox, prefect: Prefect, **settings: float) -> str:
    async def go() -> str:
        transport = httpx.MockTransport(prefect.handler)
        async with httpx.AsyncClient(transport=transport) as client:
            config = WebhookSettings(max_attempts=2, attempt_backoff_seconds=0.001, **settings)
            return await _send_round(outbox, client, API, config, SenderState())

    return asyncio.run(go())


def test_a_batch_goes_out_in_one_post_and_leaves_the_outbox(tmp_path: Path) -> None:
    outbox = filled(tmp_path, 5)
    prefect = Prefect(lambda numbers: 200)
    assert turn(outbox, prefect) == "sent"
    assert (prefect.taken, prefect.posts) == ([0, 1, 2, 3, 4], 1)
    stats = outbox.stats()
    assert (stats.depth, stats.dead_letters) == (0, 0)
    assert stats.last_delivery_at is not None
    assert turn(outbox, prefect) == "idle"


def test_one_refused_event_is_found_counted_and_dead_lettered_the_others_go(
    tmp_path: Path,
) -> None:
    outbox = filled(tmp_path, 4)
    prefect = Prefect(lambda numbers: 422 if 2 in numbers else 200)
    assert turn(outbox, prefect) == "sent"
    assert prefect.taken == [0, 1, 3]
    # It waits out its backoff (a millisecond here) before the next try: wait until it is
    # due again (poll_until takes an empty list for an answer, hence ``or None``).
    (waiting,) = poll_until(lambda: outbox.pending() or None, timeout=5, interval=0.01)
    assert (waiting.delivery, waiting.attempts) == ("delivery-2", 1)
    turn(outbox, prefect)
    (letter,) = outbox.dead_letters()
    assert (letter.delivery, letter.attempts) == ("delivery-2", 2)
    assert letter.reason.startswith("Prefect answered 422")
    assert outbox.stats().depth == 0


@pytest.mark.parametrize(
    ("status", "health"),
    [
        (503, 503),  # Prefect restarting: its health says so too
        (500, 503),
        (401, 200),  # a wrong API key: the configuration's fault, not the events'
        (404, 200),  # a wrong PREFECT_API_URL
        (429, 200),
    ],
)
def test_when_prefect_is_down_or_misconfigured_nothing_counts_against_the_events(
    tmp_path: Path, status: int, health: int
) -> None:
    outbox = filled(tmp_path, 3)
    prefect = Prefect(lambda numbers: status, health=health)
    for _ in range(5):
        assert turn(outbox, prefect) == "unavailable"
    assert [row.attempts for row in outbox.pending()] == [0, 0, 0]
    stats = outbox.stats()
    assert (stats.depth, stats.dead_letters) == (3, 0)
    assert stats.last_error == f"Prefect answered {status}: " + json.dumps(
        {"detail": f"answered {status}"}, separators=(",", ":")
    )


def test_no_answer_at_all_is_unavailable(tmp_path: Path) -> None:
    outbox = filled(tmp_path, 2)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    prefect = Prefect(lambda numbers: 200)
    prefect.handler = refuse  # type: ignore[method-assign]
    assert turn(outbox, prefect) == "unavailable"
    assert outbox.stats().last_error == "ConnectError: connection refused"
    assert [row.attempts for row in outbox.pending()] == [0, 0]


def test_an_event_prefect_fails_on_while_healthy_is_counted(tmp_path: Path) -> None:
    """A 500 for one event while the others go through (or /health is fine) is that event's
    own: it is counted and, at the limit, dead-lettered, so it cannot stall the outbox."""
    outbox = filled(tmp_path, 3)
    prefect = Prefect(lambda numbers: 500 if 0 in numbers else 200)
    turn(outbox, prefect)
    poll_until(lambda: outbox.pending() or None, timeout=5, interval=0.01)
    turn(outbox, prefect)
    assert prefect.taken == [1, 2]
    (letter,) = outbox.dead_letters()
    assert letter.delivery == "delivery-0"
    # Alone in the outbox, the same event is judged by Prefect's health.
    (tmp_path / "alone").mkdir()
    outbox = filled(tmp_path / "alone", 1)
    prefect = Prefect(lambda numbers: 500, health=200)
    turn(outbox, prefect)
    poll_until(lambda: outbox.pending() or None, timeout=5, interval=0.01)
    turn(outbox, prefect)
    assert [d.delivery for d in outbox.dead_letters()] == ["delivery-0"]


def test_replay_puts_a_dead_letter_back_once(tmp_path: Path) -> None:
    outbox = filled(tmp_path, 1)
    (row,) = outbox.pending()
    assert outbox.refused(row, "Prefect answered 413: too large", max_attempts=1, backoff=1)
    (letter,) = outbox.dead_letters()
    assert outbox.replay(letter.id)
    assert not outbox.replay(letter.id)
    (again,) = outbox.pending()
    assert (again.delivery, again.attempts, again.event) == ("delivery-0", 0, event(0))


def test_a_delivery_is_accepted_once(tmp_path: Path) -> None:
    outbox = filled(tmp_path, 1)
    assert not outbox.accept("delivery-0", "event-0", event(0))
    assert outbox.stats().depth == 1


def test_seen_deliveries_are_bounded(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "seen.sqlite", limit=100)
    for n in range(1000):
        outbox.accept(f"delivery-{n}", f"event-{n}", event(n))
    (count,) = (
        sqlite3.connect(tmp_path / "seen.sqlite").execute("SELECT count(*) FROM seen").fetchone()
    )
    assert count <= 100 + 500  # trimmed every 500 accepts
    assert not outbox.accept("delivery-999", "event-999", event(999))  # the newest are kept


def test_a_first_version_outbox_keeps_its_undelivered_events(tmp_path: Path) -> None:
    path = tmp_path / "seen.sqlite"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE seen (delivery TEXT PRIMARY KEY, at REAL NOT NULL)")
    old.execute("CREATE TABLE outbox (id INTEGER PRIMARY KEY, event TEXT NOT NULL)")
    old.execute("INSERT INTO outbox (event) VALUES (?)", (event(7).decode(),))
    old.commit()
    old.close()
    outbox = Outbox(path)
    (row,) = outbox.pending()
    assert (row.event, row.attempts) == (event(7), 0)
    assert outbox.stats().oldest_queued_at is not None


def test_only_the_last_refused_requests_are_kept(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "seen.sqlite")
    for n in range(KEEP_REFUSED + 10):
        outbox.note_refusal("GitHub", f"delivery-{n}", 400, f"reason {n}")
    refusals = outbox.refusals()
    assert len(refusals) == KEEP_REFUSED
    assert refusals[0].delivery == f"delivery-{KEEP_REFUSED + 9}"  # newest first
