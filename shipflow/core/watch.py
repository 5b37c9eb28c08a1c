"""Who watches a new version's traffic, and when nobody does any more.

A run that has traffic on a new version renews a watch record every few seconds. A run that
finds traffic there may take it back only when no live run watches it: the record is missing,
or it expired (renewed longer ago than its ``ttl_seconds``), or it did not change for
``ttl_seconds`` while the reader looked (which does not trust the writer's clock).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_TTL_SECONDS = 6.0


class Watch(BaseModel):
    """A run's claim that it watches the traffic on a new version."""

    model_config = ConfigDict(frozen=True)

    run: str = Field(description="Who watches: a flow run id.")
    renewed_at: datetime
    ttl_seconds: float = Field(default=DEFAULT_TTL_SECONDS, gt=0)

    def renew_every(self) -> float:
        """How often the watcher renews: three times per ttl, so one lost write is harmless."""
        return self.ttl_seconds / 3


def watch_is_live(watch: Watch | None, now: datetime, unchanged_for: float = 0.0) -> bool:
    """True while a run watches: a record, renewed within its ttl (by ``now``), and not seen
    unchanged for a whole ttl (``unchanged_for``: seconds the reader saw the same record)."""
    if watch is None:
        return False
    age = (now - watch.renewed_at).total_seconds()
    return age <= watch.ttl_seconds and unchanged_for < watch.ttl_seconds


def describe(watch: Watch | None, now: datetime) -> str:
    if watch is None:
        return "no run ever watched it"
    age = (now - watch.renewed_at).total_seconds()
    return f"last watched by flow run {watch.run}, {age:.0f} s ago (ttl {watch.ttl_seconds:g} s)"
