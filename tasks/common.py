"""What every shipflow task shares: the retry rule and the way events are emitted."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from prefect import Task
from prefect.client.schemas.objects import State, TaskRun
from prefect.events import emit_event as _emit_event

from shipflow.core.secrets import redact
from shipflow.errors import is_transient


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


def emit(
    event: str,
    resource_id: str,
    *,
    payload: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
    secrets: Iterable[str] = (),
) -> None:
    """Emit a Prefect event about one shipflow resource, with every string value redacted."""
    resource = {"prefect.resource.id": resource_id, **(labels or {})}
    _emit_event(
        event=event,
        resource=resource,
        payload=_redacted(dict(payload or {}), frozenset(secrets)),
    )


def _redacted(value: Any, secrets: frozenset[str]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, Mapping):
        return {k: _redacted(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v, secrets) for v in value]
    return value
