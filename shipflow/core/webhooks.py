"""Git webhooks: is a request really from the forge, and is it a merge to the default branch?

Pure functions over the raw body and headers. Each forge has one parsing path: the body's
shape is bounded before it is parsed (UTF-8, nesting at most ``MAX_DEPTH``, numbers at most
``MAX_NUMBER_DIGITS`` digits, no NaN), then validated into a strict typed model of just the
fields used, so any wrong type, depth or size is a :class:`WebhookRejected` (400) naming the
field (``commits[0].added[1]: …``). Signatures are compared in constant time.

What counts as a merge: a push to the default branch (never a branch deletion: GitHub's
``deleted`` or an all-zero ``after``), a merged pull or merge request into it, or a generic
request naming repo, sha and ref. The sha is 40 (SHA-1) or 64 (SHA-256) hex characters.
The changed paths are known only when the payload lists every commit and each commit lists
its files; otherwise the merge says "paths unknown" and why, and every service is released.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Sequence
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from shipflow.core.commits import is_full_sha
from shipflow.errors import WebhookIgnored, WebhookRejected

# Namespace for event ids derived from delivery ids: the same delivery, the same event id.
DELIVERY_NAMESPACE = uuid.UUID("6f1c2a5e-4b7d-4c1e-9a0b-5d3e8f2a7c91")

# Real payloads nest about 6 deep and carry ids of at most ~12 digits; these bounds are far
# above that and far below what makes a JSON parser recurse or an int() conversion slow.
MAX_DEPTH = 32
MAX_NUMBER_DIGITS = 40
# GitHub's push payload lists at most 2048 commits (docs: "push" event, `commits`).
GITHUB_MAX_COMMITS = 2048
# Changed paths beyond this many bytes do not travel in one Prefect event (its default
# maximum is 1.5 MB); such a merge is released as "paths unknown" instead.
MAX_EVENT_PATH_BYTES = 512 * 1024
MAX_DELIVERY_ID = 256

PATHS_UNKNOWN = "paths unknown"

_DELIVERY = re.compile(r"[\x21-\x7e]+")
# A JSON string literal (unrolled, linear time), the brackets, and digit runs.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_EMPTY_PAIR = re.compile(r"\[\]|\{\}")
_LONG_NUMBER = re.compile(rf"\d{{{MAX_NUMBER_DIGITS + 1},}}")
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}:,]|-?\d+', re.DOTALL)


def _sha(value: str) -> str:
    if not is_full_sha(value):
        raise ValueError("not a commit sha (40 or 64 hex characters)")
    return value.lower()


# Strict str already refuses a lone surrogate ("unable to parse raw data as a unicode
# string"), so a path that cannot be encoded never reaches the outbox.
Name = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
Text = Annotated[str, StringConstraints(max_length=1024)]
FilePath = Annotated[str, StringConstraints(min_length=1, max_length=4096)]
Sha = Annotated[str, AfterValidator(_sha)]


class _Payload(BaseModel):
    """Strict: a string is never a number, a list never a string; unknown fields ignored."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class Commit(_Payload):
    added: list[FilePath] = []
    modified: list[FilePath] = []
    removed: list[FilePath] = []


class GitHubRepository(_Payload):
    full_name: Name
    default_branch: Name
    clone_url: Text | None = None


class GitHubPusher(_Payload):
    name: Text | None = None


class GitHubPush(_Payload):
    ref: Text
    after: Sha
    deleted: bool = False
    repository: GitHubRepository
    pusher: GitHubPusher | None = None
    commits: list[Commit] = []


class GitHubUser(_Payload):
    login: Text | None = None


class GitHubBase(_Payload):
    ref: Text


class GitHubPullRequestBody(_Payload):
    merged: bool | None = None
    merge_commit_sha: Sha | None = None
    base: GitHubBase
    merged_by: GitHubUser | None = None


class GitHubPullRequest(_Payload):
    action: Text
    pull_request: GitHubPullRequestBody
    repository: GitHubRepository


class GitLabProject(_Payload):
    path_with_namespace: Name
    default_branch: Name | None = None
    git_http_url: Text | None = None


class GitLabKind(_Payload):
    object_kind: Text | None = None


class GitLabPush(_Payload):
    ref: Text
    after: Sha
    checkout_sha: Sha | None = None
    user_username: Text | None = None
    project: GitLabProject
    commits: list[Commit] = []
    total_commits_count: Annotated[int, Field(ge=0, le=10**9)] | None = None


class GitLabLastCommit(_Payload):
    id: Sha


class GitLabUser(_Payload):
    username: Text | None = None


class GitLabMergeAttributes(_Payload):
    action: Text | None = None
    target_branch: Name
    merge_commit_sha: Sha | None = None
    squash_commit_sha: Sha | None = None
    last_commit: GitLabLastCommit | None = None


class GitLabMergeRequest(_Payload):
    object_attributes: GitLabMergeAttributes
    user: GitLabUser | None = None
    project: GitLabProject


class GenericMerge(_Payload):
    repo: Name
    sha: Sha
    ref: Name
    author: Text = "unknown"
    changed_paths: list[FilePath] | None = None
    clone_url: Text | None = None


class Merge(BaseModel):
    """A change that landed on the default branch.

    ``paths_unknown`` is None when ``changed_paths`` lists every path the merge changed;
    otherwise it says why they are not known (and ``changed_paths`` is empty).
    """

    model_config = ConfigDict(frozen=True)

    repo: str  # owner/name
    sha: str
    ref: str
    author: str
    changed_paths: tuple[str, ...]
    paths_unknown: str | None = None
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


def _field(loc: Sequence[int | str]) -> str:
    """``("commits", 0, "added", 1)`` → ``commits[0].added[1]`` (at most ~100 characters)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = part if len(part) <= 64 else part[:61] + "..."
            out += f".{name}" if out else name
        if len(out) > 100:
            return out[:97] + "..."
    return out or "body"


def _locate(text: str) -> str | None:
    """Where the body first nests deeper than MAX_DEPTH or holds a too-long number, and
    which (None: neither, the brackets merely do not match and the parser will say so)."""
    stack: list[list[Any]] = []  # [is_object, current key or index]
    last = ""
    for match in _TOKEN.finditer(text):
        token = match.group()
        first = token[0]
        if first == '"':
            last = token
        elif first == ":":
            if stack and stack[-1][0]:
                try:
                    key = json.loads(last)
                    key.encode("utf-8")
                except ValueError:  # UnicodeEncodeError included
                    key = "?"
                stack[-1][1] = key
        elif first == ",":
            if stack and not stack[-1][0]:
                stack[-1][1] += 1
        elif first in "[{":
            if len(stack) >= MAX_DEPTH:
                parts = [s[1] for s in stack if s[1] is not None]
                where = _field(parts[:4]) + ("..." if len(parts) > 4 else "")
                return f"{where}: JSON nested deeper than {MAX_DEPTH}"
            stack.append([first == "{", None if first == "{" else 0])
        elif first in "]}":
            if stack:
                stack.pop()
        elif len(token.lstrip("-")) > MAX_NUMBER_DIGITS:
            where = _field([s[1] for s in stack if s[1] is not None])
            return f"{where}: number longer than {MAX_NUMBER_DIGITS} digits"
    return None


def _bounded_shape(text: str) -> None:
    """Refuse deep nesting and huge numbers before any parser sees them (linear, in C)."""
    bare = _STRING.sub('""', text)
    brackets = _NOT_BRACKET.sub("", bare)
    for _ in range(MAX_DEPTH):
        if not brackets:
            break
        brackets = _EMPTY_PAIR.sub("", brackets)
    if brackets or _LONG_NUMBER.search(bare):
        problem = _locate(text)
        if problem:
            raise WebhookRejected(400, problem)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(body: bytes) -> dict[str, Any]:
    """The body as a JSON object: UTF-8 (a byte-order mark is allowed), bounded in shape."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise WebhookRejected(400, f"body is not UTF-8 (byte {exc.start})") from None
    _bounded_shape(text)
    try:
        payload = json.loads(text, parse_constant=_no_constant)
    except ValueError as exc:
        raise WebhookRejected(400, f"body is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise WebhookRejected(400, "body is not a JSON object")
    return payload


M = TypeVar("M", bound=BaseModel)


def _validate(model: type[M], payload: dict[str, Any]) -> M:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        raise WebhookRejected(400, f"{_field(first['loc'])}: {first['msg']}") from None


def _delivery(header: str, value: str | None) -> str | None:
    if value is None:
        return None
    if len(value) > MAX_DELIVERY_ID or not _DELIVERY.fullmatch(value):
        raise WebhookRejected(
            400, f"{header}: not a delivery id (1 to {MAX_DELIVERY_ID} printable characters)"
        )
    return value


def _deleted(sha: str) -> bool:
    return not sha.strip("0")


def _shown(value: str | None) -> str:
    """A header value quoted for a message, short and printable."""
    text = repr(value)
    return text if len(text) <= 66 else text[:63] + "..."


def collect_paths(
    commits: Sequence[Commit], total: int | None = None, listed_at_most: int | None = None
) -> tuple[tuple[str, ...], str | None]:
    """Every path the commits added, modified or removed, or why they are not known.

    Unknown when the payload lists no commit, fewer commits than ``total`` (GitLab sends the
    newest 20), as many as the forge ever lists (``listed_at_most``), a commit without any
    file (GitHub leaves the lists empty for a commit too large to list), or more paths than
    one event carries.
    """
    if not commits:
        return (), f"{PATHS_UNKNOWN}: the payload lists no commits"
    if total is not None and total > len(commits):
        return (), f"{PATHS_UNKNOWN}: the payload lists {len(commits)} of {total} commits"
    if listed_at_most is not None and len(commits) >= listed_at_most:
        return (), f"{PATHS_UNKNOWN}: the payload lists {len(commits)} commits, the forge's most"
    found: set[str] = set()
    for index, commit in enumerate(commits):
        files = (*commit.added, *commit.modified, *commit.removed)
        if not files:
            return (), f"{PATHS_UNKNOWN}: commits[{index}] lists no files"
        found.update(files)
    paths = tuple(sorted(found))
    if sum(len(p.encode()) + 4 for p in paths) > MAX_EVENT_PATH_BYTES:
        return (), f"{PATHS_UNKNOWN}: {len(paths)} changed paths are more than one event carries"
    return paths, None


def github_merge(event: str | None, delivery: str | None, body: bytes) -> Merge:
    """A GitHub ``push`` to the default branch, or a merged ``pull_request`` (JSON body)."""
    delivery_id = _delivery("X-GitHub-Delivery", delivery)
    if not delivery_id:
        raise WebhookRejected(400, "missing X-GitHub-Delivery")
    if event == "ping":
        raise WebhookIgnored("ping")
    if event not in ("push", "pull_request"):
        raise WebhookIgnored(f"event {_shown(event)} is not a merge")
    payload = parse_json(body)
    if event == "push":
        push = _validate(GitHubPush, payload)
        default = push.repository.default_branch
        if push.deleted or _deleted(push.after):
            raise WebhookIgnored(f"{push.ref} deleted")
        if push.ref != f"refs/heads/{default}":
            raise WebhookIgnored(f"push to {push.ref}, not to {default}")
        paths, unknown = collect_paths(push.commits, listed_at_most=GITHUB_MAX_COMMITS)
        return Merge(
            repo=push.repository.full_name,
            sha=push.after,
            ref=push.ref,
            author=(push.pusher.name if push.pusher else None) or "unknown",
            changed_paths=paths,
            paths_unknown=unknown,
            delivery=delivery_id,
            clone_url=push.repository.clone_url,
        )
    pull = _validate(GitHubPullRequest, payload)
    default = pull.repository.default_branch
    if pull.action != "closed" or not pull.pull_request.merged:
        raise WebhookIgnored("pull request not merged")
    if pull.pull_request.base.ref != default:
        raise WebhookIgnored(f"merged into {pull.pull_request.base.ref}, not into {default}")
    sha = pull.pull_request.merge_commit_sha
    if sha is None:
        raise WebhookRejected(400, "pull_request.merge_commit_sha: missing for a merged pull")
    merged_by = pull.pull_request.merged_by
    return Merge(
        repo=pull.repository.full_name,
        sha=sha,
        ref=f"refs/heads/{default}",
        author=(merged_by.login if merged_by else None) or "unknown",
        changed_paths=(),
        paths_unknown=f"{PATHS_UNKNOWN}: a merged pull request lists no files",
        delivery=delivery_id,
        clone_url=pull.repository.clone_url,
    )


def gitlab_delivery(idempotency_key: str | None, event_uuid: str | None, body: bytes) -> str:
    """GitLab's delivery id: ``Idempotency-Key`` (the same on every resend), else the event
    UUID with the body's hash (recursive hooks share one event UUID across different
    events), else the body's hash."""
    key = _delivery("Idempotency-Key", idempotency_key)
    if key:
        return key
    digest = hashlib.sha256(body).hexdigest()
    event = _delivery("X-Gitlab-Event-UUID", event_uuid)
    return f"{event}+{digest}" if event else digest


def gitlab_merge(body: bytes, delivery: str) -> Merge:
    """A GitLab push to the default branch, or a merged merge request."""
    payload = parse_json(body)
    kind = _validate(GitLabKind, payload).object_kind
    if kind == "push":
        push = _validate(GitLabPush, payload)
        default = push.project.default_branch
        if _deleted(push.after):
            raise WebhookIgnored(f"{push.ref} deleted")
        if default is None:
            raise WebhookIgnored("the project has no default branch yet")
        if push.ref != f"refs/heads/{default}":
            raise WebhookIgnored(f"push to {push.ref}, not to {default}")
        paths, unknown = collect_paths(push.commits, total=push.total_commits_count)
        return Merge(
            repo=push.project.path_with_namespace,
            sha=push.checkout_sha or push.after,
            ref=push.ref,
            author=push.user_username or "unknown",
            changed_paths=paths,
            paths_unknown=unknown,
            delivery=delivery,
            clone_url=push.project.git_http_url,
        )
    if kind == "merge_request":
        request = _validate(GitLabMergeRequest, payload)
        attrs = request.object_attributes
        default = request.project.default_branch
        if attrs.action != "merge" or attrs.target_branch != default:
            raise WebhookIgnored("merge request not merged into the default branch")
        last = attrs.last_commit.id if attrs.last_commit else None
        sha = attrs.merge_commit_sha or attrs.squash_commit_sha or last
        if sha is None:
            raise WebhookRejected(
                400, "object_attributes.merge_commit_sha: missing for a merged merge request"
            )
        return Merge(
            repo=request.project.path_with_namespace,
            sha=sha,
            ref=f"refs/heads/{default}",
            author=(request.user.username if request.user else None) or "unknown",
            changed_paths=(),
            paths_unknown=f"{PATHS_UNKNOWN}: a merged merge request lists no files",
            delivery=delivery,
            clone_url=request.project.git_http_url,
        )
    raise WebhookIgnored(f"GitLab {_shown(kind)} event is not a merge")


def generic_merge(delivery: str | None, body: bytes) -> Merge:
    """``{"repo", "sha", "ref", "author", "changed_paths", "clone_url"}`` from any CI system."""
    request = _validate(GenericMerge, parse_json(body))
    if _deleted(request.sha):
        raise WebhookIgnored(f"{request.ref} deleted")
    paths: tuple[str, ...] = tuple(sorted(set(request.changed_paths or ())))
    unknown = None
    if not paths:
        unknown = f"{PATHS_UNKNOWN}: the request names no changed paths"
    elif sum(len(p.encode()) + 4 for p in paths) > MAX_EVENT_PATH_BYTES:
        paths, unknown = (
            (),
            f"{PATHS_UNKNOWN}: {len(paths)} changed paths are more than one event carries",
        )
    return Merge(
        repo=request.repo,
        sha=request.sha,
        ref=request.ref,
        author=request.author,
        changed_paths=paths,
        paths_unknown=unknown,
        delivery=_delivery("X-Delivery-Id", delivery) or hashlib.sha256(body).hexdigest(),
        clone_url=request.clone_url,
    )


def merge_event(merge: Merge, occurred: str) -> dict[str, Any]:
    """The Prefect event for a merge (the JSON ``POST /api/events`` takes).

    ``changed_paths`` is null when the paths are unknown (the release then takes every
    service), and ``paths_unknown`` says why.
    """
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
            "changed_paths": None if merge.paths_unknown else list(merge.changed_paths),
            "paths_unknown": merge.paths_unknown,
            "delivery": merge.delivery,
            "clone_url": merge.clone_url,
        },
    }


def encode_event(event: dict[str, Any]) -> bytes:
    """The event as the UTF-8 JSON bytes the outbox stores and the sender posts unchanged;
    refused here (400, before the 202) if it cannot be."""
    try:
        return json.dumps(event, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode(
            "utf-8"
        )
    except (TypeError, ValueError) as exc:
        raise WebhookRejected(400, f"the event cannot be serialised: {exc}") from None


SendOutcome = Literal["delivered", "refused", "unavailable"]


def classify_send(status: int | None, prefect_healthy: bool) -> SendOutcome:
    """What one ``POST /events`` answer means for the events it carried.

    delivered: 2xx. refused (the events' own fault; counts toward the dead-letter limit):
    400, 413 or 422, or a 5xx while Prefect is otherwise healthy. unavailable (Prefect's or
    the configuration's fault; never counts): no answer, any other 4xx (401, 403, 404, 408,
    429, …) and a 5xx while Prefect is not known to be healthy.
    """
    if status is None:
        return "unavailable"
    if 200 <= status < 300:
        return "delivered"
    if status in (400, 413, 422):
        return "refused"
    if status >= 500 and prefect_healthy:
        return "refused"
    return "unavailable"
