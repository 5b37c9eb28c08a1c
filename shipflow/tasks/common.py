"""What every shipflow task shares: the task policy and retry rule, Secret blocks, events and
global concurrency limits."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import State, TaskRun
from prefect.concurrency.sync import concurrency
from prefect.events import emit_event as _emit_event

from shipflow.errors import ConcurrencyBusy, ConfigError, is_transient
from shipflow.settings import load_settings

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
        client.upsert_global_concurrency_limit_by_name(name, limit=limit)
    return name


@contextmanager
def hold_limit(name: str, wait_seconds: float = 30, lease_seconds: float = 60) -> Iterator[None]:
    """Hold one slot of ``name`` (strict: a missing limit is an error, never ignored).

    The lease is renewed while held and expires ``lease_seconds`` after a crash, so a killed
    worker does not block the next run for long.
    """
    try:
        with concurrency(
            name,
            occupy=1,
            strict=True,
            timeout_seconds=wait_seconds,
            lease_duration=lease_seconds,
        ):
            yield
    except TimeoutError as exc:
        raise ConcurrencyBusy(
            f"{name} is held by another run (waited {wait_seconds:.0f}s); try again when it ends"
        ) from exc
