"""The troubleshooting table as checks: each finding names its cause, the evidence and the fix.

Checks here are pure: they read what an adapter fetched (a lock record, a Dockerfile's text,
Helm's release records) and say what is wrong. None of them runs a fix; a fix is a command for
a human, given only when the evidence makes it safe (``force-unlock`` only once no shipflow
apply of the stack is running).
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

Severity = Literal["problem", "warning"]


class Finding(BaseModel):
    """One problem found: what, why, the numbers that show it, and what a human should do."""

    model_config = ConfigDict(frozen=True)

    check: str
    subject: str
    severity: Severity = "problem"
    cause: str
    evidence: tuple[str, ...]
    fix: str


# --- Terraform state lock -----------------------------------------------------------------


class LockInfo(BaseModel):
    """Terraform's lock record (the JSON in ``<key>.tflock`` or DynamoDB's ``Info``)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    id: str
    operation: str = ""
    who: str = ""
    version: str = ""
    created: str = ""
    path: str = ""


def parse_lock_record(text: str) -> LockInfo | None:
    """The lock record Terraform writes (``{"ID": ..., "Who": ...}``); None when unreadable."""
    try:
        raw = json.loads(text)
    except ValueError:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("ID"), str):
        return None
    return LockInfo(**{k.lower(): str(v) for k, v in raw.items() if isinstance(v, str | int)})


def _age(created: str, now: datetime) -> str:
    try:
        since = datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return ""
    seconds = int((now - since).total_seconds())
    if seconds < 0:
        return ""
    hours, rest = divmod(seconds, 3600)
    return f" ({hours} h {rest // 60} min ago)" if hours else f" ({rest // 60} min ago)"


def state_lock_finding(
    stack: str,
    lock: LockInfo | None,
    running_applies: Sequence[str] | None,
    now: datetime,
) -> Finding | None:
    """A held state lock, if any. ``running_applies`` are the shipflow apply runs of this
    stack that are still live (None: could not be checked). The force-unlock command is the
    fix only when none is running; a running apply holds its lock for good reason."""
    if lock is None:
        return None
    evidence = (
        f"lock {lock.id} held by {lock.who or 'unknown'} for {lock.operation or 'an operation'}"
        f" since {lock.created or 'an unknown time'}{_age(lock.created, now)}",
        f"lock path {lock.path}" + (f", Terraform {lock.version}" if lock.version else ""),
    )
    unlock = f"terraform -chdir={stack} force-unlock -force {lock.id}"
    if running_applies:
        return Finding(
            check="terraform-state-lock",
            subject=stack,
            severity="warning",
            cause="a shipflow apply of this stack is running and holds the state lock",
            evidence=(*evidence, f"running: {', '.join(running_applies)}"),
            fix="wait for the run to finish (never force-unlock a lock a live apply holds)",
        )
    if running_applies is None:
        return Finding(
            check="terraform-state-lock",
            subject=stack,
            cause="the state lock is held (left by a killed run, or someone is applying)",
            evidence=(*evidence, "no Prefect API to check for a running shipflow apply"),
            fix=f"make sure no apply of this stack is running (ask {lock.who or 'the owner'}), "
            f"then: {unlock}",
        )
    return Finding(
        check="terraform-state-lock",
        subject=stack,
        cause="the state lock is held and no shipflow apply of this stack is running: "
        "a stale lock from a killed run",
        evidence=(*evidence, "no live shipflow run of this stack on the Prefect server"),
        fix=f"confirm with {lock.who or 'the owner'} that nothing else applies, then: {unlock}",
    )


# --- Dockerfiles --------------------------------------------------------------------------

# Commands that install dependencies from manifests, and the manifests each one reads.
_INSTALLS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"\b(npm (ci|install|i)\b|yarn( install)?\b|pnpm (install|i)\b)"),
        "package.json and the lock file",
    ),
    (
        re.compile(
            r"\bpip3? install\b.*(-r\s|requirements)"
            r"|\bpoetry install\b|\buv sync\b|\bpipenv install\b"
        ),
        "the requirements / pyproject and lock files",
    ),
    (re.compile(r"\bgo mod download\b"), "go.mod and go.sum"),
    (re.compile(r"\bmvn\b|\bgradle\b|\./gradlew\b|\./mvnw\b"), "pom.xml / build.gradle"),
    (re.compile(r"\bbundle install\b"), "Gemfile and Gemfile.lock"),
    (re.compile(r"\bcargo (build|fetch)\b"), "Cargo.toml and Cargo.lock"),
    (re.compile(r"\bcomposer install\b"), "composer.json and composer.lock"),
)
_COPY_ALL = re.compile(r"^(COPY|ADD)\s+(--\S+\s+)*(\.|\./|\*|src|\./src)\s+\S+\s*$", re.IGNORECASE)


def _instructions(text: str) -> list[tuple[int, str]]:
    """(first line number, instruction) with continuations joined and comments dropped."""
    out: list[tuple[int, str]] = []
    current: list[str] = []
    start = 0
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue
        if not current:
            start = number
        if stripped.endswith("\\"):
            current.append(stripped[:-1].strip())
            continue
        current.append(stripped)
        out.append((start, " ".join(p for p in current if p)))
        current = []
    if current:
        out.append((start, " ".join(current)))
    return out


def dockerfile_findings(path: str, text: str) -> list[Finding]:
    """Cache busting (sources copied before the dependency install, so every source change
    reinstalls every dependency) and dependency installs without a BuildKit cache mount."""
    findings: list[Finding] = []
    copied_all: tuple[int, str] | None = None
    for line, instruction in _instructions(text):
        keyword = instruction.split(None, 1)[0].upper()
        if keyword == "FROM":
            copied_all = None
            continue
        if _COPY_ALL.match(instruction):
            copied_all = copied_all or (line, instruction)
            continue
        if keyword != "RUN":
            continue
        for pattern, manifests in _INSTALLS:
            if not pattern.search(instruction):
                continue
            if copied_all is not None:
                findings.append(
                    Finding(
                        check="docker-cache-busting",
                        subject=f"{path}:{line}",
                        cause="the sources are copied before the dependencies are installed, "
                        "so any source change reinstalls every dependency",
                        evidence=(
                            f"line {copied_all[0]}: {copied_all[1]}",
                            f"line {line}: {instruction[:120]}",
                        ),
                        fix=f"COPY only {manifests} first, RUN the install, then COPY the sources",
                    )
                )
            if "--mount=type=cache" not in instruction:
                findings.append(
                    Finding(
                        check="docker-no-cache-mount",
                        subject=f"{path}:{line}",
                        severity="warning",
                        cause="the dependency install has no BuildKit cache mount, so a "
                        "rebuilt layer downloads everything again",
                        evidence=(f"line {line}: {instruction[:120]}",),
                        fix="RUN --mount=type=cache,target=<the tool's cache dir> "
                        "(e.g. /root/.npm, /root/.cache/pip, /go/pkg/mod, /root/.m2)",
                    )
                )
            break
    return findings


# --- Helm releases ------------------------------------------------------------------------

PENDING = ("pending-install", "pending-upgrade", "pending-rollback")


class HelmRelease(BaseModel):
    """One revision of a Helm release, as its ``sh.helm.release.v1.NAME.vN`` Secret holds it."""

    model_config = ConfigDict(frozen=True)

    name: str
    namespace: str
    revision: int
    status: str
    chart: str = ""
    updated: str = ""


def decode_helm_release(data: str, namespace: str | None = None) -> HelmRelease | None:
    """A release from the Secret's ``data.release`` (base64 of Helm's base64 of gzipped JSON),
    in ``namespace`` (the Secret's: that is where Helm works on it); None when it is not one."""
    try:
        inner = base64.b64decode(base64.b64decode(data))
        if inner[:2] == b"\x1f\x8b":
            inner = gzip.decompress(inner)
        raw = json.loads(inner)
        info = raw.get("info") or {}
        metadata = (raw.get("chart") or {}).get("metadata") or {}
        return HelmRelease(
            name=str(raw["name"]),
            namespace=namespace or str(raw.get("namespace", "")),
            revision=int(raw["version"]),
            status=str(info.get("status", "unknown")),
            chart=f"{metadata.get('name', '')}-{metadata.get('version', '')}".strip("-"),
            updated=str(info.get("last_deployed", "")),
        )
    except (ValueError, KeyError, TypeError, OSError, EOFError):
        return None


def helm_findings(releases: Sequence[HelmRelease]) -> list[Finding]:
    """A release whose newest revision is stuck in a pending state (a killed ``helm upgrade``:
    every later upgrade fails with "another operation is in progress")."""
    newest: dict[tuple[str, str], HelmRelease] = {}
    for release in releases:
        key = (release.namespace, release.name)
        if key not in newest or release.revision > newest[key].revision:
            newest[key] = release
    findings: list[Finding] = []
    for (namespace, name), release in sorted(newest.items()):
        if release.status not in PENDING:
            continue
        earlier = [
            r
            for r in releases
            if (r.namespace, r.name) == (namespace, name) and r.status == "deployed"
        ]
        target = max((r.revision for r in earlier), default=None)
        rollback = (
            f"helm rollback {name} {target} -n {namespace}"
            if target is not None
            else f"helm uninstall {name} -n {namespace} (it never deployed)"
        )
        findings.append(
            Finding(
                check="helm-pending-release",
                subject=f"{namespace}/{name}",
                cause=f"revision {release.revision} is stuck in {release.status} (the helm "
                "process was killed or timed out); Helm refuses further operations",
                evidence=(
                    f"Secret sh.helm.release.v1.{name}.v{release.revision}: status "
                    f"{release.status}, chart {release.chart or '?'}, updated "
                    f"{release.updated or '?'}",
                ),
                fix=f"helm history {name} -n {namespace}; once no helm operation runs: {rollback}",
            )
        )
    return findings


def findings_document(findings: Sequence[Finding]) -> list[Mapping[str, object]]:
    """Findings as plain data (for --json and artifacts)."""
    return [f.model_dump() for f in findings]


# --- Kubernetes rollouts ------------------------------------------------------------------


def rollout_findings(deployments: Sequence[Mapping[str, object]]) -> list[Finding]:
    """Deployments whose rollout passed its progress deadline (condition ``Progressing=False``,
    reason ``ProgressDeadlineExceeded``): Kubernetes stopped waiting, and apps/v1 rolls
    nothing back by itself."""
    findings: list[Finding] = []
    for deployment in deployments:
        metadata = deployment.get("metadata")
        status = deployment.get("status")
        if not isinstance(metadata, Mapping) or not isinstance(status, Mapping):
            continue
        conditions = status.get("conditions")
        for condition in conditions if isinstance(conditions, list) else []:
            if not (
                isinstance(condition, Mapping)
                and condition.get("type") == "Progressing"
                and condition.get("status") == "False"
                and condition.get("reason") == "ProgressDeadlineExceeded"
            ):
                continue
            name, namespace = metadata.get("name"), metadata.get("namespace")
            spec = deployment.get("spec")
            deadline = (
                spec.get("progressDeadlineSeconds", 600) if isinstance(spec, Mapping) else 600
            )
            findings.append(
                Finding(
                    check="kubernetes-stuck-rollout",
                    subject=f"{namespace}/{name}",
                    cause=f"the rollout made no progress for {deadline} s (its progress "
                    "deadline); the new pods never became ready",
                    evidence=(
                        f"condition Progressing=False, ProgressDeadlineExceeded: "
                        f"{condition.get('message', '')}".rstrip(": "),
                        f"replicas {status.get('replicas', 0)}, updated "
                        f"{status.get('updatedReplicas', 0)}, ready "
                        f"{status.get('readyReplicas', 0)}, available "
                        f"{status.get('availableReplicas', 0)}",
                    ),
                    fix=f"kubectl -n {namespace} describe deployment {name} (pod events, probe "
                    f"failures); to go back: kubectl -n {namespace} rollout undo deployment "
                    f"{name}",
                )
            )
    return findings
