"""What a crashed run's final message says when its worker died under it.

A process worker reads the flow process's output through a pipe. When the worker dies (and
only the worker), the flow process's next log line meets a broken pipe, Rich raises
``SystemExit`` and Prefect records "Execution was aborted by Python system exit call" — true,
and no help to an operator. This hook, run last among ``on_crashed`` hooks, notices that the
process which started the flow run is gone and replaces that message with what happened.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from prefect import Flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun, State
from prefect.states import Crashed

# The process that started this flow process: the worker, for a deployment's run.
_STARTED_BY = os.getppid()


def explain_lost_worker(flow: Flow[..., Any], flow_run: FlowRun, state: State[Any]) -> None:
    """on_crashed: when the worker that started this run is gone, say so as the run's final
    message (the hooks listed before this one have run: a canary's traffic is back)."""
    if os.getppid() == _STARTED_BY:
        return
    message = (
        f"the worker that started this flow run (process {_STARTED_BY} on "
        f"{socket.gethostname()}) died, and the flow process stopped with it; its crash "
        "hooks ran (a canary's traffic was taken back). Start the run again, or re-push the "
        f"commit, once a worker is up. Prefect reported: {state.message}"
    )
    # No log line: the worker was the reader of this process's output, and the message is
    # the run's final state, where an operator looks.
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(flow_run.id, Crashed(message=message), force=True)
