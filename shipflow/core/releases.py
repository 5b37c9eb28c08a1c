"""Release claims: one release per service and commit, and what happens to a claim whose run
died. Pure: the caller reads the record and the holding run's state and acts on the answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Prefect state types of a run that may still finish what it claimed (a paused run waits for
# approval; a cancelling one may still be running its hooks).
LIVE_STATES = frozenset({"SCHEDULED", "PENDING", "RUNNING", "PAUSED", "CANCELLING"})


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
    """May run ``run_id`` release ``sha``, given the service's claim record?

    - no record, a record for another commit, or a failed release: take it;
    - ``released``: skip, the commit is out;
    - ``releasing`` by a run that is still live (scheduled, pending, running, paused,
      cancelling): skip, that run is releasing it;
    - ``releasing`` by a run that is no longer live (completed, failed, cancelled, crashed,
      deleted — ``holder_state`` None) or by no recorded run: take it over; a run that died
      holding the claim must not block the commit forever.

    ``holder_state`` is the Prefect state type of the run named in the record.
    """
    if not isinstance(record, Mapping) or record.get("sha") != sha:
        return ClaimDecision(True, "not claimed")
    state = record.get("state")
    holder = record.get("run")
    if state == "released":
        return ClaimDecision(False, f"{sha} is already released")
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
