"""`shipflow demo`: a whole release on local services."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from shipflow.cli._app import JsonOpt, VerboseOpt, app, console, emit_json, err, fail
from shipflow.errors import ShipflowError


@app.command()
def demo(
    keep: Annotated[
        bool, typer.Option(help="Leave the local services running afterwards.")
    ] = False,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Run a whole release on local services: image, infrastructure, canary.

    Starts on 127.0.0.1 a Prefect server, moto (S3 state), a registry, Prometheus with a
    metrics app and the sandbox Kubernetes API; then releases a merge of an example repo:
    build_and_push → terraform_release (approved through the Prefect API as a reviewer
    would in the UI) → promote_canary 5 → 25 → 50 → 100 % with live analysis.
    """
    from shipflow.deployments.demo import run_demo

    def say(line: str) -> None:
        if not as_json:
            err.print(f"[dim]·[/] {line}")

    try:
        result = run_demo(say, keep=keep)
    except ShipflowError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        emit_json(asdict(result))
    else:
        style = "green" if result.ok() else "red"
        console.print(f"[bold {style}]{result.state}[/]: {result.message}")
        for stage in result.stages:
            console.print(f"  stage {stage}")
        console.print(f"deployed image: {result.deployed_image}")
        console.print(f"Terraform state serial in S3: {result.state_serial}")
        console.print(f"artifacts: {', '.join(result.artifacts)}")
        if verbose or keep:
            ui = result.api_url.removesuffix("/api")
            console.print(f"flow run: {ui}/runs/flow-run/{result.flow_run_id}")
            console.print(f"work dir: {result.workdir}")
    if not result.ok():
        raise typer.Exit(1)
