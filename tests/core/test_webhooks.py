"""What counts as a merge, on the forges' own payload examples (tests/core/data/webhooks),
and every malformed body a 400 that names the field."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from shipflow.core.webhooks import (
    Merge,
    classify_send,
    encode_event,
    generic_merge,
    github_merge,
    gitlab_delivery,
    gitlab_merge,
    merge_event,
)
from shipflow.errors import WebhookIgnored, WebhookRejected

DATA = Path(__file__).parent / "data" / "webhooks"
SHA = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"


def real(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text())


def body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def github(event: str, payload: dict[str, Any] | bytes) -> Merge:
    raw = payload if isinstance(payload, bytes) else body(payload)
    return github_merge(event, "72d3162e-cc78-11e3-81ab-4c9367dc0958", raw)


def merged_pull() -> dict[str, Any]:
    pull = real("github/pull_request.closed.json")
    pull["pull_request"]["merged"] = True
    pull["pull_request"]["merged_by"] = {"login": "octocat"}
    return pull


@pytest.mark.parametrize(
    ("name", "event", "reason"),
    [
        ("github/ping.json", "ping", "ping"),
        ("github/push.json", "push", "refs/tags/simple-tag deleted"),
        ("github/pull_request.closed.json", "pull_request", "pull request not merged"),
        ("github/pull_request.opened.json", "pull_request", "pull request not merged"),
        ("github/pull_request.synchronize.json", "pull_request", "pull request not merged"),
        ("github/push.with-new-branch.json", "issues", "event 'issues' is not a merge"),
    ],
)
def test_github_examples_that_are_not_merges_are_ignored(
    name: str, event: str, reason: str
) -> None:
    with pytest.raises(WebhookIgnored, match=reason):
        github(event, real(name))


def test_a_github_push_to_the_default_branch_is_a_merge_with_its_paths() -> None:
    merge = github("push", real("github/push.with-new-branch.json"))
    assert (merge.repo, merge.sha, merge.ref) == (
        "Codertocat/Hello-World",
        SHA,
        "refs/heads/master",
    )
    assert merge.author == "Codertocat"
    assert merge.changed_paths == ("README.md",)
    assert merge.paths_unknown is None
    event = merge_event(merge, "2024-01-01T00:00:00+00:00")
    assert event["payload"]["changed_paths"] == ["README.md"]
    assert event["payload"]["paths_unknown"] is None


def test_deleting_the_default_branch_never_releases() -> None:
    push = real("github/push.json")  # GitHub's own deletion example, on the default branch
    push["ref"] = "refs/heads/master"
    with pytest.raises(WebhookIgnored, match="refs/heads/master deleted"):
        github("push", push)
    push["deleted"] = False  # an all-zero `after` alone is a deletion too
    with pytest.raises(WebhookIgnored, match="deleted"):
        github("push", push)


def test_a_merged_pull_request_releases_with_paths_unknown() -> None:
    merge = github("pull_request", merged_pull())
    assert merge.sha == "c4295bd74fb0f4fda03689c3df3f2803b658fd85"
    assert merge.author == "octocat"
    assert merge.changed_paths == ()
    assert merge.paths_unknown == "paths unknown: a merged pull request lists no files"
    event = merge_event(merge, "2024-01-01T00:00:00+00:00")
    assert event["payload"]["changed_paths"] is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda p: p.update(commits=[]), "the payload lists no commits"),
        (
            lambda p: p["commits"][0].update(added=[], modified=[], removed=[]),
            "commits[0] lists no files",
        ),
        (
            lambda p: p.update(commits=[copy.deepcopy(p["commits"][0]) for _ in range(2048)]),
            "the payload lists 2048 commits, the forge's most",
        ),
        (
            lambda p: p["commits"][0].update(
                added=[f"svc/{i:06d}/" + "x" * 200 for i in range(3000)]
            ),
            "3000 changed paths are more than one event carries",
        ),
    ],
)
def test_github_pushes_whose_paths_are_not_all_listed_say_paths_unknown(
    change: Any, reason: str
) -> None:
    push = real("github/push.with-new-branch.json")
    change(push)
    merge = github("push", push)
    assert merge.changed_paths == ()
    assert merge.paths_unknown == f"paths unknown: {reason}"


def poison_path(p: dict[str, Any]) -> None:
    p["commits"][0]["added"] = ["services/web/\udc80.txt"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda p: p.update(repository="shop/web"), "repository: Input should be a valid dict"),
        (lambda p: p.update(repository=["shop/web"]), "repository: Input should be a valid dict"),
        (lambda p: p.update(pusher="alice"), "pusher: Input should be a valid dict"),
        (lambda p: p.update(commits=3), "commits: Input should be a valid list"),
        (lambda p: p["commits"][0].update(added=7), "commits[0].added: Input should be a valid"),
        (lambda p: p["commits"][0].update(added=[7]), "commits[0].added[0]: Input should be"),
        (lambda p: p.update(deleted="false"), "deleted: Input should be a valid boolean"),
        (lambda p: p.update(after="nan"), "after: Value error, not a commit sha"),
        (lambda p: p.update(after="a" * 39), "after: Value error, not a commit sha"),
        (lambda p: p.update(after=1234), "after: Input should be a valid string"),
        (lambda p: p["repository"].pop("full_name"), "repository.full_name: Field required"),
        (lambda p: p["repository"].update(full_name=""), "repository.full_name: String should"),
        (poison_path, "commits[0].added[0]: Input should be a valid string"),
    ],
)
def test_a_github_push_of_the_wrong_shape_is_a_400_naming_the_field(
    change: Any, reason: str
) -> None:
    push = real("github/push.with-new-branch.json")
    change(push)
    with pytest.raises(WebhookRejected) as refused:
        github("push", push)
    assert refused.value.status == 400
    assert refused.value.reason.startswith(reason), refused.value.reason


def test_a_64_character_sha_is_a_commit_too() -> None:
    push = real("github/push.with-new-branch.json")
    push["after"] = "AB" * 32
    assert github("push", push).sha == "ab" * 32


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (
            b'{"ref": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
            "ref[0][0][0]...: JSON nested deeper than 32",
        ),
        (
            b'{"commits": [{"x": ' + b"{" * 40 + b"}" * 40 + b"}]}",
            "commits[0].x",
        ),
        (b'{"size": ' + b"7" * 5_000 + b"}", "size: number longer than 40 digits"),
        (b'{"ids": [1, -' + b"7" * 5_000 + b"]}", "ids[1]: number longer than 40 digits"),
        (b'{"after": NaN}', "body is not JSON: NaN is not JSON"),
        (b'{"after": Infinity}', "body is not JSON: Infinity is not JSON"),
        (b'\xff\xfe{\x00"\x00}\x00', "body is not UTF-8 (byte 0)"),
        (b'{"ref": "\xc3"}', "body is not UTF-8"),
        (b'["not", "an", "object"]', "body is not a JSON object"),
        (b'{"ref": "refs/heads/main"', "body is not JSON"),
        (b"", "body is not JSON"),
        (b"[" * 40, "JSON nested deeper than 32"),
    ],
)
def test_bodies_bounded_before_parsing_are_a_400(raw: bytes, reason: str) -> None:
    with pytest.raises(WebhookRejected) as refused:
        github("push", raw)
    assert refused.value.status == 400
    assert reason in refused.value.reason


def test_a_utf8_byte_order_mark_is_accepted() -> None:
    raw = b"\xef\xbb\xbf" + body(real("github/push.with-new-branch.json"))
    assert github("push", raw).sha == SHA


def test_text_that_looks_deep_or_long_inside_strings_is_fine() -> None:
    push = real("github/push.with-new-branch.json")
    push["head_commit"]["message"] = "[" * 500 + "9" * 500
    assert github("push", push).sha == SHA


@pytest.mark.parametrize("delivery", [None, "", "x" * 300, "a b", "é"])
def test_a_github_delivery_id_is_required_and_printable(delivery: str | None) -> None:
    with pytest.raises(WebhookRejected) as refused:
        github_merge("push", delivery, body(real("github/push.with-new-branch.json")))
    assert refused.value.status == 400
    assert "X-GitHub-Delivery" in refused.value.reason


# GitLab


def gitlab_push(**changes: Any) -> dict[str, Any]:
    push = real("gitlab/push.json")
    push.update(changes)
    return push


def test_the_gitlab_push_example_lists_2_of_4_commits_so_paths_are_unknown() -> None:
    merge = gitlab_merge(body(real("gitlab/push.json")), "k")
    assert (merge.repo, merge.sha, merge.author) == (
        "mike/diaspora",
        "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
        "jsmith",
    )
    assert merge.paths_unknown == "paths unknown: the payload lists 2 of 4 commits"


def test_a_gitlab_push_listing_every_commit_has_its_paths() -> None:
    merge = gitlab_merge(body(gitlab_push(total_commits_count=2)), "k")
    assert merge.changed_paths == ("CHANGELOG", "app/controller/application.rb")
    assert merge.paths_unknown is None


def test_25_commits_with_20_listed_means_paths_unknown() -> None:
    push = gitlab_push(total_commits_count=25)
    push["commits"] = [copy.deepcopy(push["commits"][0]) for _ in range(20)]
    merge = gitlab_merge(body(push), "k")
    assert merge.paths_unknown == "paths unknown: the payload lists 20 of 25 commits"
    assert merge_event(merge, "t")["payload"]["changed_paths"] is None


def test_deleting_the_gitlab_default_branch_never_releases() -> None:
    push = gitlab_push(after="0" * 40, checkout_sha=None, commits=[], total_commits_count=0)
    with pytest.raises(WebhookIgnored, match="refs/heads/master deleted"):
        gitlab_merge(body(push), "k")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("gitlab/tag_push.json", "GitLab 'tag_push' event is not a merge"),
        ("gitlab/merge_request.json", "merge request not merged into the default branch"),
    ],
)
def test_gitlab_examples_that_are_not_merges_are_ignored(name: str, reason: str) -> None:
    with pytest.raises(WebhookIgnored, match=reason):
        gitlab_merge(body(real(name)), "k")


def test_a_merged_gitlab_merge_request_releases_its_merge_commit_with_paths_unknown() -> None:
    request = real("gitlab/merge_request.json")
    request["object_attributes"].update(action="merge", merge_commit_sha="b" * 40)
    merge = gitlab_merge(body(request), "k")
    assert (merge.repo, merge.sha, merge.author) == ("gitlabhq/gitlab-test", "b" * 40, "root")
    assert merge.paths_unknown == "paths unknown: a merged merge request lists no files"
    del request["object_attributes"]["merge_commit_sha"]  # fast-forward: the last commit
    assert gitlab_merge(body(request), "k").sha == "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (gitlab_push(project="mike/diaspora"), "project: Input should be a valid dict"),
        (gitlab_push(total_commits_count="4"), "total_commits_count: Input should be a valid int"),
        (gitlab_push(total_commits_count=-1), "total_commits_count: Input should be greater"),
        (gitlab_push(commits={"added": []}), "commits: Input should be a valid list"),
        (gitlab_push(checkout_sha=12), "checkout_sha: Input should be a valid string"),
        (gitlab_push(object_kind=["push"]), "object_kind: Input should be a valid string"),
    ],
)
def test_a_gitlab_payload_of_the_wrong_shape_is_a_400_naming_the_field(
    payload: dict[str, Any], reason: str
) -> None:
    with pytest.raises(WebhookRejected) as refused:
        gitlab_merge(body(payload), "k")
    assert refused.value.status == 400
    assert refused.value.reason.startswith(reason), refused.value.reason


def test_gitlab_delivery_ids() -> None:
    raw = body(real("gitlab/push.json"))
    # A resend keeps its Idempotency-Key and gets a new event UUID: the same delivery.
    assert gitlab_delivery("k-1", "uuid-1", raw) == gitlab_delivery("k-1", "uuid-2", raw)
    # Recursive hooks share one event UUID: different bodies, different deliveries.
    other = body(gitlab_push(checkout_sha="c" * 40))
    assert gitlab_delivery(None, "uuid-1", raw) != gitlab_delivery(None, "uuid-1", other)
    assert gitlab_delivery(None, "uuid-1", raw) == gitlab_delivery(None, "uuid-1", raw)
    assert gitlab_delivery(None, None, raw) != gitlab_delivery(None, None, other)
    with pytest.raises(WebhookRejected, match="Idempotency-Key"):
        gitlab_delivery("x" * 1000, None, raw)


# Generic


@pytest.mark.parametrize(
    ("payload", "paths", "unknown"),
    [
        ({"changed_paths": ["b", "a", "b"]}, ("a", "b"), None),
        ({}, (), "paths unknown: the request names no changed paths"),
        ({"changed_paths": []}, (), "paths unknown: the request names no changed paths"),
    ],
)
def test_generic_merges(
    payload: dict[str, Any], paths: tuple[str, ...], unknown: str | None
) -> None:
    raw = body({"repo": "shop/web", "sha": "c" * 40, "ref": "refs/heads/main", **payload})
    merge = generic_merge(None, raw)
    assert (merge.changed_paths, merge.paths_unknown) == (paths, unknown)
    assert merge.author == "unknown"
    assert len(merge.delivery) == 64  # the body's hash, without a delivery header


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"sha": float("nan")}, "body is not JSON: NaN is not JSON"),
        ({"sha": "nan"}, "sha: Value error, not a commit sha"),
        ({"repo": None}, "repo: Input should be a valid string"),
        ({"changed_paths": "services/web"}, "changed_paths: Input should be a valid list"),
        ({"author": {"name": "x"}}, "author: Input should be a valid string"),
    ],
)
def test_a_generic_request_of_the_wrong_shape_is_a_400(
    payload: dict[str, Any], reason: str
) -> None:
    raw = json.dumps({"repo": "shop/web", "sha": "c" * 40, "ref": "r", **payload}).encode()
    with pytest.raises(WebhookRejected) as refused:
        generic_merge(None, raw)
    assert refused.value.reason.startswith(reason), refused.value.reason


def test_a_generic_branch_deletion_is_ignored() -> None:
    raw = body({"repo": "shop/web", "sha": "0" * 40, "ref": "refs/heads/main"})
    with pytest.raises(WebhookIgnored, match="deleted"):
        generic_merge(None, raw)


def test_the_event_is_serialised_once_as_utf8_json() -> None:
    merge = github("push", real("github/push.with-new-branch.json"))
    encoded = encode_event(merge_event(merge, "t"))
    assert json.loads(encoded)["id"] == str(merge.event_id)
    with pytest.raises(WebhookRejected, match="cannot be serialised"):
        encode_event({"path": "services/web/\udc80.txt"})
    with pytest.raises(WebhookRejected, match="cannot be serialised"):
        encode_event({"n": float("nan")})


@pytest.mark.parametrize(
    ("status", "healthy", "outcome"),
    [
        (200, False, "delivered"),
        (204, False, "delivered"),
        (None, True, "unavailable"),
        (400, False, "refused"),
        (413, False, "refused"),
        (422, False, "refused"),
        (401, True, "unavailable"),
        (403, True, "unavailable"),
        (404, True, "unavailable"),
        (429, True, "unavailable"),
        (500, False, "unavailable"),
        (503, False, "unavailable"),
        (500, True, "refused"),
    ],
)
def test_what_a_send_answer_means(status: int | None, healthy: bool, outcome: str) -> None:
    assert classify_send(status, prefect_healthy=healthy) == outcome


def test_the_event_carries_where_a_worker_fetches_the_commit() -> None:
    """Each forge's own example names the repository's clone URL; the event passes it on."""
    push = github("push", real("github/push.with-new-branch.json"))
    assert push.clone_url == "https://github.com/Codertocat/Hello-World.git"
    assert github("pull_request", merged_pull()).clone_url == push.clone_url
    lab = gitlab_merge(body(real("gitlab/push.json")), "k")
    assert lab.clone_url == "http://example.com/mike/diaspora.git"
    generic = generic_merge(
        None,
        body({"repo": "a/b", "sha": SHA, "ref": "refs/heads/main", "clone_url": "git@h:a/b.git"}),
    )
    assert generic.clone_url == "git@h:a/b.git"
    event = merge_event(push, "2024-01-01T00:00:00+00:00")
    assert event["payload"]["clone_url"] == "https://github.com/Codertocat/Hello-World.git"
