"""The webhook receiver on a real port, and GitHub-style requests to it."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from pydantic import SecretStr

from shipflow.deployments import local
from shipflow.deployments.webhook import WebhookSettings, create_app

SECRET = "gh-webhook-s3cret"


@dataclass
class Receiver:
    url: str
    api_url: str
    db: Path
    app: Any  # the Starlette app; app.state.sender and app.state.loop once started


def run_receiver(api_url: str, tmp_path: Path, **overrides: Any) -> Iterator[Receiver]:
    """GitHub and generic secrets from the environment's settings, GitLab's token from a
    Prefect Secret block (both ways a team may keep them)."""
    from prefect.blocks.system import Secret

    Secret(value="gl-token-123").save("shipflow-webhook-gitlab", overwrite=True)
    settings = WebhookSettings(
        github_secret=SecretStr(SECRET),
        gitlab_token_block="shipflow-webhook-gitlab",
        generic_secret=SecretStr("generic-s3cret"),
        seen_path=tmp_path / "seen.sqlite",
        prefect_api_url=api_url,
        **overrides,
    )
    port = local.free_port()
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield Receiver(
            url=f"http://127.0.0.1:{port}", api_url=api_url, db=settings.seen_path, app=app
        )
    finally:  # a failed test stops its receiver too
        server.should_exit = True
        thread.join(5)


receiving = contextlib.contextmanager(run_receiver)


def push(
    repo: str, ref: str = "refs/heads/main", sha: str | None = None, clone_url: str | None = None
) -> bytes:
    """A GitHub push event (the fields shipflow reads, as GitHub names them)."""
    return json.dumps(
        {
            "ref": ref,
            "after": sha or uuid.uuid4().hex + "abcdef01",
            "repository": {
                "full_name": repo,
                "default_branch": "main",
                "clone_url": clone_url or f"https://github.com/{repo}.git",
            },
            "pusher": {"name": "alice"},
            "commits": [
                {"added": ["svc/web/app.py"], "modified": ["infra/main.tf"], "removed": []}
            ],
        }
    ).encode()


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_github(
    receiver: Receiver,
    body: bytes,
    signature: str | None,
    delivery: str | None = None,
    event: str = "push",
) -> httpx.Response:
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "Content-Type": "application/json",
    }
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    return httpx.post(f"{receiver.url}/hooks/github", content=body, headers=headers, timeout=30)
