"""`shipflow diagnose`: the troubleshooting table as read-only checks."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from shipflow.cli._app import (
    EXIT_CHANGES,
    EXIT_OK,
    EXIT_USAGE,
    JsonOpt,
    VerboseOpt,
    app,
    console,
    emit_json,
    fail,
)
from shipflow.errors import ShipflowError

if TYPE_CHECKING:
    from shipflow.core.diagnosis import Finding

Router = Literal["gateway", "istio", "nginx", "replicas"]

# States of a terraform_release run that may still hold (or be about to take) the state lock.
_LIVE = ("RUNNING", "PENDING", "PAUSED", "CANCELLING")


def running_applies(stack: Path) -> list[str] | None:
    """The live ``terraform_release`` runs of ``stack`` on the Prefect server PREFECT_API_URL
    names; None when there is no server to ask (then no one can say none is running)."""
    if not os.environ.get("PREFECT_API_URL"):
        return None
    try:
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import (
            FlowFilter,
            FlowFilterName,
            FlowRunFilter,
            FlowRunFilterState,
            FlowRunFilterStateType,
        )
        from prefect.client.schemas.objects import StateType

        states = [StateType(s) for s in _LIVE]
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=["terraform_release"])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=states))
                ),
            )
    except Exception:  # an unreachable or foreign server: unknown, said as such
        return None
    root = Path(os.environ.get("SHIPFLOW_STACKS_ROOT") or ".")
    mine: list[str] = []
    for run in runs:
        named = str(run.parameters.get("stack", ""))
        path = Path(named) if Path(named).is_absolute() else root / named
        if named and path.resolve() == stack.resolve():
            mine.append(f"flow run {run.name} ({run.state_name})")
    return mine


def _lock_findings(stack: Path, now: datetime) -> list[Finding]:
    from shipflow.adapters.tflocks import read_lock_record
    from shipflow.core.diagnosis import parse_lock_record, state_lock_finding

    record, where = read_lock_record(stack)
    lock = parse_lock_record(record) if record is not None else None
    if lock is None:
        return []
    finding = state_lock_finding(str(stack), lock, running_applies(stack), now)
    if finding is None:
        return []
    return [finding.model_copy(update={"evidence": (*finding.evidence, f"read from {where}")})]


def _cluster_findings(namespace: str, app_name: str | None) -> list[Finding]:
    from shipflow.adapters.kubernetes import ClusterTarget
    from shipflow.tasks.diagnose import namespace_findings

    apps = (app_name, f"{app_name}-canary") if app_name else ()
    return namespace_findings(ClusterTarget(namespace=namespace), apps)


def _canary_findings(
    app_name: str, prometheus_url: str | None, namespace: str | None, router: str
) -> tuple[list[Finding], str]:
    """The canary metrics checks of ``app_name``, with the route's weight when the
    namespace is known; and what was checked, in words."""
    from shipflow.adapters.kubernetes import ClusterTarget, RouterSpec
    from shipflow.adapters.prometheus import MetricsTarget, PrometheusClient, connection_for
    from shipflow.errors import KubernetesError
    from shipflow.settings import load_settings
    from shipflow.tasks.diagnose import SPAN_SECONDS, metrics_findings, route_weight

    weight: int | None = None
    route = "route not read (no --namespace)"
    if namespace is not None:
        spec = RouterSpec(kind=router)
        try:
            weight = route_weight(ClusterTarget(namespace=namespace), app_name, spec)
            route = f"{router} route: {weight} % on the canary"
        except KubernetesError as exc:
            if exc.status != 404:
                raise
            route = f"no {router} route of {app_name} in {namespace}"
    target = MetricsTarget(app=app_name, url=prometheus_url)
    client = PrometheusClient(connection_for(target, load_settings()))
    try:
        found = metrics_findings(client, target, weight)
    finally:
        client.close()
    return found, f"metrics of app {app_name} over {SPAN_SECONDS:.0f} s ({route})"


@app.command()
def diagnose(
    stack: Annotated[
        list[str] | None,
        typer.Option("--stack", help="A Terraform root module: is its state lock held?"),
    ] = None,
    dockerfile: Annotated[
        list[str] | None,
        typer.Option("--dockerfile", help="A Dockerfile: cache busting, no cache mounts?"),
    ] = None,
    namespace: Annotated[
        str | None,
        typer.Option(
            "--namespace",
            "-n",
            help="A Kubernetes namespace (KUBECONFIG): crash-looping pods, stuck rollouts, "
            "Helm releases stuck pending.",
        ),
    ] = None,
    app_name: Annotated[
        str | None,
        typer.Option(
            "--app",
            help="An app (its Deployment and <app>-canary, and the app label of its metrics): "
            "only its pods and rollouts in --namespace, and its canary's metrics (no version "
            "label? traffic but no canary series?).",
        ),
    ] = None,
    prometheus_url: Annotated[
        str | None,
        typer.Option(
            "--prometheus-url",
            help="Prometheus for --app's metrics (default: SHIPFLOW_PROMETHEUS_URL).",
        ),
    ] = None,
    router: Annotated[
        Router,
        typer.Option(help="How --app's traffic is split (to read the canary's weight)."),
    ] = "gateway",
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Check the usual causes of a failed release and say, for each problem found, its cause,
    the evidence and the fix. Read-only: it never runs a fix.

    Exit codes: 0 nothing wrong (warnings may be printed), 2 problems found, 1 a check could
    not run, 64 usage.
    """
    from shipflow.core.diagnosis import dockerfile_findings, findings_document

    stacks = [Path(s) for s in stack or []]
    dockerfiles = [Path(d) for d in dockerfile or []]
    for path in stacks:
        if not path.is_dir():
            raise fail(f"stack: {path} is not a directory", EXIT_USAGE)
    for path in dockerfiles:
        if not path.is_file():
            raise fail(f"dockerfile: {path} is not a file", EXIT_USAGE)
    if not stacks and not dockerfiles and namespace is None and app_name is None:
        raise fail("nothing to check: give --stack, --dockerfile, --namespace or --app", EXIT_USAGE)
    if prometheus_url is not None and app_name is None:
        raise fail("prometheus-url: only used with --app", EXIT_USAGE)
    if prometheus_url is not None and not prometheus_url.startswith(("http://", "https://")):
        raise fail(f"prometheus-url: {prometheus_url} is not an http(s) URL", EXIT_USAGE)
    now = datetime.now(UTC)
    findings: list[Finding] = []
    errors: list[str] = []
    checked: list[str] = []
    for path in dockerfiles:
        findings += dockerfile_findings(str(path), path.read_text(errors="replace"))
        checked.append(f"dockerfile {path}")
    for path in stacks:
        try:
            findings += _lock_findings(path, now)
            checked.append(f"state lock of {path}")
        except ShipflowError as exc:
            errors.append(str(exc))
    if namespace is not None:
        try:
            findings += _cluster_findings(namespace, app_name)
            checked.append(f"namespace {namespace}" + (f" (app {app_name})" if app_name else ""))
        except ShipflowError as exc:
            errors.append(str(exc))
    if app_name is not None:
        try:
            found, what = _canary_findings(app_name, prometheus_url, namespace, router)
            findings += found
            checked.append(what)
        except ShipflowError as exc:
            errors.append(str(exc))
    problems = [f for f in findings if f.severity == "problem"]
    code = EXIT_CHANGES if problems else (1 if errors else EXIT_OK)
    if as_json:
        emit_json({"findings": findings_document(findings), "errors": errors, "checked": checked})
        raise typer.Exit(code)
    for f in findings:
        colour = "red" if f.severity == "problem" else "yellow"
        console.print(f"[bold {colour}]{f.severity}[/] {f.check} [bold]{f.subject}[/]")
        console.print(f"  cause: {f.cause}", markup=False, highlight=False)
        for line in f.evidence:
            console.print(f"  evidence: {line}", markup=False, highlight=False)
        console.print(f"  fix: {f.fix}", markup=False, highlight=False)
    for message in errors:
        console.print(f"[bold red]could not check[/] {message}", highlight=False)
    if not findings and not errors:
        console.print(f"nothing wrong found ({'; '.join(checked)})", highlight=False)
    elif verbose:
        console.print(f"checked: {'; '.join(checked)}", highlight=False)
    raise typer.Exit(code)
