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
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from shipflow.core.analysis import Observation

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


# --- Kubernetes pods ----------------------------------------------------------------------

# What an exit code usually means (128 + n: killed by signal n).
EXIT_CODES = {
    0: "exited normally: a command that ends, not a server that keeps running?",
    1: "the application failed (read its output)",
    2: "the application or shell was misused (bad arguments?)",
    126: "the command is not executable",
    127: "the command was not found (wrong command/entrypoint, or missing in the image)",
    134: "aborted (SIGABRT)",
    137: "killed by SIGKILL: the OOM killer, or the kubelet after a failed probe",
    139: "segmentation fault (SIGSEGV)",
    143: "stopped by SIGTERM: the kubelet stopping it, e.g. after a failed probe",
}
# Kubernetes' probe defaults (core/v1 Probe).
_PERIOD, _FAILURES = 10, 3
_SLOW_START = "Readiness", "Liveness", "Startup"


def _m(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _items(value: object) -> list[Mapping[str, object]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _int(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


class Reference(BaseModel):
    """A ConfigMap or Secret a pod needs, and where its spec names it."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["ConfigMap", "Secret"]
    name: str
    where: str
    optional: bool = False


def pod_references(spec: Mapping[str, object]) -> list[Reference]:
    """The ConfigMaps and Secrets a pod spec names: ``envFrom``, ``env[].valueFrom``, and
    ``configMap``/``secret``/``projected`` volumes (names only, never values)."""
    found: list[Reference] = []

    def add(kind: Literal["ConfigMap", "Secret"], ref: object, key: str, where: str) -> None:
        name = _m(ref).get(key)
        if isinstance(name, str) and name:
            found.append(
                Reference(
                    kind=kind, name=name, where=where, optional=_m(ref).get("optional") is True
                )
            )

    for field in ("initContainers", "containers"):
        for c in _items(spec.get(field)):
            cname = c.get("name", "?")
            for source in _items(c.get("envFrom")):
                add("ConfigMap", source.get("configMapRef"), "name", f"container {cname} envFrom")
                add("Secret", source.get("secretRef"), "name", f"container {cname} envFrom")
            for env in _items(c.get("env")):
                value_from = _m(env.get("valueFrom"))
                where = f"container {cname} env {env.get('name', '?')}"
                add("ConfigMap", value_from.get("configMapKeyRef"), "name", where)
                add("Secret", value_from.get("secretKeyRef"), "name", where)
    for volume in _items(spec.get("volumes")):
        where = f"volume {volume.get('name', '?')}"
        add("ConfigMap", volume.get("configMap"), "name", where)
        add("Secret", volume.get("secret"), "secretName", where)
        for source in _items(_m(volume.get("projected")).get("sources")):
            add("ConfigMap", source.get("configMap"), "name", where)
            add("Secret", source.get("secret"), "name", where)
    return found


def _probe_window(probe: Mapping[str, object]) -> tuple[int, int, int]:
    """(failureThreshold, periodSeconds, seconds until the probe gives up)."""
    failures = _int(probe.get("failureThreshold"), _FAILURES)
    period = _int(probe.get("periodSeconds"), _PERIOD)
    return failures, period, _int(probe.get("initialDelaySeconds"), 0) + failures * period


def startup_hint(container: Mapping[str, object]) -> str:
    """What to change when a slow start is killed by its probes: the startupProbe's
    ``failureThreshold`` x ``periodSeconds`` must cover the slowest start."""
    startup = container.get("startupProbe")
    if isinstance(startup, Mapping):
        failures, period, window = _probe_window(startup)
        return (
            f"its startupProbe gives up after {window} s (failureThreshold {failures} x "
            f"periodSeconds {period}): if the app starts slower, raise startupProbe."
            f"failureThreshold until failureThreshold x periodSeconds covers its slowest start"
        )
    liveness = container.get("livenessProbe")
    if isinstance(liveness, Mapping):
        failures, period, window = _probe_window(liveness)
        return (
            f"it has no startupProbe, so its livenessProbe kills it after about {window} s "
            f"(failureThreshold {failures} x periodSeconds {period}): add a startupProbe (the "
            "same check) with failureThreshold x periodSeconds above its slowest start, e.g. "
            "failureThreshold 30 x periodSeconds 10 = 300 s; liveness starts only after it passes"
        )
    return (
        "it has no startupProbe or livenessProbe: a startupProbe only helps once a probe "
        "kills it; read why it exits instead"
    )


def _probe_failures(events: Sequence[Mapping[str, object]], ns: str, pod: str) -> list[str]:
    """The kubelet's probe-failure events of one pod, newest last (messages cut short)."""
    out: list[str] = []
    for event in events:
        involved = _m(event.get("involvedObject"))
        if involved.get("kind") != "Pod" or involved.get("name") != pod:
            continue
        if involved.get("namespace") not in (None, ns):
            continue
        message = str(event.get("message", ""))
        probe_kill = event.get("reason") == "Killing" and "probe" in message
        if event.get("reason") == "Unhealthy" or probe_kill:
            count = _int(event.get("count"), 1)
            times = f" ({count} times)" if count > 1 else ""
            out.append(f"event {event.get('reason')}: {message[:160]}{times}")
    return out


def _missing(
    refs: Sequence[Reference], configmaps: Collection[str], secrets: Collection[str]
) -> list[Reference]:
    have = {"ConfigMap": set(configmaps), "Secret": set(secrets)}
    seen: set[tuple[str, str, str]] = set()
    missing = []
    for ref in refs:
        key = (ref.kind, ref.name, ref.where)
        if ref.name not in have[ref.kind] and key not in seen:
            seen.add(key)
            missing.append(ref)
    return missing


def _describe_missing(ref: Reference, ns: str) -> str:
    optional = " (optional, so the pod started without it)" if ref.optional else ""
    return f"{ref.kind} {ref.name} ({ref.where}) does not exist in {ns}{optional}"


def crash_loop_findings(
    pods: Sequence[Mapping[str, object]],
    configmaps: Collection[str],
    secrets: Collection[str],
    events: Sequence[Mapping[str, object]] = (),
) -> list[Finding]:
    """Containers in ``CrashLoopBackOff``, one finding per owner (ReplicaSet) and container,
    with the last termination's reason and exit code, the restart count, the ConfigMaps and
    Secrets the pod names that do not exist (``configmaps``/``secrets``: the names in its
    namespace), the kubelet's probe-failure events, and the startupProbe hint when probes
    kill it. Pods waiting in ``CreateContainerConfigError`` for a missing reference are
    reported too (``kubernetes-missing-reference``). Never a value: names only."""
    groups: dict[tuple[str, str, str, str], list[tuple[Mapping[str, object], Mapping[str, object]]]]
    groups = {}
    for pod in pods:
        meta, status = _m(pod.get("metadata")), _m(pod.get("status"))
        owners = _items(meta.get("ownerReferences"))
        owner = str(owners[0].get("name")) if owners else str(meta.get("name", "?"))
        statuses = _items(status.get("initContainerStatuses")) + _items(
            status.get("containerStatuses")
        )
        for cs in statuses:
            reason = _m(_m(cs.get("state")).get("waiting")).get("reason")
            if reason in ("CrashLoopBackOff", "CreateContainerConfigError"):
                key = (str(meta.get("namespace", "")), owner, str(cs.get("name", "?")), str(reason))
                groups.setdefault(key, []).append((pod, cs))
    findings: list[Finding] = []
    for (ns, owner, container, reason), members in sorted(groups.items()):
        pod, cs = members[0]
        name = str(_m(pod.get("metadata")).get("name", "?"))
        spec = _m(pod.get("spec"))
        refs = pod_references(spec)
        missing = _missing(refs, configmaps, secrets)
        subject = f"{ns}/{owner} container {container}"
        names = ", ".join(str(_m(p.get("metadata")).get("name")) for p, _ in members[:5])
        more = f" and {len(members) - 5} more" if len(members) > 5 else ""
        pods_line = f"{len(members)} pod(s) in {reason}: {names}{more}"
        if reason == "CreateContainerConfigError":
            if not missing:
                continue
            findings.append(
                Finding(
                    check="kubernetes-missing-reference",
                    subject=subject,
                    cause="the container cannot start: its pod names a ConfigMap or Secret "
                    "that does not exist",
                    evidence=(pods_line, *(_describe_missing(r, ns) for r in missing)),
                    fix=_missing_fix(missing, ns),
                )
            )
            continue
        spec_c = next((c for c in _items(spec.get("containers")) if c.get("name") == container), {})
        last = _m(_m(cs.get("lastState")).get("terminated"))
        code = last.get("exitCode")
        term = str(last.get("reason", "unknown"))
        restarts = _int(cs.get("restartCount"), 0)
        evidence = [
            pods_line,
            f"pod {name}: last termination {term}, exit code {code if code is not None else '?'}"
            + (f" ({EXIT_CODES[code]})" if isinstance(code, int) and code in EXIT_CODES else "")
            + f"; restarted {restarts} times",
        ]
        probes = _probe_failures(events, ns, name)
        evidence += probes[-3:]
        evidence += [_describe_missing(r, ns) for r in missing]
        killed_by_probe = bool(probes) and any(
            f"{kind} probe failed" in line or f"failed {kind.lower()} probe" in line
            for line in probes
            for kind in _SLOW_START[1:]
        )
        logs = f"kubectl -n {ns} logs {name} -c {container} --previous"
        if term == "OOMKilled":
            limits = _m(_m(spec_c.get("resources")).get("limits"))
            limit = limits.get("memory")
            cause = "the container is killed for using more memory than its limit (OOMKilled)"
            fix = (
                f"raise resources.limits.memory of {container} (now {limit or 'unset'}) or make "
                f"the app use less; {logs}"
            )
        elif missing:
            cause = "the pod names ConfigMaps or Secrets that do not exist, and the app exits " + (
                "without them"
            )
            fix = f"{_missing_fix(missing, ns)}; then check {logs}"
        elif killed_by_probe:
            cause = "the kubelet kills the container for failing its probes: it starts too "
            cause += "slowly for them, or hangs"
            fix = f"{startup_hint(spec_c)}; {logs}"
        else:
            cause = f"the container keeps exiting ({term}, exit code {code}) soon after it starts"
            fix = f"read why: {logs}; kubectl -n {ns} describe pod {name}"
            if code in (137, 143) and isinstance(spec_c.get("livenessProbe"), Mapping):
                fix += f"; if a probe kills it: {startup_hint(spec_c)}"
        findings.append(
            Finding(
                check="kubernetes-crash-loop",
                subject=subject,
                cause=cause,
                evidence=tuple(evidence),
                fix=fix,
            )
        )
    return findings


def _missing_fix(missing: Sequence[Reference], ns: str) -> str:
    create = []
    for ref in missing:
        kind = "configmap" if ref.kind == "ConfigMap" else "secret generic"
        create.append(f"kubectl -n {ns} create {kind} {ref.name} --from-…")
    names = sorted({f"{r.kind} {r.name}" for r in missing})
    return (
        f"create {', '.join(names)} ({'; '.join(dict.fromkeys(create))}) or fix the name in "
        "the pod template"
    )


# --- canary metrics -----------------------------------------------------------------------


def canary_metrics_findings(
    app: str,
    observation: Observation,
    weight: int | None,
    canary_version: str = "canary",
    stable_version: str = "stable",
) -> list[Finding]:
    """What keeps a canary from being judged: series of ``app`` without the version label
    (``HttpMetrics.version_label``: canary and stable summed, the canary's errors averaged
    away), and a route that sends ``weight`` % to the canary while Prometheus has no canary
    series. ``weight`` None: the route was not read (only the label is checked)."""
    label = observation.version_label
    span = f"{observation.span_seconds:.0f} s"
    canary = observation.canary.requests
    stable = observation.baseline.requests if observation.baseline is not None else 0.0
    unlabelled = observation.unlabelled_requests
    counts = (
        f"requests of app {app} in the last {span} by `{label}`: {canary_version} "
        f"{canary:.0f}, {stable_version} {stable:.0f}, no `{label}` {unlabelled:.0f}"
    )
    routed = f"the route sends {weight} % of traffic to the canary" if weight else ""
    if observation.newest_sample_age_seconds is None:
        return [
            Finding(
                check="canary-no-series",
                subject=app,
                severity="problem" if weight else "warning",
                cause=f"Prometheus has no series of app {app} at all"
                + (f", while {routed}" if routed else "")
                + ": it is not scraped, or its metrics carry another app label",
                evidence=(f"no samples of app {app} (HttpMetrics.app_label)",),
                fix="make Prometheus scrape the app's pods (a ServiceMonitor/PodMonitor or scrape "
                "config that selects stable and canary pods) and check its app label",
            )
        ]
    if unlabelled > 0:
        alone = not canary and not stable
        return [
            Finding(
                check="canary-unlabelled-metrics",
                subject=app,
                severity="problem" if alone else "warning",
                cause=(
                    f"the metrics of {app} carry no `{label}` label, so canary and stable "
                    "cannot be told apart (summed over all pods, the canary's errors are "
                    "averaged away by stable's)"
                    if alone
                    else f"some series of {app} carry no `{label}` label: their requests "
                    "count for neither canary nor stable"
                ),
                evidence=(counts, f"the version label is `{label}` (HttpMetrics.version_label)"),
                fix=f'add the `{label}` label to the metrics: `{label}="{canary_version}"` on the '
                f"canary's, `{label}=\"{stable_version}\"` on stable's (e.g. from the pod label "
                f"through the scrape config's relabel_configs, or a PodMonitor's "
                f"podTargetLabels), or set metrics.definitions.version_label to the label "
                "they carry",
            )
        ]
    if weight and not canary:
        return [
            Finding(
                check="canary-no-series",
                subject=app,
                cause=f"{routed}, but Prometheus has no series of the canary "
                f'(`{label}="{canary_version}"`)',
                evidence=(counts,),
                fix=f"make Prometheus scrape the canary's pods too (its ServiceMonitor/PodMonitor "
                f'or scrape config must select them) and label their metrics `{label}="'
                f"{canary_version}\"` (MetricsTarget.canary_version); check the canary's pods "
                "serve at all",
            )
        ]
    return []


def render_findings(findings: Sequence[Finding]) -> str:
    """Findings as markdown, one section each: cause, evidence, fix."""
    if not findings:
        return "Nothing wrong found by the checks.\n"
    lines: list[str] = []
    for f in findings:
        lines += [f"### {f.severity}: `{f.check}` {f.subject}", "", f"**Cause:** {f.cause}", ""]
        lines += [f"- {e}" for e in f.evidence]
        lines += ["", f"**Fix:** {f.fix}", ""]
    return "\n".join(lines)


def cluster_findings(
    deployments: Sequence[Mapping[str, object]],
    pods: Sequence[Mapping[str, object]],
    configmaps: Collection[str],
    secrets: Collection[str],
    events: Sequence[Mapping[str, object]],
    helm_releases: Sequence[HelmRelease],
) -> list[Finding]:
    """Every cluster check over what was read of one namespace: crash-looping pods, stuck
    rollouts, Helm releases stuck pending."""
    return (
        crash_loop_findings(pods, configmaps, secrets, events)
        + rollout_findings(deployments)
        + helm_findings(helm_releases)
    )
