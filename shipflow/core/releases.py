"""Release claims: one release per service and commit, and what happens to a claim whose run
died. Pure: the caller reads the record and the holding run's state and acts on the answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# Prefect state types of a run that may still finish what it claimed (a paused run waits for
# approval; a cancelling one may still be running its hooks).
LIVE_STATES = frozenset({"SCHEDULED", "PENDING", "RUNNING", "PAUSED", "CANCELLING"})
# What a service's record remembers besides its newest claim: the commits released before it
# (newest first; an older commit delivered again after a newer one must not be released over
# it) and the older commits' claims still in flight (a redelivery of one must not start a
# second release of it). Fits a Prefect Variable (5,000 characters) with room to spare.
RELEASED_KEPT = 50
IN_FLIGHT_KEPT = 20


@dataclass(frozen=True)
class ClaimDecision:
    """Whether this run may release ``sha`` for the service, and why."""

    take: bool
    reason: str


def decide_claim(
    record: Mapping[str, Any] | None,
    sha: str,
    run_id: str,
    holder_state: str | None,
) -> ClaimDecision:
    """May run ``run_id`` release ``sha``, given the service's record?

    - ``released``, as the newest claim or earlier (among the service's last
      ``RELEASED_KEPT`` releases): skip, the commit is out — a redelivered older commit must
      not replace a newer one;
    - never claimed, or its last release failed: take it;
    - ``releasing`` by a run that is still live (scheduled, pending, running, paused,
      cancelling), as the newest claim or an older one still in flight: skip, that run is
      releasing it;
    - ``releasing`` by a run that is no longer live (completed, failed, cancelled, crashed,
      deleted — ``holder_state`` None) or by no recorded run: take it over; a run that died
      holding the claim must not block the commit forever.

    ``holder_state`` is the Prefect state type of ``holder(record, sha)``.
    """
    claim = claim_of(record, sha)
    if claim is None:
        return ClaimDecision(True, "not claimed")
    state = claim.get("state")
    holder = claim.get("run")
    if state == "released":
        newest = record.get("sha") if isinstance(record, Mapping) else None
        later = f" (an earlier release: {newest} came after it)" if newest != sha else ""
        return ClaimDecision(False, f"{sha} is already released{later}")
    if state != "releasing":
        return ClaimDecision(True, f"the last release of {sha} ended {state}")
    if not holder:
        return ClaimDecision(True, f"taking over {sha}: claimed by a run that was not recorded")
    if holder == run_id:
        return ClaimDecision(True, "claimed by this run")
    if holder_state in LIVE_STATES:
        return ClaimDecision(False, f"{sha} is being released by run {holder} ({holder_state})")
    ended = holder_state.lower() if holder_state else "gone"
    return ClaimDecision(True, f"taking over {sha} from run {holder}, which is {ended}")


def claim_of(record: Mapping[str, Any] | None, sha: str) -> Mapping[str, Any] | None:
    """What the record says of ``sha``: its newest claim, an older claim in flight, an
    earlier release, or nothing."""
    if not isinstance(record, Mapping):
        return None
    if record.get("sha") == sha:
        return record
    if run := _in_flight(record).get(sha):
        return {"sha": sha, "state": "releasing", "run": run}
    if sha in released(record):
        return {"sha": sha, "state": "released"}
    return None


def holder(record: Mapping[str, Any] | None, sha: str) -> str | None:
    """The run the record says is releasing (or released) ``sha``."""
    run = (claim_of(record, sha) or {}).get("run")
    return run if isinstance(run, str) and run else None


def released(record: Mapping[str, Any] | None) -> list[str]:
    """The commits the record says were released, newest first."""
    if not isinstance(record, Mapping):
        return []
    kept = record.get("released")
    shas = [s for s in kept if isinstance(s, str)] if isinstance(kept, list) else []
    if record.get("state") == "released" and isinstance(record.get("sha"), str):
        shas = [record["sha"], *shas]
    return _kept(shas)


def claimed(record: Mapping[str, Any] | None, sha: str, run_id: str) -> dict[str, Any]:
    """The record once ``run_id`` claimed ``sha``: the newest claim; the one it replaces
    stays in flight (when another run is releasing it) or in the released history."""
    in_flight = _in_flight(record)
    in_flight.pop(sha, None)
    if isinstance(record, Mapping) and record.get("state") == "releasing":
        newest, run = record.get("sha"), record.get("run")
        if isinstance(newest, str) and newest != sha and isinstance(run, str) and run:
            in_flight[newest] = run
    return {
        "sha": sha,
        "state": "releasing",
        "run": run_id,
        "released": released(record),
        "in_flight": dict(list(in_flight.items())[-IN_FLIGHT_KEPT:]),
    }


def finished(record: Mapping[str, Any] | None, sha: str, run_id: str, state: str) -> dict[str, Any]:
    """The record once ``run_id``'s release of ``sha`` ended ``state`` (``released``,
    ``failed``). When a newer commit was claimed meanwhile, that claim stays the newest; a
    released ``sha`` joins the history either way."""
    history = [sha, *released(record)] if state == "released" else released(record)
    in_flight = _in_flight(record)
    in_flight.pop(sha, None)
    if isinstance(record, Mapping) and record.get("sha") not in (None, sha):
        return {**record, "released": _kept(history), "in_flight": in_flight}
    older = _kept(s for s in history if s != sha)
    return {"sha": sha, "state": state, "run": run_id, "released": older, "in_flight": in_flight}


def _kept(shas: Iterable[str]) -> list[str]:
    """Each commit once, newest first, at most ``RELEASED_KEPT``."""
    return list(dict.fromkeys(shas))[:RELEASED_KEPT]


def _in_flight(record: Mapping[str, Any] | None) -> dict[str, str]:
    kept = record.get("in_flight") if isinstance(record, Mapping) else None
    if not isinstance(kept, Mapping):
        return {}
    return {k: v for k, v in kept.items() if isinstance(k, str) and isinstance(v, str) and v}
