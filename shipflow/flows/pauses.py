"""Helpers for flows that pause for a human."""

from __future__ import annotations

from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import State
from prefect.context import FlowRunContext


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
