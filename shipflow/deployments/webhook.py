"""The merge webhook receiver: verified git webhooks become Prefect events.

Prefect Cloud has inbound webhooks; a self-hosted Prefect server does not. This small ASGI
app (Starlette, served by uvicorn: ``shipflow webhook serve``) checks each request's
signature over the raw body, turns a merge to the default branch into the event
``shipflow.git.merged`` (``POST /api/events`` of the Prefect server) and lets deployment
triggers do the rest. Unsigned, badly signed, oversized, stalled or malformed requests never
reach Prefect, and none of them is answered 5xx: each gets a 4xx that says what was wrong.

Bodies are read up to ``max_body_bytes`` (25 MiB, GitHub's cap) within
``read_timeout_seconds``; a sender that stalls half-way is answered 408 and disconnected.

An accepted merge is serialised once, recorded (delivery id and the event's exact bytes) in
the SQLite outbox in one transaction, and answered 202 at once. A background sender posts
the outbox to Prefect in batches. A batch Prefect refuses is split so that one bad event
never holds back the others; an event refused ``max_attempts`` times moves to the dead
letters with the reason (``shipflow webhook status``, ``shipflow webhook replay ID``). While
Prefect is down or misconfigured nothing is counted against the events: they wait. No
failure of any kind ends the sender's loop; ``GET /healthz`` answers 503 if it is not
running, and reports the outbox depth, the oldest undelivered age and the dead letters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from shipflow.core.webhooks import (
    Merge,
    classify_send,
    encode_event,
    generic_merge,
    github_merge,
    gitlab_delivery,
    gitlab_merge,
    merge_event,
    verify_hmac,
    verify_token,
)
from shipflow.deployments.api import prefect_auth_headers
from shipflow.deployments.outbox import DEFAULT_PATH, Outbox, Pending
from shipflow.errors import WebhookIgnored, WebhookRejected
from shipflow.tasks.common import load_secret

logger = logging.getLogger("shipflow.webhook")

# Bodies larger than this are verified and parsed in a worker thread, so that a 25 MiB
# merge never holds the event loop (and every other request) for its parse.
_THREAD_ABOVE = 256 * 1024
# The sender is "stalled" when its loop has not turned for this long (its longest wait is
# a 30 s backoff plus a 10 s HTTP timeout).
_STALLED_AFTER = 120.0
_DELIVERY_HEADERS = ("x-github-delivery", "idempotency-key", "x-gitlab-event-uuid", "x-delivery-id")


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
    max_body_bytes: int = Field(
        default=25 * 1024 * 1024, gt=0, description="GitHub sends payloads of up to 25 MB."
    )
    read_timeout_seconds: float = Field(
        default=20.0, gt=0, description="A body not received within this is answered 408."
    )
    seen_path: Path = DEFAULT_PATH
    seen_limit: int = Field(default=100_000, gt=0)
    max_attempts: int = Field(
        default=5, gt=0, description="Refusals by Prefect before an event is dead-lettered."
    )
    attempt_backoff_seconds: float = Field(
        default=1.0, gt=0, description="Wait after a refusal, doubled per attempt (max 60 s)."
    )
    prefect_api_url: str | None = Field(
        default=None, description="Default: PREFECT_API_URL of the environment."
    )


@dataclass
class SenderState:
    """What ``/healthz`` reads about the background sender."""

    task: asyncio.Task[None] | None = None
    beat: float = field(default_factory=time.monotonic)


async def _post(client: httpx.AsyncClient, url: str, events: list[bytes]) -> tuple[int | None, str]:
    """POST the events as one JSON array of their stored bytes: (status or None, detail)."""
    try:
        response = await client.post(
            url,
            content=b"[" + b",".join(events) + b"]",
            headers={"content-type": "application/json"},
        )
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:300]
    return response.status_code, f"Prefect answered {response.status_code}: {response.text[:300]}"


async def _healthy(client: httpx.AsyncClient, api_url: str) -> bool:
    try:
        return (await client.get(f"{api_url}/health")).status_code == 200
    except httpx.HTTPError:
        return False


async def _send_round(
    outbox: Outbox,
    client: httpx.AsyncClient,
    api_url: str,
    settings: WebhookSettings,
    state: SenderState,
) -> str:
    """One turn of the sender: "idle", "sent" (go again) or "unavailable" (back off)."""
    batch = outbox.pending()
    if not batch:
        return "idle"
    url = f"{api_url}/events"
    status, detail = await _post(client, url, [row.event for row in batch])
    outcome = classify_send(status, prefect_healthy=False)
    if outcome == "delivered":
        outbox.delivered([row.id for row in batch])
        return "sent"
    if outcome == "unavailable" and (
        status is None or status < 500 or not await _healthy(client, api_url)
    ):
        outbox.note_error(detail)
        logger.warning("Prefect did not take %s event(s): %s", len(batch), detail)
        return "unavailable"
    # Prefect refused the batch, or failed on it while healthy: send each event alone, so a
    # bad one is found and counted and the others go through.
    failures: list[tuple[Pending, int, str]] = []
    delivered = unavailable = False
    for row in batch:
        state.beat = time.monotonic()
        status, detail = await _post(client, url, [row.event])
        if status is not None and 200 <= status < 300:
            outbox.delivered([row.id])
            delivered = True
        elif status is None:  # Prefect went away: the rest wait for the next turn
            outbox.note_error(detail)
            unavailable = True
            break
        else:
            failures.append((row, status, detail))
    healthy = delivered or (bool(failures) and await _healthy(client, api_url))
    for row, status, detail in failures:
        if classify_send(status, prefect_healthy=healthy) != "refused":
            unavailable = True
            outbox.note_error(detail)
            continue
        dead = outbox.refused(row, detail, settings.max_attempts, settings.attempt_backoff_seconds)
        log = logger.error if dead else logger.warning
        log(
            "Prefect refused event %s (delivery %s), attempt %s of %s%s: %s",
            row.event_id,
            row.delivery,
            row.attempts + 1,
            settings.max_attempts,
            "; moved to the dead letters" if dead else "",
            detail,
        )
    return "unavailable" if unavailable and not delivered else "sent"


async def send_outbox(
    outbox: Outbox,
    client: httpx.AsyncClient,
    api_url: str,
    wake: asyncio.Event,
    settings: WebhookSettings,
    state: SenderState,
) -> None:
    """Post queued events to Prefect until cancelled; no event and no error ends the loop."""
    backoff = 0.5
    while True:
        state.beat = time.monotonic()
        try:
            turn = await _send_round(outbox, client, api_url, settings, state)
        except Exception:
            # A bug or a broken outbox file must not stop delivery for good: log, wait, retry.
            logger.exception("The outbox sender failed a turn; retrying in %.1fs", backoff)
            turn = "unavailable"
        if turn == "sent":
            backoff = 0.5
        elif turn == "idle":
            backoff = 0.5
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=1.0)
        else:
            await asyncio.sleep(backoff)
            backoff = min(30.0, backoff * 2)


Parser = Callable[[Mapping[str, str], bytes], Merge]


def _refuse(status: int, reason: str, close: bool = False) -> JSONResponse:
    # A reason may quote request text; make it encodable whatever it holds.
    safe = reason.encode("utf-8", "backslashreplace").decode("utf-8")
    headers = {"connection": "close"} if close else None
    return JSONResponse({"status": "rejected", "reason": safe}, status, headers=headers)


def github_json(content_type: str | None, body: bytes) -> bytes:
    """The JSON of a GitHub delivery: the body itself, or the ``payload`` field of a
    form-encoded one (the other content type GitHub offers)."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media in ("", "application/json") or media.endswith("+json"):
        return body
    hint = "set the webhook's content type to application/json"
    if media != "application/x-www-form-urlencoded":
        raise WebhookRejected(415, f"content type {media!r} is not accepted: {hint}")
    try:
        fields = urllib.parse.parse_qs(
            body.decode("ascii"), strict_parsing=True, max_num_fields=50, errors="strict"
        )
    except ValueError:  # UnicodeDecodeError included
        raise WebhookRejected(400, f"the form-encoded body is not form data: {hint}") from None
    payload = fields.get("payload", [])
    if len(payload) != 1:
        raise WebhookRejected(400, f"the form-encoded body has no single payload field: {hint}")
    return payload[0].encode("utf-8")


def create_app(settings: WebhookSettings | None = None) -> Starlette:
    settings = _with_block_secrets(settings or WebhookSettings())
    outbox = Outbox(settings.seen_path, settings.seen_limit)
    api_url = settings.prefect_api_url or _prefect_api_url()
    wake = asyncio.Event()
    state = SenderState()

    def sender_ended(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.error("The outbox sender stopped: %r", task.exception())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # With API authentication on, the receiver sends what Prefect's own client sends.
        async with httpx.AsyncClient(timeout=10, headers=prefect_auth_headers()) as client:
            state.task = asyncio.create_task(
                send_outbox(outbox, client, api_url, wake, settings, state)
            )
            state.task.add_done_callback(sender_ended)
            app.state.sender = state
            app.state.loop = asyncio.get_running_loop()
            try:
                yield
            finally:
                state.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await state.task
                outbox.close()

    async def read_body(request: Request) -> bytes:
        limit = settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise WebhookRejected(413, f"body over {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(settings.read_timeout_seconds):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise WebhookRejected(413, f"body over {limit} bytes")
                    chunks.append(chunk)
        except TimeoutError:
            raise WebhookRejected(
                408, f"body not received within {settings.read_timeout_seconds:g} s"
            ) from None
        return b"".join(chunks)

    def github(headers: Mapping[str, str], body: bytes) -> Merge:
        assert settings.github_secret is not None
        verify_hmac(
            body, settings.github_secret.get_secret_value(), headers.get("x-hub-signature-256")
        )
        return github_merge(
            headers.get("x-github-event"),
            headers.get("x-github-delivery"),
            github_json(headers.get("content-type"), body),
        )

    def gitlab(headers: Mapping[str, str], body: bytes) -> Merge:
        assert settings.gitlab_token is not None
        verify_token(settings.gitlab_token.get_secret_value(), headers.get("x-gitlab-token"))
        delivery = gitlab_delivery(
            headers.get("idempotency-key"), headers.get("x-gitlab-event-uuid"), body
        )
        return gitlab_merge(body, delivery)

    def generic(headers: Mapping[str, str], body: bytes) -> Merge:
        assert settings.generic_secret is not None
        verify_hmac(
            body,
            settings.generic_secret.get_secret_value(),
            headers.get(settings.generic_header.lower()),
        )
        return generic_merge(headers.get("x-delivery-id"), body)

    def remember(forge: str, request: Request, exc: WebhookRejected) -> None:
        headers = request.headers
        delivery = next(
            (_printable(value)[:100] for name in _DELIVERY_HEADERS if (value := headers.get(name))),
            None,
        )
        try:
            outbox.note_refusal(forge, delivery, exc.status, _printable(exc.reason))
        except sqlite3.Error:
            logger.exception("Could not record a refused %s delivery", forge)
        logger.warning("Refused a signed %s delivery %s: %s", forge, delivery, exc.reason)

    def endpoint(
        forge: str, secret: SecretStr | None, parse: Parser
    ) -> Callable[[Request], Awaitable[JSONResponse]]:
        async def handle(request: Request) -> JSONResponse:
            if secret is None:
                return _refuse(404, f"{forge} webhooks are not configured", close=True)
            try:
                body = await read_body(request)
                headers = dict(request.headers)
                if len(body) > _THREAD_ABOVE:
                    merge = await run_in_threadpool(parse, headers, body)
                else:
                    merge = parse(headers, body)
                event = encode_event(merge_event(merge, datetime.now(UTC).isoformat()))
            except WebhookRejected as exc:
                if exc.status in (400, 415):  # raised only once the request is authenticated
                    remember(forge, request, exc)
                # The body may be unread (413, 408): close rather than read the rest.
                return _refuse(exc.status, exc.reason, close=exc.status in (408, 413))
            except WebhookIgnored as exc:
                return JSONResponse({"status": "ignored", "reason": _printable(str(exc))}, 202)
            except ClientDisconnect:
                return _refuse(400, "the client went away before sending the whole body")
            except Exception:
                # A bug, never the sender's fault; say so without a traceback to the forge.
                logger.exception("Could not handle a %s delivery", forge)
                return _refuse(500, "internal error (logged by the receiver)", close=True)
            try:
                fresh = outbox.accept(merge.delivery, str(merge.event_id), event)
            except sqlite3.Error:
                logger.exception("Could not write delivery %s to the outbox", merge.delivery)
                return _refuse(503, "the outbox cannot be written; retry later")
            if not fresh:
                return JSONResponse({"status": "duplicate", "event_id": str(merge.event_id)}, 200)
            wake.set()
            body_out: dict[str, object] = {
                "status": "accepted",
                "event_id": str(merge.event_id),
                "sha": merge.sha,
            }
            if merge.paths_unknown:
                body_out["paths_unknown"] = merge.paths_unknown
            return JSONResponse(body_out, 202)

        return handle

    async def healthz(request: Request) -> JSONResponse:
        stats = outbox.stats()
        now = time.time()
        task = state.task
        if task is None or task.done():
            sender = "not running"
        elif time.monotonic() - state.beat > _STALLED_AFTER:
            sender = "stalled"
        else:
            sender = "running"
        running = sender == "running"
        return JSONResponse(
            {
                "status": ("degraded" if stats.dead_letters else "ok") if running else sender,
                "sender": sender,
                "outbox": {
                    "depth": stats.depth,
                    "oldest_age_seconds": (
                        round(now - stats.oldest_queued_at, 3)
                        if stats.oldest_queued_at is not None
                        else None
                    ),
                },
                "dead_letters": stats.dead_letters,
                "last_delivery": _iso(stats.last_delivery_at),
                "last_error": stats.last_error,
            },
            200 if running else 503,
        )

    return Starlette(
        lifespan=lifespan,
        routes=[
            Route(
                "/hooks/github",
                endpoint("GitHub", settings.github_secret, github),
                methods=["POST"],
            ),
            Route(
                "/hooks/gitlab",
                endpoint("GitLab", settings.gitlab_token, gitlab),
                methods=["POST"],
            ),
            Route(
                "/hooks/generic",
                endpoint("generic", settings.generic_secret, generic),
                methods=["POST"],
            ),
            Route("/healthz", healthz, methods=["GET"]),
        ],
    )


def _printable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _iso(at: float | None) -> str | None:
    return datetime.fromtimestamp(at, UTC).isoformat() if at is not None else None


def _with_block_secrets(settings: WebhookSettings) -> WebhookSettings:
    """Fill each secret not given in the environment from its Prefect Secret block."""
    updates: dict[str, SecretStr] = {}
    for name in ("github_secret", "gitlab_token", "generic_secret"):
        block = getattr(settings, f"{name}_block")
        if getattr(settings, name) is None and block:
            value = load_secret(block, field=f"SHIPFLOW_WEBHOOK_{name.upper()}_BLOCK")
            updates[name] = SecretStr(str(value))
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
