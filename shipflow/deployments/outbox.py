"""The webhook receiver's SQLite file: deliveries seen, events not yet sent, dead letters.

One file (``SHIPFLOW_WEBHOOK_SEEN_PATH``) holds three tables:

- ``seen``: delivery ids already accepted (bounded), because the Prefect server forgets event
  ids when it restarts; a redelivered webhook is answered "duplicate".
- ``outbox``: events accepted (answered 202) and not yet taken by Prefect, each stored as the
  exact UTF-8 JSON bytes that will be posted, with its attempts and the last refusal.
- ``dead``: events Prefect refused ``max_attempts`` times, with the reason; ``shipflow
  webhook replay ID`` puts one back in the outbox.
- ``refused``: the last ``KEEP_REFUSED`` authenticated requests refused as malformed (400,
  415), so that "why did this merge not release?" has an answer on the receiver's side too.

Accepting a delivery writes ``seen`` and ``outbox`` in one transaction (WAL, synchronous
NORMAL: a commit survives the receiver crashing, not the machine losing power).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PATH = Path(".shipflow-webhook-seen.sqlite")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS seen (delivery TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS seen_at ON seen (at);
CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY, event BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS dead (
    id INTEGER PRIMARY KEY,
    event BLOB NOT NULL,
    event_id TEXT,
    delivery TEXT,
    queued_at REAL,
    attempts INTEGER NOT NULL,
    reason TEXT NOT NULL,
    dead_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT, at REAL);
CREATE TABLE IF NOT EXISTS refused (
    id INTEGER PRIMARY KEY,
    forge TEXT NOT NULL,
    delivery TEXT,
    status INTEGER NOT NULL,
    reason TEXT NOT NULL,
    at REAL NOT NULL
);
"""
# Columns added to the first version's outbox (id, event) in place, so an old file keeps
# its undelivered events.
_OUTBOX_COLUMNS = {
    "event_id": "TEXT",
    "delivery": "TEXT",
    "queued_at": "REAL",
    "attempts": "INTEGER NOT NULL DEFAULT 0",
    "not_before": "REAL NOT NULL DEFAULT 0",
    "last_error": "TEXT",
}
_TRIM_EVERY = 500
KEEP_REFUSED = 50


@dataclass(frozen=True)
class Pending:
    id: int
    event: bytes
    event_id: str
    delivery: str
    attempts: int


@dataclass(frozen=True)
class DeadLetter:
    id: int
    event_id: str
    delivery: str
    queued_at: float | None
    attempts: int
    reason: str
    dead_at: float
    event: bytes


@dataclass(frozen=True)
class Refusal:
    forge: str
    delivery: str | None
    status: int
    reason: str
    at: float


@dataclass(frozen=True)
class OutboxStats:
    depth: int
    oldest_queued_at: float | None
    dead_letters: int
    last_delivery_at: float | None
    last_error: str | None
    last_error_at: float | None


class Outbox:
    """Delivery ids already accepted (bounded), events not yet sent, and dead letters."""

    def __init__(self, path: Path, limit: int = 100_000, create: bool = True) -> None:
        self.path = path
        self.limit = limit
        self._lock = threading.Lock()
        self._accepted = 0
        if create:
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        else:
            # Never create a file that is not there (the command line reads an existing one).
            self._db = sqlite3.connect(
                f"file:{path}?mode=rw", uri=True, check_same_thread=False, isolation_level=None
            )
        self._db.execute("PRAGMA busy_timeout=5000")
        if not create:
            tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master")}
            if not {"seen", "outbox"} <= tables:
                self._db.close()
                raise sqlite3.DatabaseError("it has no seen and outbox tables")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        have = {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}
        for column, kind in _OUTBOX_COLUMNS.items():
            if column not in have:
                self._db.execute(f"ALTER TABLE outbox ADD COLUMN {column} {kind}")
        self._db.execute("UPDATE outbox SET queued_at = ? WHERE queued_at IS NULL", (time.time(),))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def accept(self, delivery: str, event_id: str, event: bytes) -> bool:
        """Record a new delivery and queue its event; False if the delivery was seen."""
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO seen (delivery, at) VALUES (?, ?)", (delivery, now)
                )
                fresh = bool(cursor.rowcount)
                if fresh:
                    self._db.execute(
                        "INSERT INTO outbox (event, event_id, delivery, queued_at) "
                        "VALUES (?, ?, ?, ?)",
                        (event, event_id, delivery, now),
                    )
                    self._accepted += 1
                    if self._accepted % _TRIM_EVERY == 0:
                        self._db.execute(
                            "DELETE FROM seen WHERE at < (SELECT at FROM seen "
                            "ORDER BY at DESC LIMIT 1 OFFSET ?)",
                            (self.limit,),
                        )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return fresh

    def pending(self, limit: int = 200) -> list[Pending]:
        """The oldest events due for a send (a refused one waits out its backoff)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, event, event_id, delivery, attempts FROM outbox "
                "WHERE not_before <= ? ORDER BY id LIMIT ?",
                (time.time(), limit),
            ).fetchall()
        return [
            Pending(
                id=int(i),
                event=e if isinstance(e, bytes) else str(e).encode("utf-8", "backslashreplace"),
                event_id=str(eid or ""),
                delivery=str(d or ""),
                attempts=int(a),
            )
            for i, e, eid, d, a in rows
        ]

    def delivered(self, ids: list[int]) -> None:
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])
                self._db.execute(
                    "INSERT OR REPLACE INTO meta (key, value, at) VALUES ('last_delivery', ?, ?)",
                    (str(len(ids)), now),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def refused(self, row: Pending, reason: str, max_attempts: int, backoff: float) -> bool:
        """Count a refusal of ``row``; after ``max_attempts`` move it to the dead letters
        (True). Until then it waits ``backoff * 2**(attempts - 1)`` seconds (at most 60)."""
        attempts = row.attempts + 1
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if attempts >= max_attempts:
                    self._db.execute(
                        "INSERT INTO dead (event, event_id, delivery, queued_at, attempts, "
                        "reason, dead_at) SELECT event, event_id, delivery, queued_at, ?, ?, ? "
                        "FROM outbox WHERE id = ?",
                        (attempts, reason, now, row.id),
                    )
                    self._db.execute("DELETE FROM outbox WHERE id = ?", (row.id,))
                else:
                    wait = min(60.0, backoff * 2 ** (attempts - 1))
                    self._db.execute(
                        "UPDATE outbox SET attempts = ?, not_before = ?, last_error = ? "
                        "WHERE id = ?",
                        (attempts, now + wait, reason, row.id),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return attempts >= max_attempts

    def note_error(self, reason: str) -> None:
        """Remember why the last send did not get through (Prefect down, misconfigured)."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO meta (key, value, at) VALUES ('last_error', ?, ?)",
                (reason, time.time()),
            )

    def note_refusal(self, forge: str, delivery: str | None, status: int, reason: str) -> None:
        """Remember a signed request refused as malformed (only the last KEEP_REFUSED)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT INTO refused (forge, delivery, status, reason, at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (forge, delivery, status, reason, time.time()),
                )
                self._db.execute(
                    "DELETE FROM refused WHERE id <= (SELECT max(id) FROM refused) - ?",
                    (KEEP_REFUSED,),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def refusals(self) -> list[Refusal]:
        """The signed requests refused as malformed, newest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT forge, delivery, status, reason, at FROM refused ORDER BY id DESC"
            ).fetchall()
        return [
            Refusal(forge=str(f), delivery=d, status=int(s), reason=str(r), at=float(at))
            for f, d, s, r, at in rows
        ]

    def stats(self) -> OutboxStats:
        with self._lock:
            depth, oldest = self._db.execute(
                "SELECT count(*), min(queued_at) FROM outbox"
            ).fetchone()
            (dead,) = self._db.execute("SELECT count(*) FROM dead").fetchone()
            meta = {
                key: (value, at)
                for key, value, at in self._db.execute("SELECT key, value, at FROM meta")
            }
        delivery = meta.get("last_delivery")
        error = meta.get("last_error")
        return OutboxStats(
            depth=int(depth),
            oldest_queued_at=float(oldest) if oldest is not None else None,
            dead_letters=int(dead),
            last_delivery_at=float(delivery[1]) if delivery else None,
            last_error=str(error[0]) if error else None,
            last_error_at=float(error[1]) if error else None,
        )

    def dead_letters(self) -> list[DeadLetter]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, event_id, delivery, queued_at, attempts, reason, dead_at, event "
                "FROM dead ORDER BY id"
            ).fetchall()
        return [
            DeadLetter(
                id=int(i),
                event_id=str(eid or ""),
                delivery=str(d or ""),
                queued_at=float(q) if q is not None else None,
                attempts=int(a),
                reason=str(r),
                dead_at=float(at),
                event=e if isinstance(e, bytes) else str(e).encode("utf-8", "backslashreplace"),
            )
            for i, eid, d, q, a, r, at, e in rows
        ]

    def replay(self, dead_id: int) -> bool:
        """Put dead letter ``dead_id`` back in the outbox with fresh attempts; False if there
        is no such dead letter."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cursor = self._db.execute(
                    "INSERT INTO outbox (event, event_id, delivery, queued_at) "
                    "SELECT event, event_id, delivery, queued_at FROM dead WHERE id = ?",
                    (dead_id,),
                )
                found = bool(cursor.rowcount)
                self._db.execute("DELETE FROM dead WHERE id = ?", (dead_id,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return found
