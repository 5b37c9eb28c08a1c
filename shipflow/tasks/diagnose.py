"""The diagnose checks on a failed deploy: the cluster's (crash-looping pods, stuck rollouts,
Helm releases stuck pending) and the canary's metrics (no version label, traffic but no
series), and the failure artifact that carries their findings.

The readers here are plain functions too (``shipflow diagnose`` calls them); the task runs
them for one canary and never raises: a check that cannot run is said in ``errors``.
"""

from __future__ import annotations

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel, ConfigDict

from shipflow.adapters.kubernetes import ClusterTarget, RouterSpec, api_client, make_router
from shipflow.adapters.kubernetes.snapshot import read_namespace
from shipflow.adapters.prometheus import MetricsTarget, PrometheusClient, observe
from shipflow.core.diagnosis import (
    Finding,
    canary_metrics_findings,
    cluster_findings,
    render_findings,
)
from shipflow.errors import ShipflowError
from shipflow.tasks.canary import Canary, prometheus_client
from shipflow.tasks.common import shipflow_task

# How far back the metrics checks look: long enough to hold a few scrapes of any setup.
SPAN_SECONDS = 300.0


class Diagnosis(BaseModel):
    """What the checks found, what they looked at, and which could not run (and why)."""

    model_config = ConfigDict(frozen=True)

    findings: tuple[Finding, ...] = ()
    checked: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()


def namespace_findings(cluster: ClusterTarget, apps: tuple[str, ...] = ()) -> list[Finding]:
    """The cluster checks over ``cluster.namespace`` (only the Deployments ``apps`` and
    their pods, when given)."""
    seen = read_namespace(api_client(cluster), cluster.namespace, apps)
    return cluster_findings(
        seen.deployments,
        seen.pods,
        seen.configmaps,
        seen.secrets,
        seen.events,
        seen.helm_releases,
    )


def route_weight(cluster: ClusterTarget, app: str, router: RouterSpec) -> int:
    """The share of traffic the route of ``app`` sends to ``<app>-canary``, in percent."""
    return make_router(
        router, api_client(cluster), cluster.namespace, app, f"{app}-canary"
    ).canary_weight()


def metrics_findings(
    client: PrometheusClient,
    target: MetricsTarget,
    weight: int | None,
    span_seconds: float = SPAN_SECONDS,
    timeout: float | None = None,
) -> list[Finding]:
    """The canary metrics checks of ``target.app`` over the last ``span_seconds``, its
    queries taking ``timeout`` together (default: the target's); ``weight``: the canary's
    share of the route (None: not known)."""
    seen = observe(client, target, span_seconds, timeout or target.timeout_seconds)
    return canary_metrics_findings(
        target.app, seen, weight, target.canary_version, target.stable_version
    )


class Evidence(BaseModel):
    """What the cluster showed of a failed canary just before its rollback: the route's weight
    on the canary and the cluster checks' findings (the rollback takes the pods away)."""

    model_config = ConfigDict(frozen=True)

    weight: int | None = None
    findings: tuple[Finding, ...] = ()
    checked: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()


def read_evidence(canary: Canary) -> Evidence:
    """Read the route and the canary's Deployments, pods and events, Kubernetes reads only
    (no Prometheus, no Prefect call): what the rollback waits for is kept to the least. Never
    raises: a read that fails is named in ``errors``."""
    findings: list[Finding] = []
    checked: list[str] = []
    errors: list[str] = []
    weight: int | None = None
    try:
        weight = canary.router().canary_weight()
        checked.append(f"route: {weight} % on the canary")
    except Exception as exc:  # evidence is best effort; the rollback comes next either way
        errors.append(f"route weight: {_said(exc)}")
    if canary.local is None:
        try:
            findings += namespace_findings(canary.cluster, (canary.app, canary.canary_name))
            checked.append(
                f"namespace {canary.cluster.namespace}: {canary.app}, {canary.canary_name}"
            )
        except Exception as exc:
            errors.append(f"cluster: {_said(exc)}")
    return Evidence(
        weight=weight, findings=tuple(findings), checked=tuple(checked), errors=tuple(errors)
    )


def _said(exc: Exception) -> str:
    # shipflow's errors are written to be shown; another's text might hold anything.
    return str(exc) if isinstance(exc, ShipflowError) else type(exc).__name__


@shipflow_task(name="diagnose_canary", task_run_name="diagnose the failed canary")
def diagnose_canary(
    canary: Canary,
    evidence: Evidence,
    timeout: float | None = None,
    span_seconds: float = SPAN_SECONDS,
) -> Diagnosis:
    """The cluster's ``evidence`` (read before the rollback) and the canary metrics checks
    (their queries bounded by ``timeout``) with the weight the route had then. Read-only;
    never raises for a check that cannot run: it is named in ``errors``."""
    findings = list(evidence.findings)
    checked = list(evidence.checked)
    errors = list(evidence.errors)
    try:
        client = prometheus_client(canary.metrics)
        try:
            findings += metrics_findings(
                client, canary.metrics, evidence.weight, span_seconds, timeout
            )
        finally:
            client.close()
        checked.append(f"metrics of app {canary.metrics.app} over {span_seconds:.0f} s")
    except ShipflowError as exc:
        errors.append(f"metrics: {exc}")
    return Diagnosis(findings=tuple(findings), checked=tuple(checked), errors=tuple(errors))


def render_failure(failure: str, diagnosis: Diagnosis | None, error: str | None) -> str:
    """The failure artifact's markdown: the failure, then what the checks found."""
    lines = ["# Failure", "", failure, "", "## Diagnosis", ""]
    if diagnosis is None:
        lines += [f"The diagnosis could not run: {error or 'unknown error'}", ""]
        return "\n".join(lines)
    lines.append(render_findings(diagnosis.findings))
    for message in diagnosis.errors:
        lines.append(f"- could not check {message}")
    if diagnosis.checked:
        lines += ["", f"Checked: {'; '.join(diagnosis.checked)}", ""]
    return "\n".join(lines)


def publish_failure(
    canary: Canary, failure: str, diagnosis: Diagnosis | None, error: str | None = None
) -> None:
    """The failure artifact of the run: the failure and the diagnosis findings."""
    create_markdown_artifact(
        markdown=render_failure(failure, diagnosis, error),
        key=f"canary-failure-{canary.key}",
        description=f"Why the canary of {canary.app} ({canary.image}) failed",
    )


def diagnose_failure(
    canary: Canary, failure: str, evidence: Evidence, timeout: float | None = None
) -> Diagnosis | None:
    """Diagnose a failed canary after its rollback, from the ``evidence`` read just before
    it and the metrics (queries bounded by ``timeout``), and publish the failure artifact;
    never raises, so the original failure stays the run's reason (a diagnosis that breaks is
    logged and noted)."""
    logger = get_run_logger()
    diagnosis: Diagnosis | None = None
    error: str | None = None
    try:
        diagnosis = diagnose_canary(canary, evidence, timeout)
    except Exception as exc:  # a broken diagnosis never changes the run's outcome
        error = _said(exc)
        logger.warning("Could not diagnose the failure: %s", error)
    else:
        for finding in diagnosis.findings:
            logger.warning("Diagnosis: %s %s: %s", finding.check, finding.subject, finding.cause)
    try:
        publish_failure(canary, failure, diagnosis, error)
    except Exception as exc:  # as above: the artifact must not change the outcome either
        logger.warning("Could not publish the failure artifact: %s", type(exc).__name__)
    return diagnosis
