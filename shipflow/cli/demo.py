"""`shipflow demo`: a whole release on local services."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated
from urllib.parse import urlparse

import typer

from shipflow.cli._app import EXIT_USAGE, JsonOpt, VerboseOpt, app, console, emit_json, err, fail
from shipflow.errors import ShipflowError


@app.command()
def demo(
    keep: Annotated[
        bool, typer.Option(help="Leave the local services running afterwards.")
    ] = False,
    prefect_url: Annotated[
        str | None,
        typer.Option(
            help="Run on this Prefect server (its API URL, e.g. http://127.0.0.1:4200/api) "
            "instead of starting one. PREFECT_API_URL alone is never used. Only the demo's own "
            "runs are resumed there."
        ),
    ] = None,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Run a whole release on local services: image, infrastructure, canary.

    Starts on 127.0.0.1 a Prefect server of its own (unless --prefect-url), moto (S3 state),
    a registry, Prometheus with a metrics app and the sandbox Kubernetes API; then releases a
    merge of an example repo: build_and_push → terraform_release (approved through the Prefect
    API as a reviewer would in the UI, for the demo's own runs only) → promote_canary
    5 → 25 → 50 → 100 % with live analysis.
    """
    from shipflow.deployments.demo import run_demo

    if prefect_url is not None:
        url = urlparse(prefect_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise fail(
                f"--prefect-url: {prefect_url!r} is not an http(s) URL "
                "(e.g. http://127.0.0.1:4200/api)",
                EXIT_USAGE,
            )
        prefect_url = prefect_url.rstrip("/")

    def say(line: str) -> None:
        if not as_json:
            err.print(f"[dim]·[/] {line}")

    try:
        result = run_demo(say, keep=keep, prefect_url=prefect_url)
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
