"""The webhook receiver over real HTTP on 127.0.0.1, sending to the real Prefect server."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from shipflow.adapters.waiting import Timeout, poll_until
from shipflow.core.webhooks import encode_event, generic_merge, merge_event
from shipflow.deployments.outbox import Outbox
from tests.conftest import PrefectServer
from tests.harness.webhooks import SECRET, Receiver, post_github, push, receiving, sign

DATA = Path(__file__).parents[1] / "core" / "data" / "webhooks"
SHIPFLOW = str(Path(sys.executable).with_name("shipflow"))


def merged_events(receiver: Receiver, repo: str, expect: int = 0, wait: float = 3.0) -> list[dict]:
    """The server's event log for ``repo``. Events are persisted asynchronously, so this waits
    for ``expect`` of them (and, when none are expected, long enough for one to have shown)."""
    looked: list[list[dict]] = []

    def enough() -> list[dict] | None:
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
        looked.append(response.json()["events"])
        return looked[-1] if expect and len(looked[-1]) >= expect else None

    try:
        return poll_until(enough, timeout=wait, interval=0.3)
    except Timeout:
        return looked[-1]


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


# What the receiver does with poison, GitLab's delivery semantics, size and time.


def shipflow(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SHIPFLOW, *argv], capture_output=True, text=True, timeout=60)


def status(receiver: Receiver) -> dict:
    done = shipflow("webhook", "status", "--json", "--db", str(receiver.db))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def real_push(repo: str, sha: str, paths: list[str] | None = None) -> dict:
    """GitHub's own push example (octokit/webhooks), moved to ``repo`` at ``sha``."""
    push = json.loads((DATA / "github" / "push.with-new-branch.json").read_text())
    push["repository"]["full_name"] = repo
    push["after"] = sha
    if paths is not None:
        push["commits"][0]["added"] = paths
    return push


def post_gitlab(receiver: Receiver, body: bytes, **headers: str) -> httpx.Response:
    sent = {"X-Gitlab-Token": "gl-token-123", "X-Gitlab-Event": "Push Hook", **headers}
    return httpx.post(f"{receiver.url}/hooks/gitlab", content=body, headers=sent, timeout=30)


def gitlab_push(repo: str, sha: str, **changes: object) -> dict:
    """GitLab's documented push example, moved to ``repo`` at ``sha``."""
    push = json.loads((DATA / "gitlab" / "push.json").read_text())
    push["project"]["path_with_namespace"] = repo
    push.update(after=sha, checkout_sha=sha, total_commits_count=2)
    push.update(changes)
    return push


def test_a_poison_path_is_refused_and_the_next_merge_still_reaches_prefect(
    receiver: Receiver,
) -> None:
    repo = f"shop/web-{uuid.uuid4().hex[:6]}"
    poison = json.dumps(real_push(repo, "d" * 40, ["services/web/\udc80.txt"])).encode()
    delivery = str(uuid.uuid4())
    refused = post_github(receiver, poison, sign(poison), delivery)
    assert refused.status_code == 400
    assert refused.json()["reason"].startswith("commits[0].added[0]: Input should be a valid")
    (shown,) = status(receiver)["refused_requests"]
    assert (shown["forge"], shown["delivery"], shown["status"]) == ("GitHub", delivery, 400)
    assert shown["reason"] == refused.json()["reason"]
    normal = json.dumps(real_push(repo, "e" * 40, ["services/web/app.py"])).encode()
    assert post_github(receiver, normal, sign(normal)).status_code == 202
    events = merged_events(receiver, repo, expect=1, wait=15)
    assert [e["payload"]["sha"] for e in events] == ["e" * 40]
    assert events[0]["payload"]["changed_paths"] == ["services/web/app.py"]
    health = httpx.get(f"{receiver.url}/healthz").json()
    assert (health["status"], health["dead_letters"]) == ("ok", 0)


def test_an_event_prefect_refuses_is_dead_lettered_and_the_others_still_go(
    prefect_server: PrefectServer, tmp_path: Path
) -> None:
    """An event Prefect answers 422 for (written straight into the outbox, as a receiver of
    another version might have) is retried, dead-lettered with Prefect's reason, shown by
    `shipflow webhook status`, and never holds back the merge queued behind it."""
    db = tmp_path / "seen.sqlite"
    outbox = Outbox(db)
    outbox.accept("poison-delivery", "not-a-uuid", b'{"id": "not-a-uuid", "event": 1}')
    repo = f"shop/web-{uuid.uuid4().hex[:6]}"
    merge = generic_merge(None, json.dumps({"repo": repo, "sha": "f" * 40, "ref": "r"}).encode())
    event = merge_event(merge, datetime.now(UTC).isoformat())
    outbox.accept(merge.delivery, str(merge.event_id), encode_event(event))
    outbox.close()
    with receiving(
        prefect_server.api_url, tmp_path, max_attempts=3, attempt_backoff_seconds=0.2
    ) as receiver:
        assert [e["payload"]["sha"] for e in merged_events(receiver, repo, 1, 15)] == ["f" * 40]
        # Until the third refusal the dead letters are an empty list, which poll_until would
        # take for an answer: look again until there is one.
        report = poll_until(
            lambda: s if (s := status(receiver))["dead_letters"] else None, timeout=30, interval=0.3
        )
        (letter,) = report["dead_letters"]
        assert (letter["delivery"], letter["attempts"]) == ("poison-delivery", 3)
        assert letter["reason"].startswith("Prefect answered 422")
        assert report["outbox"]["depth"] == 0
        health = httpx.get(f"{receiver.url}/healthz")
        assert health.status_code == 200
        assert health.json()["status"] == "degraded"
        assert health.json()["dead_letters"] == 1
        human = shipflow("webhook", "status", "--db", str(receiver.db))
        assert "poison-delivery" in human.stdout
        assert "Prefect answered 422" in human.stdout


def test_a_replayed_dead_letter_reaches_prefect(
    prefect_server: PrefectServer, tmp_path: Path
) -> None:
    """A good event dead-lettered while Prefect refused it (say, a proxy's 413) goes out
    once `shipflow webhook replay ID` puts it back."""
    db = tmp_path / "seen.sqlite"
    repo = f"shop/web-{uuid.uuid4().hex[:6]}"
    merge = generic_merge(None, json.dumps({"repo": repo, "sha": "a" * 40, "ref": "r"}).encode())
    outbox = Outbox(db)
    outbox.accept(
        merge.delivery,
        str(merge.event_id),
        encode_event(merge_event(merge, datetime.now(UTC).isoformat())),
    )
    (row,) = outbox.pending()
    assert outbox.refused(row, "Prefect answered 413: too large", max_attempts=1, backoff=1)
    outbox.close()
    with receiving(prefect_server.api_url, tmp_path) as receiver:
        (letter,) = status(receiver)["dead_letters"]
        assert merged_events(receiver, repo, wait=2) == []
        missing = shipflow("webhook", "replay", "999", "--db", str(db))
        assert missing.returncode == 64
        assert "no dead letter 999" in missing.stderr
        done = shipflow("webhook", "replay", str(letter["id"]), "--db", str(db))
        assert done.returncode == 0, done.stderr
        assert [e["id"] for e in merged_events(receiver, repo, 1, 15)] == [str(merge.event_id)]
        assert status(receiver)["dead_letters"] == []


def test_status_refuses_a_missing_file_in_one_line(tmp_path: Path) -> None:
    done = shipflow("webhook", "status", "--db", str(tmp_path / "nope.sqlite"))
    assert done.returncode == 64
    assert "does not exist" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "nope.sqlite").exists()


def test_healthz_reports_the_outbox_and_503_once_the_sender_stops(
    prefect_server: PrefectServer, tmp_path: Path
) -> None:
    with receiving(prefect_server.api_url, tmp_path) as receiver:
        health = httpx.get(f"{receiver.url}/healthz")
        assert health.status_code == 200
        assert health.json() == {
            "status": "ok",
            "sender": "running",
            "outbox": {"depth": 0, "oldest_age_seconds": None},
            "dead_letters": 0,
            "last_delivery": None,
            "last_error": None,
        }
        receiver.app.state.loop.call_soon_threadsafe(receiver.app.state.sender.task.cancel)
        stopped = poll_until(
            lambda: (r := httpx.get(f"{receiver.url}/healthz")).status_code == 503 and r,
            timeout=10,
            interval=0.1,
        )
        assert stopped.json()["sender"] == "not running"
        # A merge is still recorded (and reported waiting) while the sender is down.
        body = push(f"shop/web-{uuid.uuid4().hex[:6]}")
        assert post_github(receiver, body, sign(body)).status_code == 202
        waiting = httpx.get(f"{receiver.url}/healthz").json()["outbox"]
        assert waiting["depth"] == 1
        assert waiting["oldest_age_seconds"] >= 0


def test_gitlab_branch_deletion_makes_no_event(receiver: Receiver) -> None:
    repo = f"shop/api-{uuid.uuid4().hex[:6]}"
    deleted = gitlab_push(repo, "0" * 40, checkout_sha=None, commits=[], total_commits_count=0)
    response = post_gitlab(receiver, json.dumps(deleted).encode())
    assert response.status_code == 202
    assert response.json() == {"status": "ignored", "reason": "refs/heads/master deleted"}
    assert merged_events(receiver, repo) == []


def test_gitlab_resends_and_recursive_hooks(receiver: Receiver) -> None:
    repo = f"shop/api-{uuid.uuid4().hex[:6]}"
    first = json.dumps(gitlab_push(repo, "1" * 40)).encode()
    key = str(uuid.uuid4())
    sent = post_gitlab(
        receiver, first, **{"Idempotency-Key": key, "X-Gitlab-Event-UUID": str(uuid.uuid4())}
    )
    assert sent.status_code == 202
    # The same merge resent: a new event UUID, the same Idempotency-Key.
    resent = post_gitlab(
        receiver, first, **{"Idempotency-Key": key, "X-Gitlab-Event-UUID": str(uuid.uuid4())}
    )
    assert resent.json()["status"] == "duplicate"
    # Two different merges sharing one event UUID (recursive hooks), without keys.
    shared = str(uuid.uuid4())
    for sha in ("2" * 40, "3" * 40):
        body = json.dumps(gitlab_push(repo, sha)).encode()
        assert post_gitlab(receiver, body, **{"X-Gitlab-Event-UUID": shared}).status_code == 202
    events = merged_events(receiver, repo, expect=3, wait=15)
    time.sleep(2)  # a fourth event, had one been made, would have landed by now
    events = merged_events(receiver, repo, expect=3, wait=15)
    assert sorted(e["payload"]["sha"] for e in events) == ["1" * 40, "2" * 40, "3" * 40]


def test_gitlab_25_commits_with_20_listed_releases_with_paths_unknown(receiver: Receiver) -> None:
    repo = f"shop/api-{uuid.uuid4().hex[:6]}"
    push = gitlab_push(repo, "4" * 40, total_commits_count=25)
    push["commits"] = [dict(push["commits"][0], id=f"{i:040x}") for i in range(20)]
    response = post_gitlab(receiver, json.dumps(push).encode())
    assert response.status_code == 202
    assert response.json()["paths_unknown"] == "paths unknown: the payload lists 20 of 25 commits"
    (event,) = merged_events(receiver, repo, expect=1, wait=15)
    assert event["payload"]["changed_paths"] is None
    assert event["payload"]["paths_unknown"] == "paths unknown: the payload lists 20 of 25 commits"


def test_a_form_encoded_github_delivery_is_accepted(receiver: Receiver) -> None:
    repo = f"shop/web-{uuid.uuid4().hex[:6]}"
    payload = json.dumps(real_push(repo, "5" * 40))
    form = urllib.parse.urlencode({"payload": payload}).encode()
    headers = {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(form),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    response = httpx.post(f"{receiver.url}/hooks/github", content=form, headers=headers)
    assert response.status_code == 202, response.text
    assert [e["payload"]["sha"] for e in merged_events(receiver, repo, 1, 15)] == ["5" * 40]
    bare = payload.encode()  # JSON sent with a form content type
    headers.update({"X-Hub-Signature-256": sign(bare), "X-GitHub-Delivery": str(uuid.uuid4())})
    response = httpx.post(f"{receiver.url}/hooks/github", content=bare, headers=headers)
    assert response.status_code == 400
    assert "set the webhook's content type to application/json" in response.json()["reason"]


def test_a_5_mb_signed_push_is_accepted(receiver: Receiver) -> None:
    """A big merge: 2,000 commits (about GitHub's most) with long messages, touching 40
    files; the whole path list travels in the event."""
    repo = f"shop/web-{uuid.uuid4().hex[:6]}"
    push = real_push(repo, "6" * 40)
    template = push["commits"][0]
    push["commits"] = [
        dict(
            template,
            id=f"{i:040x}",
            message=f"Change {i}\n\n" + "A line of a long commit message. " * 80,
            added=[],
            modified=[f"services/web/module_{i % 40}.py"],
        )
        for i in range(2000)
    ]
    body = json.dumps(push).encode()
    assert len(body) > 5_000_000
    response = post_github(receiver, body, sign(body))
    assert response.status_code == 202, response.text
    (event,) = merged_events(receiver, repo, expect=1, wait=30)
    assert event["payload"]["sha"] == "6" * 40
    assert len(event["payload"]["changed_paths"]) == 40


def raw_exchange(url: str, head: bytes, body: bytes, timeout: float = 10) -> bytes:
    """Send a request by hand (a body that lies about its length) and read until closed."""
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(head + body)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    return received


def test_a_body_over_25_mib_is_refused_before_it_is_read(receiver: Receiver) -> None:
    head = (
        b"POST /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 26214401\r\n\r\n"
    )
    answer = raw_exchange(receiver.url, head, b'{"ref": "refs/heads/main"')
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"body over 26214400 bytes" in answer


def test_a_chunked_body_over_the_limit_is_refused(
    prefect_server: PrefectServer, tmp_path: Path
) -> None:
    with receiving(prefect_server.api_url, tmp_path, max_body_bytes=1000) as receiver:

        def chunks() -> Iterator[bytes]:
            for _ in range(100):
                yield b" " * 100

        response = httpx.post(
            f"{receiver.url}/hooks/github", content=chunks(), headers={"X-GitHub-Event": "push"}
        )
        assert response.status_code == 413
        assert response.json()["reason"] == "body over 1000 bytes"


def test_stalled_half_bodies_are_closed_while_a_merge_still_gets_202_fast(
    prefect_server: PrefectServer, tmp_path: Path
) -> None:
    """1,000 connections send half a body and stop. The read timeout (2 s here) answers each
    408 and closes it; meanwhile a merge is answered 202 within 100 ms."""
    stalled_count, read_timeout = 1000, 2.0
    repo, sha = f"shop/web-{uuid.uuid4().hex[:6]}", "8" * 40

    async def scenario(receiver: Receiver) -> tuple[float, list[bytes]]:
        port = int(receiver.url.rsplit(":", 1)[1])
        head = (
            b"POST /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 2000\r\n\r\n" + b"{" + b" " * 999
        )
        streams = []
        for _ in range(stalled_count):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(head)
            streams.append((reader, writer))
        await asyncio.gather(*(w.drain() for _, w in streams))
        body = push(repo, sha=sha)
        with httpx.Client(timeout=10) as client:
            client.get(f"{receiver.url}/healthz")  # the client's connection, made beforehand
            assert not any(r.at_eof() for r, _ in streams), "the read timeout is too short"
            started = time.perf_counter()
            response = client.post(
                f"{receiver.url}/hooks/github",
                content=body,
                headers={
                    "X-GitHub-Event": "push",
                    "X-GitHub-Delivery": str(uuid.uuid4()),
                    "X-Hub-Signature-256": sign(body),
                },
            )
            elapsed = time.perf_counter() - started
            assert response.status_code == 202, response.text
        answers = await asyncio.wait_for(
            asyncio.gather(*(r.read() for r, _ in streams)), timeout=read_timeout + 30
        )
        for _, writer in streams:
            writer.close()
        return elapsed, answers

    with receiving(prefect_server.api_url, tmp_path, read_timeout_seconds=read_timeout) as receiver:
        elapsed, answers = asyncio.run(scenario(receiver))
        print(f"merge answered in {elapsed * 1000:.1f} ms beside {stalled_count} stalled bodies")
        assert elapsed < 0.1, f"the merge took {elapsed * 1000:.0f} ms"
        # read() returned: every stalled connection was answered and closed by the receiver.
        assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers), answers[0][:200]
        assert b"body not received within 2 s" in answers[0]
        assert [e["payload"]["sha"] for e in merged_events(receiver, repo, 1, 15)] == [sha]
