"""Diagnose checks: each finds its planted problem, with cause, evidence and a safe fix, and
says nothing about a healthy setup."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import UTC, datetime

import pytest

from shipflow.core.diagnosis import (
    HelmRelease,
    LockInfo,
    decode_helm_release,
    dockerfile_findings,
    helm_findings,
    parse_lock_record,
    rollout_findings,
    state_lock_finding,
)

NOW = datetime(2026, 11, 26, 12, 30, tzinfo=UTC)
# The record Terraform 1.11 writes into <key>.tflock (and DynamoDB's Info).
RECORD = json.dumps(
    {
        "ID": "5c1a7a57-8a8e-4b1e-bd8a-1f2c3d4e5f60",
        "Operation": "OperationTypeApply",
        "Info": "",
        "Who": "alice@laptop",
        "Version": "1.11.4",
        "Created": "2026-11-26T10:00:00.123456789Z",
        "Path": "tfstate-x/app/terraform.tfstate",
    }
)


@pytest.mark.parametrize(
    ("text", "lock_id"),
    [(RECORD, "5c1a7a57-8a8e-4b1e-bd8a-1f2c3d4e5f60"), ("not json", None), ("[]", None)],
)
def test_parse_lock_record(text: str, lock_id: str | None) -> None:
    lock = parse_lock_record(text)
    assert (lock.id if lock else None) == lock_id


@pytest.mark.parametrize(
    ("running", "severity", "unlock_offered", "said"),
    [
        ([], "problem", True, "no shipflow apply of this stack is running"),
        (None, "problem", True, "make sure no apply of this stack is running"),
        (["flow run brave-otter (Running)"], "warning", False, "wait for the run to finish"),
    ],
)
def test_state_lock(
    running: list[str] | None, severity: str, unlock_offered: bool, said: str
) -> None:
    lock = parse_lock_record(RECORD)
    finding = state_lock_finding("stacks/app", lock, running, NOW)
    assert finding is not None
    assert finding.severity == severity
    text = finding.cause + finding.fix
    assert said in text
    unlock = "terraform -chdir=stacks/app force-unlock -force 5c1a7a57-8a8e-4b1e-bd8a-1f2c3d4e5f60"
    assert (unlock in finding.fix) is unlock_offered
    assert "alice@laptop" in finding.evidence[0]
    assert "(2 h 29 min ago)" in finding.evidence[0]


def test_no_lock_no_finding() -> None:
    assert state_lock_finding("stacks/app", None, [], NOW) is None


def test_lock_with_only_an_id() -> None:
    finding = state_lock_finding("s", LockInfo(id="abc"), [], NOW)
    assert finding is not None
    assert "held by unknown" in finding.evidence[0]


CACHE_BUSTING = """\
FROM node:22-bookworm-slim
WORKDIR /app
# sources first: every change reinstalls everything
COPY . .
RUN npm ci \\
    --omit=dev
CMD ["node", "server.js"]
"""

GOOD_NODE = """\
# syntax=docker/dockerfile:1
FROM node:22-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev
FROM node:22-bookworm-slim
COPY --from=deps /app/node_modules ./node_modules
COPY . .
CMD ["node", "server.js"]
"""

PY_NO_MOUNT = """\
FROM python:3.12-slim
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY src ./src
"""

GO_BUSTING = """\
FROM golang:1.23 AS build
WORKDIR /src
COPY ./ ./
RUN go mod download
RUN go build -o /app ./cmd/app
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (CACHE_BUSTING, [("docker-cache-busting", 5), ("docker-no-cache-mount", 5)]),
        (GOOD_NODE, []),
        (PY_NO_MOUNT, [("docker-no-cache-mount", 3)]),
        (GO_BUSTING, [("docker-cache-busting", 4), ("docker-no-cache-mount", 4)]),
        ("FROM scratch\nCOPY app /app\n", []),
    ],
)
def test_dockerfile(text: str, expected: list[tuple[str, int]]) -> None:
    found = dockerfile_findings("Dockerfile", text)
    assert [(f.check, int(f.subject.rsplit(":", 1)[1])) for f in found] == expected


def test_cache_busting_evidence_names_both_lines() -> None:
    (busting, _) = dockerfile_findings("Dockerfile", CACHE_BUSTING)
    assert busting.evidence == ("line 4: COPY . .", "line 5: RUN npm ci --omit=dev")
    assert "package.json" in busting.fix


def _helm_secret_data(name: str, revision: int, status: str) -> str:
    """What Helm 3 stores: base64(gzip(JSON)), which the API then base64-encodes again."""
    release = {
        "name": name,
        "namespace": "shop",
        "version": revision,
        "info": {"status": status, "last_deployed": "2026-11-26T10:00:00Z"},
        "chart": {"metadata": {"name": "web", "version": "1.2.0"}},
    }
    helm = base64.b64encode(gzip.compress(json.dumps(release).encode()))
    return base64.b64encode(helm).decode()


def test_decode_helm_release() -> None:
    release = decode_helm_release(_helm_secret_data("web", 3, "pending-upgrade"))
    assert release == HelmRelease(
        name="web",
        namespace="shop",
        revision=3,
        status="pending-upgrade",
        chart="web-1.2.0",
        updated="2026-11-26T10:00:00Z",
    )
    assert decode_helm_release("bm90IGhlbG0=") is None


def _release(revision: int, status: str, name: str = "web") -> HelmRelease:
    return HelmRelease(name=name, namespace="shop", revision=revision, status=status)


@pytest.mark.parametrize(
    ("releases", "fix"),
    [
        ([_release(1, "superseded"), _release(2, "deployed")], None),
        ([_release(1, "deployed"), _release(2, "pending-upgrade")], "helm rollback web 1 -n shop"),
        ([_release(1, "pending-install")], "helm uninstall web -n shop"),
        (
            [_release(1, "superseded"), _release(2, "deployed"), _release(3, "pending-rollback")],
            "helm rollback web 2 -n shop",
        ),
        # An old pending revision that a later one replaced is history, not a problem.
        ([_release(1, "pending-upgrade"), _release(2, "deployed")], None),
    ],
)
def test_helm_pending(releases: list[HelmRelease], fix: str | None) -> None:
    found = helm_findings(releases)
    if fix is None:
        assert found == []
    else:
        (finding,) = found
        assert fix in finding.fix
        assert "helm history web -n shop" in finding.fix


def _deployment(conditions: list[dict[str, str]]) -> dict[str, object]:
    return {
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"progressDeadlineSeconds": 120},
        "status": {
            "replicas": 3,
            "updatedReplicas": 1,
            "readyReplicas": 2,
            "conditions": conditions,
        },
    }


@pytest.mark.parametrize(
    ("conditions", "stuck"),
    [
        ([{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}], False),
        ([{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}], True),
        ([{"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"}], False),
        ([], False),
    ],
)
def test_stuck_rollout(conditions: list[dict[str, str]], stuck: bool) -> None:
    found = rollout_findings([_deployment(conditions)])
    assert bool(found) is stuck
    if stuck:
        assert "120 s" in found[0].cause
        assert "kubectl -n shop rollout undo deployment web" in found[0].fix
