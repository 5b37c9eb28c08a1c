"""Property: whatever a correctly signed body holds, the receiver answers without a 5xx, every
event it accepts is taken by Prefect, and a normal merge still reaches Prefect afterwards.

Bodies start from the forges' own payload examples (tests/core/data/webhooks) with parts
replaced by hostile values: wrong types, deep nesting, huge integers, NaN, lone surrogates,
odd encodings, form encoding. Each is signed (or carries the token) as the forge would.
"""

from __future__ import annotations

import copy
import json
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipflow.adapters.waiting import poll_until
from tests.deployments.test_webhook import merged_events
from tests.harness.webhooks import Receiver, post_github, push, sign

DATA = Path(__file__).parents[1] / "core" / "data" / "webhooks"


def load(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text())


def merged_pull() -> dict[str, Any]:
    pull = load("github/pull_request.closed.json")
    pull["pull_request"]["merged"] = True
    return pull


def gitlab_merge_request() -> dict[str, Any]:
    request = load("gitlab/merge_request.json")
    request["object_attributes"]["action"] = "merge"
    return request


# (endpoint, event header, payload): merges and non-merges from the forges' examples.
SHAPES: list[tuple[str, str, dict[str, Any]]] = [
    ("github", "push", load("github/push.with-new-branch.json")),
    ("github", "push", load("github/push.json")),
    ("github", "pull_request", merged_pull()),
    ("github", "pull_request", load("github/pull_request.opened.json")),
    ("github", "ping", load("github/ping.json")),
    ("gitlab", "Push Hook", dict(load("gitlab/push.json"), total_commits_count=2)),
    ("gitlab", "Push Hook", load("gitlab/push.json")),
    ("gitlab", "Merge Request Hook", gitlab_merge_request()),
    ("gitlab", "Tag Push Hook", load("gitlab/tag_push.json")),
    (
        "generic",
        "",
        {"repo": "shop/web", "sha": "c" * 40, "ref": "refs/heads/main", "changed_paths": ["a"]},
    ),
]


def paths(value: Any, prefix: tuple[Any, ...] = (), depth: int = 4) -> list[tuple[Any, ...]]:
    """Every place in a payload a value can be replaced (down to ``depth``)."""
    found = [prefix] if prefix else []
    if depth == 0:
        return found
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key), depth - 1)
    elif isinstance(value, list):
        for index, item in enumerate(value[:2]):
            found += paths(item, (*prefix, index), depth - 1)
    return found


class Raw:
    """JSON text put into the body as is: what json.dumps would never write."""

    def __init__(self, text: str) -> None:
        self.text = text


surrogates = st.text(st.characters(categories=["Cs"]), min_size=1, max_size=3)
texts = st.one_of(
    st.text(max_size=30),
    st.builds(lambda a, b: a + b, st.text(max_size=10), surrogates),
    st.sampled_from(["", "0" * 40, "nan", "refs/heads/master", "refs/heads/main", "a" * 5000]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**60), max_value=10**60),
    st.floats(allow_nan=True, allow_infinity=True),
    texts,
)
junk = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
raw = st.one_of(
    st.integers(min_value=30, max_value=5000).map(lambda n: Raw("[" * n + "]" * n)),
    st.integers(min_value=30, max_value=5000).map(lambda n: Raw('{"a":' * n + "1" + "}" * n)),
    st.integers(min_value=35, max_value=6000).map(lambda n: Raw("9" * n)),
    st.sampled_from([Raw("NaN"), Raw("-Infinity"), Raw('"\\udc80"'), Raw("1e999")]),
)
DELETE = object()


@st.composite
def bodies(draw: st.DrawFn) -> tuple[str, str, bytes, str]:
    """(endpoint, event header, body bytes, content type)."""
    endpoint, event, base = draw(st.sampled_from(SHAPES))
    payload = copy.deepcopy(base)
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        where = draw(st.sampled_from(paths(payload)))
        value = draw(st.one_of(junk, raw, st.just(DELETE)))
        parent = payload
        for part in where[:-1]:
            parent = parent[part]
        if value is DELETE:
            del parent[where[-1]]
        else:
            parent[where[-1]] = value
    raws: dict[str, str] = {}

    def placeholder(value: Any) -> Any:
        if isinstance(value, Raw):
            key = f"@@raw{len(raws)}@@"
            raws[key] = value.text
            return key
        raise TypeError

    text = json.dumps(payload, default=placeholder)
    for key, value in raws.items():
        text = text.replace(f'"{key}"', value)
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-8-sig", "utf-16", "bad"]))
    # "bad": UTF-8 with stray bytes after it.
    bad = encoding == "bad"
    raw_body = text.encode("utf-8") + b"\xff\xc3" if bad else text.encode(encoding)
    content_type = "application/json"
    if endpoint == "github" and draw(st.booleans()):
        content_type = "application/x-www-form-urlencoded"
        raw_body = urllib.parse.urlencode({"payload": raw_body}).encode()
    return endpoint, event, raw_body, content_type


def send(client: httpx.Client, receiver: Receiver, case: tuple[str, str, bytes, str]) -> int:
    endpoint, event, body, content_type = case
    headers = {"Content-Type": content_type}
    if endpoint == "github":
        headers |= {
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": sign(body),
        }
    elif endpoint == "gitlab":
        headers |= {
            "X-Gitlab-Event": event,
            "X-Gitlab-Token": "gl-token-123",
            "X-Gitlab-Event-UUID": str(uuid.uuid4()),
        }
    else:
        headers |= {"X-Signature-256": sign(body, "generic-s3cret")}
    response = client.post(f"{receiver.url}/hooks/{endpoint}", content=body, headers=headers)
    return response.status_code


def test_no_signed_body_gets_a_5xx_and_merges_still_reach_prefect(receiver: Receiver) -> None:
    answered: dict[int, int] = {}
    with httpx.Client(timeout=30) as client:

        @settings(
            max_examples=300,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(case=bodies())
        def no_5xx(case: tuple[str, str, bytes, str]) -> None:
            status = send(client, receiver, case)
            answered[status] = answered.get(status, 0) + 1
            assert status < 500, case

        no_5xx()
    print(f"answers by status: {dict(sorted(answered.items()))}")
    # Both sides were exercised: refusals, and merges accepted (they went to Prefect).
    assert answered.get(400, 0) > 0
    assert answered.get(202, 0) > 0
    # Every accepted event was taken by Prefect: the outbox drains, nothing is dead.
    drained = poll_until(
        lambda: (h := httpx.get(f"{receiver.url}/healthz").json())["outbox"]["depth"] == 0 and h,
        timeout=60,
        interval=0.5,
    )
    assert (drained["status"], drained["dead_letters"]) == ("ok", 0)
    repo = f"shop/web-{uuid.uuid4().hex[:6]}"
    body = push(repo, sha="7" * 40)
    assert post_github(receiver, body, sign(body)).status_code == 202
    assert [e["payload"]["sha"] for e in merged_events(receiver, repo, 1, 15)] == ["7" * 40]
