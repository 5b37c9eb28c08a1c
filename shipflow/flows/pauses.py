"""Helpers for flows that pause for a human."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import State
from prefect.context import FlowRunContext
from prefect.settings import PREFECT_UI_URL
from prefect.variables import Variable

from shipflow.core.names import slug
from shipflow.tasks.common import ensure_limit, hold_limit


def end_after_expired_pause(state: State[Any]) -> State[Any]:
    """End a run whose pause expired with ``state`` (Cancelled or Failed with our reason).

    Once a pause's deadline has passed, the server refuses every transition out of Paused
    and fails the run with "never resumed". The reason is ours to give, so the state is set
    with ``force``, and a fresh copy is returned for the engine (it treats a state that
    already carries a run id as an upstream one).
    """
    context = FlowRunContext.get()
    if context is not None and context.flow_run is not None:
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(context.flow_run.id, state.model_copy(deep=True), force=True)
    return state.model_copy(deep=True)


def run_link(run_id: str) -> str:
    """The run's page in the Prefect UI (or its id when no UI address is known)."""
    ui = PREFECT_UI_URL.value()
    return f"{ui}/runs/flow-run/{run_id}" if ui else f"flow run {run_id}"


def _waiting_variable(key: str) -> str:
    return "shipflow_approval_" + slug(key, sep="_")


def waiting_approval(key: str, run_id: str) -> str | None:
    """Claim ``key``'s one approval slot for run ``run_id``: None when claimed, else a link to
    the run that already waits there (a second plan of a stack is refused, not stacked up:
    its approval would be found stale only after someone approved it)."""
    name = _waiting_variable(key)
    with hold_limit(ensure_limit(f"shipflow-approval-{slug(key)}"), wait_seconds=30):
        holder = Variable.get(name, default=None)
        if isinstance(holder, str) and holder and holder != run_id and _is_paused(holder):
            return run_link(holder)
        Variable.set(name, run_id, overwrite=True)
    return None


def release_approval(key: str, run_id: str) -> None:
    """The approval slot of ``key`` is free again (if ``run_id`` still holds it)."""
    name = _waiting_variable(key)
    if Variable.get(name, default=None) == run_id:
        Variable.unset(name)


def _is_paused(run_id: str) -> bool:
    with get_client(sync_client=True) as client:
        try:
            run = client.read_flow_run(UUID(run_id))
        except Exception:  # a run that cannot be read waits for nothing
            return False
    return bool(run.state and run.state.is_paused())
