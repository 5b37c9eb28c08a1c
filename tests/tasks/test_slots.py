"""One slot per limit across workers: a live holder keeps it, a dead one loses it in seconds.

Against the real Prefect server; a holder that "died" is a lease taken by hand whose record
nobody refreshes (what a SIGKILLed worker leaves), the way tests/faults kill a real worker.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import VariableCreate
from prefect.states import Running

from shipflow.errors import ConcurrencyBusy
from shipflow.tasks.common import ensure_limit, hold_limit, slot_record_name

pytestmark = pytest.mark.usefixtures("prefect_server")


def new_limit() -> str:
    return ensure_limit.fn(f"test-slot-{uuid.uuid4().hex[:8]}")


def active_slots(name: str) -> int:
    with get_client(sync_client=True) as client:
        return client.read_global_concurrency_limit_by_name(name).active_slots


def test_a_second_holder_waits_and_is_refused_while_the_first_is_alive() -> None:
    name = new_limit()
    held = threading.Event()
    release = threading.Event()

    def first() -> None:
        with hold_limit(name, grace_seconds=3):
            held.set()
            release.wait(30)

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert held.wait(30)
        started = time.monotonic()
        # The first holder is alive and refreshing: twice the grace passes, nothing is taken.
        with (
            pytest.raises(ConcurrencyBusy, match=f"{name} is held by another run"),
            hold_limit(name, wait_seconds=7, grace_seconds=3),
        ):
            pass
        assert time.monotonic() - started >= 6
    finally:
        release.set()
        thread.join(30)
    assert active_slots(name) == 0
    with hold_limit(name, wait_seconds=5):  # released at the end of the first hold
        assert active_slots(name) == 1


def dead_holder(name: str, run_id: str | None = None) -> Any:
    """A slot taken with a lease and a holder record, then abandoned (its process killed)."""
    with get_client(sync_client=True) as client:
        response = client.increment_concurrency_slots_with_lease(
            names=[name], slots=1, mode="concurrency", lease_duration=300
        )
        lease_id = response.json()["lease_id"]
        client.create_variable(
            VariableCreate(
                name=slot_record_name(name),
                value={"lease_id": lease_id, "flow_run_id": run_id, "beat": 0},
            )
        )
    return lease_id


def test_a_slot_held_by_a_killed_holder_is_taken_after_the_grace_not_the_lease() -> None:
    """The dead holder's lease would last 300 s; the waiter takes the slot after the 3 s grace
    and holds it alone."""
    name = new_limit()
    dead_holder(name)
    started = time.monotonic()
    with hold_limit(name, wait_seconds=30, grace_seconds=3):
        waited = time.monotonic() - started
        assert active_slots(name) == 1
    assert 3 <= waited < 10, waited
    assert active_slots(name) == 0


@flow
def holder_flow() -> None:
    """Stands for a run whose process was killed while it held a slot."""


def test_the_run_that_held_the_slot_when_it_died_is_marked_crashed() -> None:
    """Its worker died with it, so nothing else would report it: it would stay Running."""
    name = new_limit()
    with get_client(sync_client=True) as client:
        run = client.create_flow_run(holder_flow, state=Running())
    dead_holder(name, str(run.id))
    with hold_limit(name, wait_seconds=30, grace_seconds=3):
        pass
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(run.id).state
    assert state is not None
    assert state.type.value == "CRASHED"
    assert f"stopped holding {name}" in (state.message or "")


def test_slot_record_names_fit_prefect_and_stay_distinct() -> None:
    long_a, long_b = "x" * 300 + "a", "x" * 300 + "b"
    assert len(slot_record_name(long_a)) == 255
    assert slot_record_name(long_a) != slot_record_name(long_b)
    assert slot_record_name("shipflow-canary-t-1-web") == "shipflow_slot_shipflow_canary_t_1_web"
