"""Release bookkeeping: one release per service and commit, remembered in Prefect Variables."""

from __future__ import annotations

from typing import Any

from prefect.artifacts import create_markdown_artifact
from prefect.variables import Variable

from shipflow.core.names import slug
from shipflow.tasks.common import ensure_limit, hold_limit, shipflow_task


def _name(service: str) -> str:
    return "shipflow_release_" + slug(service, sep="_")


@shipflow_task(name="claim_release")
def claim_release(service: str, sha: str) -> str | None:
    """Mark ``sha`` as releasing for ``service``; the reason to skip if it already is released
    or releasing (a redelivered webhook, a second trigger). Atomic per service."""
    limit = ensure_limit(f"shipflow-release-claim-{slug(service)}")
    with hold_limit(limit, wait_seconds=30):
        record: Any = Variable.get(_name(service), default=None)
        if (
            isinstance(record, dict)
            and record.get("sha") == sha
            and record.get("state")
            in (
                "releasing",
                "released",
            )
        ):
            return f"{sha} is already {record['state']} for {service}"
        Variable.set(_name(service), {"sha": sha, "state": "releasing"}, overwrite=True)
    return None


@shipflow_task(name="finish_release")
def finish_release(service: str, sha: str, state: str) -> None:
    Variable.set(_name(service), {"sha": sha, "state": state}, overwrite=True)


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
