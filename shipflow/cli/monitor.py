"""`shipflow monitor`: a service's recording rules, SLO alerts and Grafana dashboard."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from shipflow.cli._app import EXIT_USAGE, JsonOpt, VerboseOpt, app, console, emit_json, fail
from shipflow.cli._generate import DryRunOpt, ForceOpt, refuse_existing
from shipflow.errors import ShipflowError


def read_spec_file(path: str) -> dict[str, Any]:
    """An app spec file (YAML, JSON or TOML) as a mapping; one line and exit 64 otherwise."""
    import tomllib

    import yaml

    spec = Path(path)
    if not spec.is_file():
        raise fail(f"spec: {path} is not a file", EXIT_USAGE)
    text = spec.read_text(errors="replace")
    try:
        document = tomllib.loads(text) if spec.suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise fail(f"spec: {path} does not parse: {first}", EXIT_USAGE) from exc
    if not isinstance(document, dict):
        raise fail(f"spec: {path} must hold a mapping (name, slo, metrics, ...)", EXIT_USAGE)
    return document


@app.command()
def monitor(
    spec: Annotated[
        str | None,
        typer.Argument(help="App spec (YAML, JSON or TOML): name, slo, metrics, saturation."),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="The service (its app label value).")
    ] = None,
    availability: Annotated[
        float | None, typer.Option(help="Availability SLO in percent (default 99.9).")
    ] = None,
    latency_ms: Annotated[
        float | None, typer.Option(help="Latency SLO target in ms (default 500).")
    ] = None,
    percentile: Annotated[
        float | None, typer.Option(help="Percent of requests under --latency-ms (default 99).")
    ] = None,
    period_days: Annotated[
        int | None, typer.Option(help="Rolling SLO period in days (default 30).")
    ] = None,
    output: Annotated[
        str, typer.Option("--output", "-o", help="Directory to write into.")
    ] = "monitoring",
    prometheus_rule: Annotated[
        bool,
        typer.Option(
            "--prometheus-rule", help="Also write a PrometheusRule for the Prometheus Operator."
        ),
    ] = False,
    namespace: Annotated[str | None, typer.Option(help="Namespace of the PrometheusRule.")] = None,
    force: ForceOpt = False,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Write Prometheus recording rules for the four golden signals, multi-window
    multi-burn-rate SLO alerts and a Grafana dashboard for one service.

    Every query is the one the canary analysis judges on (shipflow.core.metrics), split by
    version so a canary's errors are not averaged away. Alerts: fast burn (2 % of the budget in
    1 h, checked over 1 h and 5 min) pages, slow burn (5 % in 6 h, over 6 h and 30 min) files a
    ticket; thresholds come from the SLO. Nothing is written unless every file can be.
    """
    from shipflow.core.monitoring import monitor_spec, thresholds
    from shipflow.generators.files import write_files
    from shipflow.generators.monitoring import monitor_files

    document: dict[str, Any] = read_spec_file(spec) if spec else {}
    if name is not None:
        document["name"] = name
    if "name" not in document:
        raise fail("name: give an app spec with a name, or --name", EXIT_USAGE)
    slo = dict(document.get("slo") or {})
    for key, value in (
        ("availability", availability),
        ("latency_ms", latency_ms),
        ("latency_percentile", percentile),
        ("period_days", period_days),
    ):
        if value is not None:
            slo[key] = value
    document["slo"] = slo
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise fail(f"output: {output} is not a directory", EXIT_USAGE)
    try:
        parsed = monitor_spec(document)
    except ShipflowError as exc:
        raise fail(str(exc), EXIT_USAGE) from exc
    files = monitor_files(parsed, operator=prometheus_rule, namespace=namespace)
    written: list[Path] = []
    if not dry_run:
        refuse_existing(files, out, force)
        try:
            written = write_files(files, out, force=force)
        except (ShipflowError, OSError) as exc:
            raise fail(str(exc)) from exc
    alerts: list[dict[str, Any]] = [
        {
            "alert": t.alert_name,
            "severity": t.alert.severity,
            "burn_rate": t.burn_rate,
            "threshold": t.ratio,
            "windows": [t.alert.long_window, t.alert.short_window],
        }
        for t in thresholds(parsed.slo)
    ]
    if as_json:
        emit_json(
            {
                "name": parsed.name,
                "files": [str(out / f) for f in files],
                "written": [str(w) for w in written],
                "dry_run": dry_run,
                "alerts": alerts,
                "budget_minutes": parsed.slo.budget_minutes,
            }
        )
        return
    verb = "would write" if dry_run else "wrote"
    console.print(f"{parsed.name}: {verb} {', '.join(str(out / f) for f in files)}")
    slo_text = (
        f"SLO {parsed.slo.availability:g} % over {parsed.slo.period_days} days "
        f"({parsed.slo.budget_minutes:g} min of errors), P{parsed.slo.latency_percentile:g} "
        f"< {parsed.slo.latency_ms:g} ms"
    )
    console.print(slo_text, markup=False, highlight=False)
    for a in alerts:
        console.print(
            f"  {a['alert']} ({a['severity']}): bad-request ratio > {a['threshold']:.4g} over "
            f"{' and '.join(a['windows'])} ({a['burn_rate']:g}x burn)",
            markup=False,
            highlight=False,
        )
    if verbose:
        console.print(files[Path(f"{parsed.name}.rules.yml")], markup=False, highlight=False)
