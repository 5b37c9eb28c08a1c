"""The demo's reviewer: approves the paused Terraform plans of the runs it owns, and only those.

A run is owned when it is the release run the demo started (found by its unique name) or a
run below it (found by parent flow run id); every approval goes to one flow run id. A paused
run of anyone else on the same Prefect server is never resumed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx

from shipflow.adapters.waiting import Timeout, poll_until


def api_filter(api_url: str, kind: str, where: dict[str, Any]) -> list[dict[str, Any]]:
    """``POST /{kind}/filter`` (flow_runs, flows, artifacts) with ``{kind: where}``."""
    body = {kind: where} if where else {}
    response = httpx.post(f"{api_url}/{kind}/filter", json=body, timeout=30)
    response.raise_for_status()
    found: list[dict[str, Any]] = response.json()
    return found


def own_runs(api_url: str, run_name: str) -> list[dict[str, Any]]:
    """The demo's release run (by its unique name) and every run below it, by parent id."""
    runs = api_filter(api_url, "flow_runs", {"name": {"any_": [run_name]}})
    frontier = [r["id"] for r in runs]
    while frontier:
        children = api_filter(api_url, "flow_runs", {"parent_flow_run_id": {"any_": frontier}})
        known = {r["id"] for r in runs}
        frontier = [c["id"] for c in children if c["id"] not in known]
        runs += [c for c in children if c["id"] in frontier]
    return runs


def approve_own_plans(
    api_url: str, run_name: str, stop: threading.Event, say: Callable[[str], None]
) -> None:
    """Play the reviewer for this demo's own runs: approve each of its paused Terraform plans
    through the Prefect API, by flow run id. Other paused runs on the server are not touched."""
    approved: set[str] = set()
    while not stop.is_set():
        try:
            paused = [
                r["id"]
                for r in own_runs(api_url, run_name)
                if r["state"] and r["state"]["type"] == "PAUSED" and r["id"] not in approved
            ]
            for run_id in paused:
                say("the Terraform plan is waiting for approval; approving it as 'shipflow-demo'")
                answer = resume(api_url, run_id, APPROVAL)
                if answer.status_code >= 300:
                    say(f"the approval was refused: HTTP {answer.status_code} {answer.text[:200]}")
                approved.add(run_id)
        except httpx.HTTPError as exc:  # the UI's user would look again
            say(f"approving failed ({exc}); trying again")
        stop.wait(0.5)


APPROVAL = {
    "approve": True,
    "approver": "shipflow-demo",
    "comment": "reviewed by the demo, as in the UI's form",
}


def resume(api_url: str, run_id: str, run_input: dict[str, Any]) -> httpx.Response:
    """``POST /flow_runs/{id}/resume`` with ``run_input``, as the Prefect UI's form does.

    A 503 is sent again, as the UI's user would click again: Prefect on SQLite answers it when
    two writes meet (``database is locked``). After 15 s of them, the last answer is returned.
    """
    answers: list[httpx.Response] = []

    def send() -> httpx.Response | None:
        answers.append(
            httpx.post(
                f"{api_url}/flow_runs/{run_id}/resume", json={"run_input": run_input}, timeout=30
            )
        )
        return None if answers[-1].status_code == 503 else answers[-1]

    try:
        return poll_until(send, timeout=15, interval=0.5)
    except Timeout:
        return answers[-1]
