"""What every shipflow task shares: the task policy and retry rule, Secret blocks, events and
global concurrency limits."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, ParamSpec, TypeVar
from uuid import UUID

import httpx
from prefect import Task, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.actions import VariableCreate, VariableUpdate
from prefect.client.schemas.objects import ConcurrencyLeaseHolder, State, TaskRun
from prefect.client.schemas.responses import ConcurrencyLimitWithLeaseResponse
from prefect.events import emit_event as _emit_event
from prefect.exceptions import MissingContextError, ObjectAlreadyExists, ObjectNotFound
from prefect.runtime import flow_run
from prefect.states import Crashed

from shipflow.core.names import slug
from shipflow.core.slots import FINAL_STATES, SlotHolder, reclaim_reason
from shipflow.errors import ConcurrencyBusy, ConfigError, is_transient
from shipflow.settings import load_settings

_slot_logger = logging.getLogger("shipflow.slots")

P = ParamSpec("P")
R = TypeVar("R")


def retry_if_transient(task: Task[Any, Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Prefect ``retry_condition_fn``: retry only errors marked ``Transient`` (nothing changed)."""
    exc = state.data if isinstance(state.data, BaseException) else None
    if exc is None:
        try:
            result = state.result(raise_on_failure=False)
        except Exception:  # an unreadable result is not a reason to retry
            return False
        exc = result if isinstance(result, BaseException) else None
    return is_transient(exc)


RetryCondition = Callable[[Task[Any, Any], TaskRun, State[Any]], bool]


def shipflow_task(
    name: str,
    *,
    retries: int = 0,
    retry_when: RetryCondition = retry_if_transient,
    **options: Any,
) -> Callable[[Callable[P, R]], Task[P, R]]:
    """shipflow's task policy: never cached and results never persisted (they can hold live
    clients or values read next to secrets); retried ``retries`` times,
    ``SHIPFLOW_RETRY_DELAY_SECONDS`` apart, and only when ``retry_when`` says the failure is
    safe to repeat (by default: the error is marked ``Transient``)."""
    if retries:
        options |= {
            "retries": retries,
            "retry_delay_seconds": load_settings().retry_delay_seconds,
            "retry_condition_fn": retry_when,
        }
    decorate: Callable[[Callable[P, R]], Task[P, R]] = task(
        name=name, cache_policy=NO_CACHE, persist_result=False, **options
    )
    return decorate


def load_secret(block: str, *, field: str) -> Any:
    """The value held by the Prefect Secret block ``block`` (a string, or the JSON it holds).

    A missing block is a ConfigError naming ``field``, the setting or parameter that named it.
    The value is returned to the caller only: never log it, never put it in an error.
    """
    from prefect.blocks.system import Secret

    try:
        return Secret.load(block, _sync=True).get()  # type: ignore[call-arg,union-attr]
    except ValueError as exc:
        raise ConfigError(field, f"no Secret block named {block!r}") from exc


def emit(
    event: str,
    resource_id: str,
    *,
    payload: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
) -> None:
    """Emit a Prefect event about one shipflow resource.

    Payloads are built from summaries (addresses, digests, reasons from redacted errors),
    never from raw values, so there is nothing secret to strip here.
    """
    resource = {"prefect.resource.id": resource_id, **(labels or {})}
    _emit_event(event=event, resource=resource, payload=dict(payload or {}))


def flush_events(timeout: float = 5.0) -> None:
    """Send the events emitted so far before going on; for a process about to exit (a crash
    or cancellation hook), whose background sender would otherwise die with it."""
    from prefect.events.worker import EventsWorker

    EventsWorker.drain_all(timeout=timeout)


@shipflow_task(name="ensure_concurrency_limit")
def ensure_limit(name: str, limit: int = 1) -> str:
    """Create the global concurrency limit ``name`` if it does not exist yet; returns it."""
    with get_client(sync_client=True) as client:
        try:
            client.upsert_global_concurrency_limit_by_name(name, limit=limit)
        except ObjectAlreadyExists:
            # Runs started together both found no limit and both created it: this one lost
            # the race, and now the limit exists; make sure it has this limit.
            client.upsert_global_concurrency_limit_by_name(name, limit=limit)
    return name


def rollout_slot(key: str) -> str:
    """The slot every rollout of one app holds (one at a time, any strategy, and the
    reconciles): ``key`` is the app's place and name (``<namespace>-<app>``, slugged)."""
    return ensure_limit(f"shipflow-canary-{key}")


# A holder refreshes its slot record (and renews its lease) this often; a record silent for
# longer than the grace is a dead holder, and a waiter takes the slot from it. Prefect's lease
# alone frees a killed run's slot only after its minimum of 60 s plus the server's 15 s sweep.
SLOT_REFRESH_SECONDS = 4.0
SLOT_GRACE_SECONDS = 20.0
# How long a reconcile (a dead rollout undone) waits for the app's slot: past the grace, so a
# killed run's slot never makes it give up; a live run's slot (a newer rollout) outlasts it,
# and the reconcile leaves the app to that run.
RECONCILE_WAIT_SECONDS = SLOT_GRACE_SECONDS + 15


def slot_record_name(limit: str) -> str:
    """The Prefect Variable naming the current holder of ``limit``'s slot (at most 255
    characters, Prefect's limit: a long name keeps its start and a hash of the whole)."""
    name = "shipflow_slot_" + slug(limit, sep="_")
    if len(name) > 255:
        name = name[:238] + "_" + hashlib.sha256(name.encode()).hexdigest()[:16]
    return name


@contextmanager
def hold_limit(
    name: str,
    wait_seconds: float = 30,
    lease_seconds: float = 60,
    grace_seconds: float = SLOT_GRACE_SECONDS,
) -> Iterator[None]:
    """Hold the one slot of the limit ``name`` across every worker of the server (strict: a
    missing limit is an error, never ignored).

    While held, the slot's lease is renewed and a record of its holder (lease, flow run) is
    refreshed on the server every few seconds. A waiter takes the slot from a holder whose run
    has ended or whose record fell silent for more than ``grace_seconds`` (its worker was
    killed), so a dead worker blocks the next run for about ``grace_seconds``. Otherwise the
    waiter waits up to ``wait_seconds`` and raises ConcurrencyBusy.
    """
    asked = time.monotonic()
    with get_client(sync_client=True) as client:
        lease_id = _acquire_slot(client, name, wait_seconds, lease_seconds, grace_seconds)
    waited = time.monotonic() - asked
    emit("shipflow.slot.acquired", f"shipflow.slot.{name}", payload={"waited_seconds": waited})
    stop = threading.Event()
    keeper = threading.Thread(
        target=_keep_slot,
        args=(name, lease_id, lease_seconds, stop),
        name=f"shipflow slot {name}",
        daemon=True,
    )
    keeper.start()
    try:
        yield
    finally:
        stop.set()
        keeper.join(timeout=30)
        try:
            with get_client(sync_client=True) as client:
                with suppress(ObjectNotFound):
                    client.delete_variable_by_name(slot_record_name(name))
                client.release_concurrency_slots_with_lease(lease_id)
            emit("shipflow.slot.released", f"shipflow.slot.{name}")
        except Exception as exc:
            # The work is done; failing it now (the server restarting) would report a done
            # apply as failed. Unreleased, the lease expires within lease_seconds anyway.
            _slot_logger.warning("could not release slot %s: %s", name, type(exc).__name__)


def _acquire_slot(
    client: SyncPrefectClient,
    name: str,
    wait_seconds: float,
    lease_seconds: float,
    grace_seconds: float,
) -> UUID:
    run_id: str | None = flow_run.get_id()
    holder = ConcurrencyLeaseHolder(type="flow_run", id=UUID(run_id)) if run_id else None
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            response = client.increment_concurrency_slots_with_lease(
                names=[name],
                slots=1,
                mode="concurrency",
                lease_duration=lease_seconds,
                holder=holder,
            )
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code != 423:
                raise
            if _reclaim_slot(client, name, grace_seconds):
                continue
            pause = min(float(exc.response.headers.get("Retry-After", 1)), 1.0)
            if time.monotonic() + pause > deadline:
                raise ConcurrencyBusy(
                    f"{name} is held by another run (waited {wait_seconds:.0f}s); "
                    "try again when it ends"
                ) from None
            time.sleep(pause)
            continue
        acquired = ConcurrencyLimitWithLeaseResponse.model_validate(response.json())
        if not acquired.limits:
            raise ConcurrencyBusy(f"no concurrency limit named {name!r} (create it first)")
        _write_slot_record(client, name, acquired.lease_id, run_id, beat=0)
        return acquired.lease_id


def _write_slot_record(
    client: SyncPrefectClient, name: str, lease_id: UUID, run_id: str | None, beat: int
) -> None:
    record: dict[str, Any] = {"lease_id": str(lease_id), "flow_run_id": run_id, "beat": beat}
    variable = slot_record_name(name)
    try:
        client.create_variable(VariableCreate(name=variable, value=record))
    except ObjectAlreadyExists:
        client.update_variable(VariableUpdate(name=variable, value=record))


def _keep_slot(name: str, lease_id: UUID, lease_seconds: float, stop: threading.Event) -> None:
    """Renew the lease and refresh the holder record until ``stop``. A failed beat (the
    server restarting) is tried again at the next one; the grace covers a few."""
    run_id: str | None = flow_run.get_id()
    beat = 0
    with get_client(sync_client=True) as client:
        while not stop.wait(SLOT_REFRESH_SECONDS):
            beat += 1
            try:
                client.renew_concurrency_lease(lease_id, lease_duration=lease_seconds)
                _write_slot_record(client, name, lease_id, run_id, beat)
            except Exception as exc:
                _slot_logger.warning("could not refresh slot %s: %s", name, type(exc).__name__)


def _reclaim_slot(client: SyncPrefectClient, name: str, grace_seconds: float) -> bool:
    """Release the lease of a dead holder of ``name`` (core.slots.reclaim_reason); True if
    one was released. Releasing by lease id makes a stale record harmless: a lease already
    released, or replaced by a live holder's, is not touched."""
    try:
        response = client.request(
            "GET", "/variables/name/{name}", path_params={"name": slot_record_name(name)}
        )
    except httpx.HTTPStatusError as exc:
        if exc.response.status_code == 404:
            return False
        raise
    found = response.json()
    record = found.get("value")
    if not isinstance(record, dict) or "lease_id" not in record:
        return False
    run_id = record.get("flow_run_id")
    state = None
    if run_id:
        with suppress(ObjectNotFound):
            run = client.read_flow_run(UUID(run_id))
            state = run.state_type.value if run.state_type else None
    holder = SlotHolder(
        lease_id=record["lease_id"],
        flow_run_id=run_id,
        refreshed_at=datetime.fromisoformat(found["updated"]),
        run_state=state,
    )
    server_now = parsedate_to_datetime(response.headers["date"])
    reason = reclaim_reason(holder, server_now, grace_seconds)
    if reason is None:
        return False
    client.release_concurrency_slots_with_lease(UUID(holder.lease_id))
    with suppress(ObjectNotFound):
        client.delete_variable_by_name(slot_record_name(name))
    if run_id and state not in FINAL_STATES:
        # Its process is gone (nothing else stops the refresh), and with it the worker that
        # would have reported it: say so on the run, which would otherwise stay Running.
        client.set_flow_run_state(
            UUID(run_id),
            Crashed(message=f"its process stopped holding {name}: {reason}"),
            force=True,
        )
    message = f"took the slot {name} from a dead holder: {reason}"
    emit(
        "shipflow.slot.reclaimed",
        f"shipflow.slot.{name}",
        payload={"reason": reason, "from_flow_run": run_id},
    )
    try:
        get_run_logger().warning(message)
    except MissingContextError:
        _slot_logger.warning(message)
    return True
