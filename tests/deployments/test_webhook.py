"""The webhook receiver over real HTTP on 127.0.0.1, sending to the real Prefect server."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest

from tests.harness.webhooks import SECRET, Receiver, post_github, push, sign


def merged_events(receiver: Receiver, repo: str, expect: int = 0, wait: float = 3.0) -> list[dict]:
    """The server's event log for ``repo``. Events are persisted asynchronously, so this waits
    for ``expect`` of them (and, when none are expected, long enough for one to have shown)."""
    deadline = time.monotonic() + wait
    while True:
        response = httpx.post(
            f"{receiver.api_url}/events/filter",
            json={
                "filter": {
                    "any_resource": {"id": [f"git.repo.{repo}"]},
                    "event": {"name": ["shipflow.git.merged"]},
                },
                "limit": 50,
            },
        )
        response.raise_for_status()
        events: list[dict] = response.json()["events"]
        if (expect and len(events) >= expect) or time.monotonic() > deadline:
            return events
        time.sleep(0.3)


def test_a_signed_push_to_main_becomes_one_event_even_when_redelivered(receiver: Receiver) -> None:
    repo = f"shop/web-{uuid.uuid4().hex[:6]}"
    body = push(repo, sha="a" * 40)
    delivery = str(uuid.uuid4())
    first = post_github(receiver, body, sign(body), delivery)
    assert first.status_code == 202, first.text
    assert first.json()["status"] == "accepted"
    again = post_github(receiver, body, sign(body), delivery)
    assert again.json()["status"] == "duplicate"
    events = merged_events(receiver, repo, expect=1, wait=15)
    time.sleep(2)  # a second event, had one been made, would have landed by now
    events = merged_events(receiver, repo, expect=1, wait=15)
    assert len(events) == 1
    payload = events[0]["payload"]
    assert payload["sha"] == "a" * 40
    assert payload["ref"] == "refs/heads/main"
    assert payload["author"] == "alice"
    assert payload["changed_paths"] == ["infra/main.tf", "svc/web/app.py"]
    assert events[0]["id"] == first.json()["event_id"]


def test_a_push_to_another_branch_is_ignored(receiver: Receiver) -> None:
    repo = f"shop/web-{uuid.uuid4().hex[:6]}"
    body = push(repo, ref="refs/heads/feature/x")
    response = post_github(receiver, body, sign(body))
    assert response.status_code == 202
    assert response.json() == {
        "status": "ignored",
        "reason": "push to refs/heads/feature/x, not to main",
    }
    assert merged_events(receiver, repo) == []


@pytest.mark.parametrize(
    ("case", "status", "reason"),
    [
        ("bad signature", 401, "signature does not match the body"),
        ("no signature", 401, "missing signature"),
        ("replayed signature, changed body", 401, "signature does not match the body"),
        ("10 MB of JSON", 413, "body over 1048576 bytes"),
        ("invalid JSON", 400, "body is not JSON"),
    ],
)
def test_bad_requests_are_refused_and_never_reach_prefect(
    receiver: Receiver, case: str, status: int, reason: str
) -> None:
    repo = f"shop/web-{uuid.uuid4().hex[:6]}"
    body = push(repo)
    signature: str | None = sign(body)
    if case == "bad signature":
        signature = sign(body, "wrong-secret")
    elif case == "no signature":
        signature = None
    elif case == "replayed signature, changed body":
        body = body.replace(b"alice", b"mallory")
    elif case == "10 MB of JSON":
        body = json.dumps({"repository": {"full_name": repo}, "pad": "x" * 10_000_000}).encode()
        signature = sign(body)
    elif case == "invalid JSON":
        body = b'{"ref": "refs/heads/main", "repository": {"full_name": "' + repo.encode() + b'"'
        signature = sign(body)
    response = post_github(receiver, body, signature)
    assert response.status_code == status
    assert reason in response.json()["reason"]
    assert merged_events(receiver, repo) == []
    assert SECRET not in response.text


def test_gitlab_merge_request_and_generic_hmac(receiver: Receiver) -> None:
    repo = f"shop/api-{uuid.uuid4().hex[:6]}"
    body = json.dumps(
        {
            "object_kind": "merge_request",
            "project": {"path_with_namespace": repo, "default_branch": "main"},
            "user": {"username": "bob"},
            "object_attributes": {
                "action": "merge",
                "target_branch": "main",
                "merge_commit_sha": "b" * 40,
            },
        }
    ).encode()
    wrong = httpx.post(
        f"{receiver.url}/hooks/gitlab", content=body, headers={"X-Gitlab-Token": "nope"}
    )
    assert wrong.status_code == 401
    ok = httpx.post(
        f"{receiver.url}/hooks/gitlab",
        content=body,
        headers={
            "X-Gitlab-Token": "gl-token-123",
            "X-Gitlab-Event": "Merge Request Hook",
            "X-Gitlab-Event-UUID": str(uuid.uuid4()),
        },
    )
    assert ok.status_code == 202, ok.text
    generic = json.dumps({"repo": repo, "sha": "c" * 40, "ref": "refs/heads/main"}).encode()
    signed = httpx.post(
        f"{receiver.url}/hooks/generic",
        content=generic,
        headers={"X-Signature-256": sign(generic, "generic-s3cret")},
    )
    assert signed.status_code == 202, signed.text
    shas = sorted(e["payload"]["sha"] for e in merged_events(receiver, repo, expect=2, wait=15))
    assert shas == ["b" * 40, "c" * 40]


def test_healthz(receiver: Receiver) -> None:
    assert httpx.get(f"{receiver.url}/healthz").json() == {"status": "ok"}
