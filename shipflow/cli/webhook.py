"""`shipflow webhook …`: the merge webhook receiver."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from shipflow.cli._app import EXIT_USAGE, JsonOpt, app, console, emit_json, fail
from shipflow.deployments.outbox import DEFAULT_PATH, Outbox

webhook_app = typer.Typer(help="The merge webhook receiver (GitHub, GitLab, generic HMAC).")
app.add_typer(webhook_app, name="webhook")


@webhook_app.command("serve")
def webhook_serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8787,
) -> None:
    """Serve POST /hooks/github, /hooks/gitlab, /hooks/generic and GET /healthz.

    Secrets come from the environment: SHIPFLOW_WEBHOOK_GITHUB_SECRET,
    SHIPFLOW_WEBHOOK_GITLAB_TOKEN, SHIPFLOW_WEBHOOK_GENERIC_SECRET (a forge left unset answers
    404). A verified merge to the default branch becomes the Prefect event
    shipflow.git.merged on PREFECT_API_URL; a redelivery does not make a second one.
    GET /healthz answers 503 when the sender to Prefect is not running; `shipflow webhook
    status` shows what waits and what Prefect refused.
    """
    from shipflow.deployments.webhook import serve

    serve(host, port)


DbOpt = Annotated[
    Path,
    typer.Option(
        "--db",
        envvar="SHIPFLOW_WEBHOOK_SEEN_PATH",
        help="The receiver's SQLite file (its SHIPFLOW_WEBHOOK_SEEN_PATH).",
    ),
]


def _open(db: Path) -> Outbox:
    """The receiver's outbox file, or a one-line usage error (never created here)."""
    if not db.is_file():
        raise fail(
            f"--db: {db} does not exist (point it at the receiver's SHIPFLOW_WEBHOOK_SEEN_PATH)",
            EXIT_USAGE,
        )
    try:
        return Outbox(db, create=False)
    except sqlite3.Error as exc:
        raise fail(f"--db: {db} is not the receiver's SQLite file ({exc})", EXIT_USAGE) from None


def _summary(event: bytes) -> tuple[str, str]:
    """(repo, sha) of a stored event, or "?" where it cannot be read."""
    try:
        payload = json.loads(event).get("payload", {})
        return str(payload.get("repo", "?")), str(payload.get("sha", "?"))
    except (ValueError, AttributeError):
        return "?", "?"


def _when(at: float | None) -> str | None:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds") if at else None


@webhook_app.command("status")
def webhook_status(db: DbOpt = DEFAULT_PATH, as_json: JsonOpt = False) -> None:
    """The outbox: events waiting for Prefect, the last delivery, and the dead letters.

    A dead letter is an event Prefect refused SHIPFLOW_WEBHOOK_MAX_ATTEMPTS times (the reason
    is Prefect's answer); `shipflow webhook replay ID` sends it again. Also lists the last
    signed requests refused as malformed (400/415, with the field named).
    """
    outbox = _open(db)
    try:
        stats = outbox.stats()
        dead = outbox.dead_letters()
        refusals = outbox.refusals()
    finally:
        outbox.close()
    now = time.time()
    letters = []
    for letter in dead:
        repo, sha = _summary(letter.event)
        letters.append(
            {
                "id": letter.id,
                "event_id": letter.event_id,
                "delivery": letter.delivery,
                "repo": repo,
                "sha": sha,
                "attempts": letter.attempts,
                "reason": letter.reason,
                "dead_at": _when(letter.dead_at),
            }
        )
    age = round(now - stats.oldest_queued_at, 1) if stats.oldest_queued_at else None
    report = {
        "outbox": {"depth": stats.depth, "oldest_age_seconds": age},
        "last_delivery": _when(stats.last_delivery_at),
        "last_error": stats.last_error,
        "last_error_at": _when(stats.last_error_at),
        "dead_letters": letters,
        "refused_requests": [
            {
                "forge": r.forge,
                "delivery": r.delivery,
                "status": r.status,
                "reason": r.reason,
                "at": _when(r.at),
            }
            for r in refusals
        ],
    }
    if as_json:
        emit_json(report)
        return
    console.print(
        f"outbox: {stats.depth} event(s) waiting"
        + (f", the oldest for {age:.0f} s" if age is not None else ""),
        highlight=False,
    )
    console.print(f"last delivery: {report['last_delivery'] or 'never'}", highlight=False)
    if stats.last_error:
        console.print(
            f"last error ({report['last_error_at']}): {stats.last_error}",
            markup=False,
            soft_wrap=True,
        )
    if refusals:
        console.print(
            f"signed requests refused as malformed (last {len(refusals)}, newest first):",
            highlight=False,
            soft_wrap=True,
        )
        for r in refusals[:10]:
            console.print(
                f"  {_when(r.at)} {r.forge} delivery {r.delivery or '-'}: {r.status} {r.reason}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
    if not letters:
        console.print("dead letters: none", highlight=False)
        return
    console.print(
        f"dead letters: {len(letters)} (send one again: `shipflow webhook replay ID`)",
        highlight=False,
    )
    for row in letters:
        console.print(
            f"  {row['id']}: {row['repo']} {str(row['sha'])[:12]}, delivery {row['delivery']}, "
            f"{row['attempts']} attempt(s), dead since {row['dead_at']}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        console.print(f"      {row['reason']}", markup=False, highlight=False, soft_wrap=True)


@webhook_app.command("replay")
def webhook_replay(
    dead_id: Annotated[int, typer.Argument(metavar="ID", help="The dead letter's id (status).")],
    db: DbOpt = DEFAULT_PATH,
    as_json: JsonOpt = False,
) -> None:
    """Put a dead letter back in the outbox; the running receiver sends it within a second."""
    outbox = _open(db)
    try:
        found = outbox.replay(dead_id)
    finally:
        outbox.close()
    if not found:
        raise fail(
            f"ID: no dead letter {dead_id} in {db} (see `shipflow webhook status`)", EXIT_USAGE
        )
    if as_json:
        emit_json({"replayed": dead_id})
    else:
        console.print(f"dead letter {dead_id} is back in the outbox", highlight=False)
