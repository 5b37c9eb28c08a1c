"""The merge webhook receiver: verified git webhooks become Prefect events.

Prefect Cloud has inbound webhooks; a self-hosted Prefect server does not. This small ASGI
app (Starlette, served by uvicorn: ``shipflow webhook serve``) checks each request's
signature over the raw body, turns a merge to the default branch into the event
``shipflow.git.merged`` (``POST /api/events`` of the Prefect server) and lets deployment
triggers do the rest. Unsigned, badly signed, oversized or malformed requests never reach
Prefect. A redelivered webhook keeps its event id (uuid5 of the delivery id) and is also
remembered in a small SQLite file, because the server forgets ids when it restarts.

The same SQLite file is an outbox: an accepted merge is recorded (delivery id and event) in
one transaction and answered 202 at once; a background sender posts the outbox to Prefect in
batches and retries until Prefect takes them, so a slow or restarting Prefect server neither
slows the forge's delivery nor loses a merge.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from shipflow.core.webhooks import (
    Merge,
    generic_merge,
    github_merge,
    gitlab_merge,
    merge_event,
    verify_hmac,
    verify_token,
)
from shipflow.deployments.api import prefect_auth_headers
from shipflow.errors import WebhookIgnored, WebhookRejected
from shipflow.tasks.common import load_secret

logger = logging.getLogger("shipflow.webhook")


class WebhookSettings(BaseSettings):
    """``SHIPFLOW_WEBHOOK_*``: the shared secrets (never logged) and limits."""

    model_config = SettingsConfigDict(env_prefix="SHIPFLOW_WEBHOOK_", extra="ignore")

    github_secret: SecretStr | None = None
    gitlab_token: SecretStr | None = None
    generic_secret: SecretStr | None = None
    # Or the name of a Prefect Secret block holding it (read once, at start-up).
    github_secret_block: str | None = None
    gitlab_token_block: str | None = None
    generic_secret_block: str | None = None
    generic_header: str = "X-Signature-256"
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    seen_path: Path = Path(".shipflow-webhook-seen.sqlite")
    seen_limit: int = Field(default=100_000, gt=0)
    prefect_api_url: str | None = Field(
        default=None, description="Default: PREFECT_API_URL of the environment."
    )


class Outbox:
    """Delivery ids already accepted (bounded) and the events not yet sent to Prefect."""

    def __init__(self, path: Path, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a commit survives the receiver crashing (not the machine losing power)
        # without an fsync per webhook.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS seen (delivery TEXT PRIMARY KEY, at REAL NOT NULL)"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY, event TEXT NOT NULL)"
        )

    def accept(self, delivery: str, event: dict[str, object]) -> bool:
        """Record a new delivery and queue its event; False if the delivery was seen."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO seen (delivery, at) VALUES (?, ?)",
                    (delivery, datetime.now(UTC).timestamp()),
                )
                if cursor.rowcount:
                    self._db.execute("INSERT INTO outbox (event) VALUES (?)", (json.dumps(event),))
                    self._db.execute(
                        "DELETE FROM seen WHERE delivery IN (SELECT delivery FROM seen "
                        "ORDER BY at DESC LIMIT -1 OFFSET ?)",
                        (self.limit,),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return bool(cursor.rowcount)

    def pending(self, limit: int = 200) -> list[tuple[int, dict[str, object]]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, event FROM outbox ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
        return [(int(i), json.loads(e)) for i, e in rows]

    def sent(self, ids: list[int]) -> None:
        with self._lock:
            self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])


async def send_outbox(
    outbox: Outbox, client: httpx.AsyncClient, api_url: str, wake: asyncio.Event
) -> None:
    """Post queued events to Prefect in batches; on failure wait (up to 30 s) and retry."""
    backoff = 0.5
    while True:
        batch = outbox.pending()
        if not batch:
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=1.0)
            continue
        try:
            response = await client.post(f"{api_url}/events", json=[e for _, e in batch])
            response.raise_for_status()
        except httpx.HTTPError as exc:
            logger.warning(
                "Prefect did not take %s event(s) (%s); retrying in %.1fs",
                len(batch),
                type(exc).__name__,
                backoff,
            )
            await asyncio.sleep(backoff)
            backoff = min(30.0, backoff * 2)
            continue
        backoff = 0.5
        outbox.sent([i for i, _ in batch])


Parser = Callable[[Request, bytes], Merge]


def create_app(settings: WebhookSettings | None = None) -> Starlette:
    settings = _with_block_secrets(settings or WebhookSettings())
    outbox = Outbox(settings.seen_path, settings.seen_limit)
    api_url = settings.prefect_api_url or _prefect_api_url()
    wake = asyncio.Event()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # With API authentication on, the receiver sends what Prefect's own client sends.
        async with httpx.AsyncClient(timeout=10, headers=prefect_auth_headers()) as client:
            sender = asyncio.create_task(send_outbox(outbox, client, api_url, wake))
            try:
                yield
            finally:
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sender

    async def read_body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > settings.max_body_bytes:
            raise WebhookRejected(413, f"body over {settings.max_body_bytes} bytes")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > settings.max_body_bytes:
                raise WebhookRejected(413, f"body over {settings.max_body_bytes} bytes")
        return body

    def github(request: Request, body: bytes) -> Merge:
        if settings.github_secret is None:
            raise WebhookRejected(404, "GitHub webhooks are not configured")
        verify_hmac(
            body,
            settings.github_secret.get_secret_value(),
            request.headers.get("x-hub-signature-256"),
        )
        return github_merge(
            request.headers.get("x-github-event"), request.headers.get("x-github-delivery"), body
        )

    def gitlab(request: Request, body: bytes) -> Merge:
        if settings.gitlab_token is None:
            raise WebhookRejected(404, "GitLab webhooks are not configured")
        verify_token(
            settings.gitlab_token.get_secret_value(), request.headers.get("x-gitlab-token")
        )
        delivery = request.headers.get("x-gitlab-event-uuid") or request.headers.get(
            "idempotency-key"
        )
        return gitlab_merge(request.headers.get("x-gitlab-event"), body, delivery)

    def generic(request: Request, body: bytes) -> Merge:
        if settings.generic_secret is None:
            raise WebhookRejected(404, "generic webhooks are not configured")
        verify_hmac(
            body,
            settings.generic_secret.get_secret_value(),
            request.headers.get(settings.generic_header),
        )
        return generic_merge(request.headers.get("x-delivery-id"), body)

    def endpoint(parse: Parser) -> Callable[[Request], Awaitable[JSONResponse]]:
        async def handle(request: Request) -> JSONResponse:
            try:
                merge = parse(request, await read_body(request))
            except WebhookRejected as exc:
                return JSONResponse({"status": "rejected", "reason": exc.reason}, exc.status)
            except WebhookIgnored as exc:
                return JSONResponse({"status": "ignored", "reason": str(exc)}, 202)
            event = merge_event(merge, datetime.now(UTC).isoformat())
            if not outbox.accept(merge.delivery, event):
                return JSONResponse({"status": "duplicate", "event_id": str(merge.event_id)}, 200)
            wake.set()
            return JSONResponse(
                {"status": "accepted", "event_id": str(merge.event_id), "sha": merge.sha}, 202
            )

        return handle

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(
        lifespan=lifespan,
        routes=[
            Route("/hooks/github", endpoint(github), methods=["POST"]),
            Route("/hooks/gitlab", endpoint(gitlab), methods=["POST"]),
            Route("/hooks/generic", endpoint(generic), methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
    )


def _with_block_secrets(settings: WebhookSettings) -> WebhookSettings:
    """Fill each secret not given in the environment from its Prefect Secret block."""
    updates: dict[str, SecretStr] = {}
    for field in ("github_secret", "gitlab_token", "generic_secret"):
        block = getattr(settings, f"{field}_block")
        if getattr(settings, field) is None and block:
            value = load_secret(block, field=f"SHIPFLOW_WEBHOOK_{field.upper()}_BLOCK")
            updates[field] = SecretStr(str(value))
    return settings.model_copy(update=updates) if updates else settings


def _prefect_api_url() -> str:
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        raise RuntimeError("PREFECT_API_URL is not set: the receiver needs a Prefect server")
    return str(url).rstrip("/")


def serve(host: str = "127.0.0.1", port: int = 8787) -> None:
    import uvicorn

    uvicorn.run(create_app(), host=host, port=port, log_level="info", access_log=False)
