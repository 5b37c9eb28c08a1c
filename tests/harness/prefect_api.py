"""Read what a person would see in the Prefect UI: states, logs, artifacts, events."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterName,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.client.schemas.objects import FlowRun
from prefect.settings import PREFECT_API_URL

from shipflow.adapters.waiting import Timeout, poll_until
from shipflow.deployments.reviewer import resume

T = TypeVar("T")


def api(path: str) -> str:
    return f"{PREFECT_API_URL.value()}{path}"


@dataclass
class BackgroundRun:
    """A flow run started in a thread, so the test can act on it while it is paused."""

    name: str
    thread: threading.Thread
    outcome: dict[str, Any] = field(default_factory=dict)

    def flow_run(self, timeout: float = 60) -> FlowRun:
        def look() -> FlowRun | None:
            with get_client(sync_client=True) as client:
                runs = client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[self.name]))
                )
            return runs[0] if runs else None

        return _wait(look, timeout, f"flow run {self.name} to appear")

    def wait_paused(self, timeout: float = 90) -> FlowRun:
        def paused() -> FlowRun | None:
            run = self.flow_run()
            if run.state and run.state.is_paused():
                return run
            if not self.thread.is_alive():
                raise AssertionError(f"flow ended without pausing: {self.outcome}")
            return None

        return _wait(paused, timeout, f"flow run {self.name} to pause")

    def join(self, timeout: float = 180) -> Any:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "flow run did not finish"
        return self.outcome["state"]


def start_in_background(flow: Any, **parameters: Any) -> BackgroundRun:
    name = f"test-{uuid.uuid4().hex[:12]}"
    run = BackgroundRun(name=name, thread=threading.Thread(target=lambda: None))

    def target() -> None:
        try:
            run.outcome["state"] = flow.with_options(flow_run_name=name)(
                **parameters, return_state=True
            )
        except BaseException as exc:  # surfaced by join()
            run.outcome["error"] = exc

    run.thread = threading.Thread(target=target, daemon=True)
    run.thread.start()
    return run


def resume_as_ui(flow_run_id: uuid.UUID, run_input: dict[str, Any]) -> httpx.Response:
    """POST /flow_runs/{id}/resume with a JSON body, as the Prefect UI's form does (a 503 from
    SQLite being busy is sent again, as the UI's user would click again)."""
    return resume(PREFECT_API_URL.value(), str(flow_run_id), run_input)


def read_flow_run(flow_run_id: uuid.UUID) -> FlowRun:
    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id)


def logs(flow_run_id: uuid.UUID, settle: float = 1.5) -> list[str]:
    time.sleep(settle)  # logs are shipped in batches
    with get_client(sync_client=True) as client:
        entries = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
        )
    return [e.message for e in entries]


def artifacts(flow_run_id: uuid.UUID) -> list[dict[str, Any]]:
    """The run's artifacts, newest first (a key's later versions come before its earlier)."""
    response = httpx.post(
        api("/artifacts/filter"),
        json={"artifacts": {"flow_run_id": {"any_": [str(flow_run_id)]}}, "sort": "CREATED_DESC"},
    )
    response.raise_for_status()
    found: list[dict[str, Any]] = response.json()
    return found


def events(
    resource_id: str,
    *,
    prefix: str = "shipflow.",
    until: Callable[[list[str]], bool] | None = None,
    timeout: float = 15,
) -> list[dict[str, Any]]:
    """Events about ``resource_id``, oldest first. Events reach the server asynchronously,
    so this polls until ``until(names)`` holds (default: at least one event) or times out."""

    def fetch() -> list[dict[str, Any]]:
        response = httpx.post(
            api("/events/filter"),
            json={
                "filter": {
                    "any_resource": {"id": [resource_id]},
                    "event": {"prefix": [prefix]},
                    "order": "ASC",
                },
                "limit": 50,
            },
        )
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()["events"]
        return found

    def look() -> list[dict[str, Any]] | None:
        found = fetch()
        names = [e["event"] for e in found]
        return found if (until(names) if until else bool(found)) else None

    try:
        return poll_until(look, timeout=timeout, interval=0.3)
    except Timeout:
        return fetch()  # what there is, for the test's own assertion to show


def wait_until(predicate: Callable[[], bool], timeout: float = 30, what: str = "condition") -> None:
    _wait(predicate, timeout, what)


def _wait(check: Callable[[], T | None], timeout: float, what: str) -> T:
    try:
        return poll_until(check, timeout=timeout, interval=0.2)
    except Timeout:
        raise AssertionError(f"timed out waiting for {what}") from None
