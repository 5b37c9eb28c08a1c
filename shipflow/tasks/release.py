"""Release bookkeeping: one release per service and commit, remembered in Prefect Variables."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound
from prefect.runtime import flow_run
from prefect.variables import Variable

from shipflow.core.names import slug
from shipflow.core.releases import claimed, decide_claim, finished, holder
from shipflow.tasks.common import ensure_limit, hold_limit, shipflow_task


def _name(service: str) -> str:
    return "shipflow_release_" + slug(service, sep="_")


def _claim_lock(service: str) -> str:
    """The lock around every read-modify-write of ``service``'s record."""
    return ensure_limit(f"shipflow-release-claim-{slug(service)}")


def run_state_type(run_id: Any) -> str | None:
    """The state type of flow run ``run_id`` (``RUNNING``, ``CRASHED``…); None when it is gone."""
    try:
        run = UUID(str(run_id))
    except ValueError:
        return None
    with get_client(sync_client=True) as client:
        try:
            found = client.read_flow_run(run)
        except ObjectNotFound:
            return None
    return found.state.type.value if found.state else None


@shipflow_task(name="claim_release")
def claim_release(service: str, sha: str) -> str | None:
    """Mark ``sha`` as releasing for ``service`` by this run; the reason to skip if it is
    already released, or being released by a run that is still live. A claim held by a run
    that is no longer running (crashed, cancelled, deleted) is taken over. Atomic per
    service."""
    me = str(flow_run.get_id() or "")
    with hold_limit(_claim_lock(service), wait_seconds=30):
        record: Any = Variable.get(_name(service), default=None)
        run = holder(record, sha)
        decision = decide_claim(record, sha, me, run_state_type(run) if run else None)
        if not decision.take:
            return f"{decision.reason} for {service}"
        if decision.reason != "not claimed":
            get_run_logger().warning("%s: %s", service, decision.reason)
        Variable.set(_name(service), claimed(record, sha, me), overwrite=True)
    return None


@shipflow_task(name="finish_release")
def finish_release(service: str, sha: str, state: str) -> None:
    """Record how this run's release of ``sha`` ended, under the claim's lock: a newer
    commit's claim made meanwhile is kept, and a released commit is remembered."""
    me = str(flow_run.get_id() or "")
    with hold_limit(_claim_lock(service), wait_seconds=30):
        record: Any = Variable.get(_name(service), default=None)
        Variable.set(_name(service), finished(record, sha, me, state), overwrite=True)


@shipflow_task(name="publish_release")
def publish_release(repo: str, sha: str, rows: list[dict[str, str]]) -> None:
    lines = [
        f"# Release of `{repo}` at `{sha[:12]}`",
        "",
        "| service | stage | state | detail |",
        "|---|---|---|---|",
    ]
    lines += [f"| {r['service']} | {r['stage']} | {r['state']} | {r['detail']} |" for r in rows]
    create_markdown_artifact(
        key="release-summary",
        markdown="\n".join(lines) + "\n",
        description=f"Release of {repo} at {sha[:12]}",
    )
