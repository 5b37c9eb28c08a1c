"""Git webhooks: is a request really from the forge, and is it a merge to the default branch?

Pure functions over the raw body and headers. Signatures are compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from shipflow.errors import WebhookIgnored, WebhookRejected

# Namespace for event ids derived from delivery ids: the same delivery, the same event id.
DELIVERY_NAMESPACE = uuid.UUID("6f1c2a5e-4b7d-4c1e-9a0b-5d3e8f2a7c91")


class Merge(BaseModel):
    """A change that landed on the default branch."""

    model_config = ConfigDict(frozen=True)

    repo: str  # owner/name
    sha: str
    ref: str
    author: str
    changed_paths: tuple[str, ...]
    delivery: str
    clone_url: str | None = None  # where a worker fetches ``sha`` from

    @property
    def event_id(self) -> uuid.UUID:
        return uuid.uuid5(DELIVERY_NAMESPACE, self.delivery)


def verify_hmac(body: bytes, secret: str, signature: str | None, prefix: str = "sha256=") -> None:
    """HMAC-SHA256 of the raw body, compared in constant time."""
    if not signature:
        raise WebhookRejected(401, "missing signature")
    expected = prefix + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise WebhookRejected(401, "signature does not match the body")


def verify_token(secret: str, token: str | None) -> None:
    """GitLab's shared token (``X-Gitlab-Token``), compared in constant time."""
    if not token:
        raise WebhookRejected(401, "missing token")
    if not hmac.compare_digest(secret.encode(), token.encode()):
        raise WebhookRejected(401, "token does not match")


def _json(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WebhookRejected(400, f"body is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise WebhookRejected(400, "body is not a JSON object")
    return payload


def _paths(commits: Any) -> tuple[str, ...]:
    found: set[str] = set()
    for commit in commits or []:
        if isinstance(commit, Mapping):
            for key in ("added", "modified", "removed"):
                found.update(str(p) for p in commit.get(key) or [])
    return tuple(sorted(found))


def github_merge(event: str | None, delivery: str | None, body: bytes) -> Merge:
    """A GitHub ``push`` to the default branch, or a merged ``pull_request``."""
    if not delivery:
        raise WebhookRejected(400, "missing X-GitHub-Delivery")
    payload = _json(body)
    repo = (payload.get("repository") or {}).get("full_name")
    clone_url = (payload.get("repository") or {}).get("clone_url")
    default = (payload.get("repository") or {}).get("default_branch", "main")
    if event == "ping":
        raise WebhookIgnored("ping")
    if event == "push":
        ref = str(payload.get("ref", ""))
        if ref != f"refs/heads/{default}":
            raise WebhookIgnored(f"push to {ref}, not to {default}")
        if payload.get("deleted"):
            raise WebhookIgnored("branch deleted")
        sha = payload.get("after")
        author = ((payload.get("pusher") or {}).get("name")) or "unknown"
        paths = _paths(payload.get("commits"))
    elif event == "pull_request":
        pr = payload.get("pull_request") or {}
        if payload.get("action") != "closed" or not pr.get("merged"):
            raise WebhookIgnored("pull request not merged")
        if (pr.get("base") or {}).get("ref") != default:
            raise WebhookIgnored("merged into another branch")
        sha = pr.get("merge_commit_sha")
        ref = f"refs/heads/{default}"
        author = (pr.get("merged_by") or {}).get("login") or "unknown"
        paths = ()
    else:
        raise WebhookIgnored(f"event {event!r} is not a merge")
    if not repo or not sha:
        raise WebhookRejected(400, "payload lacks repository.full_name or the commit sha")
    return Merge(
        repo=str(repo),
        sha=str(sha),
        ref=ref,
        author=str(author),
        changed_paths=paths,
        delivery=delivery,
        clone_url=clone_url,
    )


def gitlab_merge(event: str | None, body: bytes, delivery: str | None) -> Merge:
    """A GitLab push to the default branch, or a merged merge request."""
    payload = _json(body)
    project = payload.get("project") or {}
    repo = project.get("path_with_namespace")
    clone_url = project.get("git_http_url")
    default = project.get("default_branch", "main")
    kind = payload.get("object_kind")
    if kind == "push":
        ref = str(payload.get("ref", ""))
        if ref != f"refs/heads/{default}":
            raise WebhookIgnored(f"push to {ref}, not to {default}")
        sha = payload.get("checkout_sha") or payload.get("after")
        author = payload.get("user_username") or "unknown"
        paths = _paths(payload.get("commits"))
    elif kind == "merge_request":
        attrs = payload.get("object_attributes") or {}
        if attrs.get("action") != "merge" or attrs.get("target_branch") != default:
            raise WebhookIgnored("merge request not merged into the default branch")
        sha = attrs.get("merge_commit_sha") or (attrs.get("last_commit") or {}).get("id")
        ref = f"refs/heads/{default}"
        author = (payload.get("user") or {}).get("username") or "unknown"
        paths = ()
    else:
        raise WebhookIgnored(f"event {event or kind!r} is not a merge")
    if not repo or not sha:
        raise WebhookRejected(400, "payload lacks project.path_with_namespace or the commit sha")
    # GitLab's Idempotency-Key / X-Gitlab-Event-UUID identify a delivery; else the content.
    delivery = delivery or hashlib.sha256(body).hexdigest()
    return Merge(
        repo=str(repo),
        sha=str(sha),
        ref=ref,
        author=str(author),
        changed_paths=paths,
        delivery=delivery,
        clone_url=clone_url,
    )


def generic_merge(delivery: str | None, body: bytes) -> Merge:
    """``{"repo", "sha", "ref", "author", "changed_paths"}`` from any CI system."""
    payload = _json(body)
    missing = [k for k in ("repo", "sha", "ref") if not payload.get(k)]
    if missing:
        raise WebhookRejected(400, f"missing field(s): {', '.join(missing)}")
    return Merge(
        repo=str(payload["repo"]),
        sha=str(payload["sha"]),
        ref=str(payload["ref"]),
        author=str(payload.get("author", "unknown")),
        changed_paths=tuple(str(p) for p in payload.get("changed_paths") or ()),
        delivery=delivery or hashlib.sha256(body).hexdigest(),
        clone_url=payload.get("clone_url"),
    )


def merge_event(merge: Merge, occurred: str) -> dict[str, Any]:
    """The Prefect event for a merge (the JSON ``POST /api/events`` takes)."""
    return {
        "id": str(merge.event_id),
        "occurred": occurred,
        "event": "shipflow.git.merged",
        "resource": {
            "prefect.resource.id": f"git.repo.{merge.repo}",
            "prefect.resource.name": merge.repo,
        },
        "payload": {
            "repo": merge.repo,
            "sha": merge.sha,
            "ref": merge.ref,
            "author": merge.author,
            "changed_paths": list(merge.changed_paths),
            "delivery": merge.delivery,
            "clone_url": merge.clone_url,
        },
    }
