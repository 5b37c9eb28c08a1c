"""Diagnose checks: each finds its planted problem, with cause, evidence and a safe fix, and
says nothing about a healthy setup."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import UTC, datetime

import pytest

from shipflow.core.analysis import Observation, Sample
from shipflow.core.diagnosis import (
    HelmRelease,
    LockInfo,
    canary_metrics_findings,
    crash_loop_findings,
    decode_helm_release,
    dockerfile_findings,
    helm_findings,
    parse_lock_record,
    pod_references,
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


# --- crash-looping pods ---------------------------------------------------------------------


def _pod(
    *,
    waiting: str = "CrashLoopBackOff",
    reason: str = "Error",
    exit_code: int = 1,
    container: dict[str, object] | None = None,
    volumes: list[dict[str, object]] | None = None,
    name: str = "web-canary-5d8f-abcde",
) -> dict[str, object]:
    spec = {"name": "web", "image": "registry.local/web:2", **(container or {})}
    state: dict[str, object] = (
        {"waiting": {"reason": waiting}} if waiting else {"running": {"startedAt": "2026-11-26"}}
    )
    return {
        "metadata": {
            "name": name,
            "namespace": "shop",
            "ownerReferences": [{"kind": "ReplicaSet", "name": "web-canary-5d8f"}],
        },
        "spec": {"containers": [spec], "volumes": volumes or []},
        "status": {
            "containerStatuses": [
                {
                    "name": "web",
                    "restartCount": 7,
                    "state": state,
                    "lastState": {"terminated": {"reason": reason, "exitCode": exit_code}},
                }
            ]
        },
    }


LIVENESS = {"livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}}}
ENV_FROM = {
    "envFrom": [{"configMapRef": {"name": "web-config"}}],
    "env": [
        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}},
        {"name": "API_TOKEN", "value": "s3cr3t-literal"},
    ],
}


def _event(reason: str, message: str, pod: str = "web-canary-5d8f-abcde") -> dict[str, object]:
    return {
        "involvedObject": {"kind": "Pod", "name": pod, "namespace": "shop"},
        "reason": reason,
        "message": message,
        "count": 4,
    }


PROBE_EVENTS = [
    _event("Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 503"),
    _event("Killing", "Container web failed liveness probe, will be restarted"),
]


@pytest.mark.parametrize(
    ("pod", "configmaps", "secrets", "events", "cause", "evidence", "fix"),
    [
        (
            _pod(exit_code=127),
            [],
            [],
            [],
            "keeps exiting (Error, exit code 127)",
            "exit code 127 (the command was not found",
            "kubectl -n shop logs web-canary-5d8f-abcde -c web --previous",
        ),
        (
            _pod(
                reason="OOMKilled",
                exit_code=137,
                container={"resources": {"limits": {"memory": "64Mi"}}},
            ),
            [],
            [],
            [],
            "more memory than its limit (OOMKilled)",
            "last termination OOMKilled, exit code 137",
            "raise resources.limits.memory of web (now 64Mi)",
        ),
        (
            _pod(container=ENV_FROM),
            ["other"],
            ["db"],
            [],
            "names ConfigMaps or Secrets that do not exist",
            "ConfigMap web-config (container web envFrom) does not exist in shop",
            "create ConfigMap web-config (kubectl -n shop create configmap web-config",
        ),
        (
            _pod(
                exit_code=137,
                volumes=[{"name": "conf", "configMap": {"name": "web-files", "optional": True}}],
            ),
            [],
            [],
            [],
            "names ConfigMaps or Secrets that do not exist",
            "ConfigMap web-files (volume conf) does not exist in shop (optional, so the pod "
            "started without it)",
            "or fix the name in the pod template",
        ),
        (
            _pod(exit_code=137, container=LIVENESS),
            [],
            [],
            PROBE_EVENTS,
            "kills the container for failing its probes",
            "event Unhealthy: Liveness probe failed: HTTP probe failed with statuscode: 503 "
            "(4 times)",
            "it has no startupProbe, so its livenessProbe kills it after about 30 s "
            "(failureThreshold 3 x periodSeconds 10): add a startupProbe",
        ),
        (
            _pod(
                exit_code=143,
                container={
                    **LIVENESS,
                    "startupProbe": {"httpGet": {"path": "/healthz"}, "failureThreshold": 6},
                },
            ),
            [],
            [],
            [_event("Unhealthy", "Startup probe failed: connect: connection refused")],
            "kills the container for failing its probes",
            "event Unhealthy: Startup probe failed",
            "its startupProbe gives up after 60 s (failureThreshold 6 x periodSeconds 10): if "
            "the app starts slower, raise startupProbe.failureThreshold",
        ),
    ],
)
def test_crash_loop(
    pod: dict[str, object],
    configmaps: list[str],
    secrets: list[str],
    events: list[dict[str, object]],
    cause: str,
    evidence: str,
    fix: str,
) -> None:
    (finding,) = crash_loop_findings([pod], configmaps, secrets, events)
    assert finding.check == "kubernetes-crash-loop"
    assert finding.subject == "shop/web-canary-5d8f container web"
    assert cause in finding.cause
    assert any(evidence in line for line in finding.evidence), finding.evidence
    assert "restarted 7 times" in finding.evidence[1]
    assert fix in finding.fix, finding.fix
    assert "s3cr3t-literal" not in finding.model_dump_json()  # names, never values


def test_crash_loop_groups_the_pods_of_one_replica_set() -> None:
    pods = [_pod(name=f"web-canary-5d8f-{i}") for i in range(7)]
    (finding,) = crash_loop_findings(pods, [], [])
    assert finding.evidence[0].startswith("7 pod(s) in CrashLoopBackOff: web-canary-5d8f-0, ")
    assert finding.evidence[0].endswith("web-canary-5d8f-4 and 2 more")


def test_missing_reference_keeps_a_container_from_starting() -> None:
    pod = _pod(waiting="CreateContainerConfigError", container=ENV_FROM)
    (finding,) = crash_loop_findings([pod], ["web-config"], [])
    assert finding.check == "kubernetes-missing-reference"
    assert finding.evidence[1:] == (
        "Secret db (container web env DB_PASSWORD) does not exist in shop",
    )
    assert "kubectl -n shop create secret generic db" in finding.fix


@pytest.mark.parametrize(
    "pods",
    [
        [],
        [_pod(waiting="")],  # running
        [_pod(waiting="ContainerCreating")],
        [_pod(waiting="CreateContainerConfigError", container=ENV_FROM)],  # all refs exist
    ],
)
def test_healthy_pods_no_finding(pods: list[dict[str, object]]) -> None:
    assert crash_loop_findings(pods, ["web-config"], ["db"]) == []


def test_pod_references() -> None:
    spec = {
        "containers": [ENV_FROM | {"name": "web"}],
        "volumes": [
            {"name": "tls", "secret": {"secretName": "web-tls"}},
            {
                "name": "all",
                "projected": {"sources": [{"configMap": {"name": "a"}}, {"secret": {"name": "b"}}]},
            },
        ],
    }
    assert [(r.kind, r.name, r.where) for r in pod_references(spec)] == [
        ("ConfigMap", "web-config", "container web envFrom"),
        ("Secret", "db", "container web env DB_PASSWORD"),
        ("Secret", "web-tls", "volume tls"),
        ("ConfigMap", "a", "volume all"),
        ("Secret", "b", "volume all"),
    ]


# --- canary metrics -------------------------------------------------------------------------


def _seen(
    canary: float,
    stable: float,
    unlabelled: float = 0,
    age: float | None = 1.0,
    label: str = "version",
) -> Observation:
    return Observation(
        span_seconds=60,
        canary=Sample(requests=canary),
        baseline=Sample(requests=stable),
        unlabelled_requests=unlabelled,
        newest_sample_age_seconds=age,
        version_label=label,
    )


@pytest.mark.parametrize(
    ("seen", "weight", "expected"),
    [
        (_seen(50, 950), 5, None),  # healthy
        (_seen(0, 1000), 0, None),  # no traffic sent to the canary: no canary series expected
        (_seen(0, 1000), None, None),  # route not read
        (_seen(0, 0, 1000), 25, ("canary-unlabelled-metrics", "problem")),
        (_seen(0, 0, 1000, label="track"), None, ("canary-unlabelled-metrics", "problem")),
        (_seen(0, 900, 100), 10, ("canary-unlabelled-metrics", "warning")),
        (_seen(0, 1000), 25, ("canary-no-series", "problem")),
        (_seen(0, 0, age=None), 25, ("canary-no-series", "problem")),
        (_seen(0, 0, age=None), None, ("canary-no-series", "warning")),
    ],
)
def test_canary_metrics(
    seen: Observation, weight: int | None, expected: tuple[str, str] | None
) -> None:
    found = canary_metrics_findings("shop", seen, weight)
    assert [(f.check, f.severity) for f in found] == ([expected] if expected else [])


def test_unlabelled_canary_names_the_label_and_the_fix() -> None:
    (finding,) = canary_metrics_findings("shop", _seen(0, 0, 1200, label="track"), 25)
    assert "carry no `track` label" in finding.cause
    assert "no `track` 1200" in finding.evidence[0]
    assert "HttpMetrics.version_label" in finding.evidence[1]
    assert finding.fix.startswith('add the `track` label to the metrics: `track="canary"`')


def test_traffic_but_no_canary_series() -> None:
    (finding,) = canary_metrics_findings("shop", _seen(0, 1000), 25)
    assert finding.cause == (
        "the route sends 25 % of traffic to the canary, but Prometheus has no series of the "
        'canary (`version="canary"`)'
    )
    assert "canary 0, stable 1000" in finding.evidence[0]
