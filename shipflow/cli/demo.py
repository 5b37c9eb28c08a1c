"""`shipflow demo`: two merges released on the sandbox, or a whole release on a named server."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated
from urllib.parse import urlparse

import typer
from rich.table import Table

from shipflow.cli._app import EXIT_USAGE, JsonOpt, VerboseOpt, app, console, emit_json, err, fail
from shipflow.errors import ShipflowError


@app.command()
def demo(
    yes: Annotated[
        bool,
        typer.Option(
            "--yes", help="Approve the demo's own Terraform plan through the API (unattended)."
        ),
    ] = False,
    down: Annotated[
        bool, typer.Option(help="Stop the sandbox afterwards (if the demo started it).")
    ] = False,
    prefect_url: Annotated[
        str | None,
        typer.Option(
            help="Run on this Prefect server (its API URL, e.g. http://127.0.0.1:4200/api) "
            "instead of the sandbox, with services of the demo's own. PREFECT_API_URL alone is "
            "never used. Only the demo's own runs are resumed there."
        ),
    ] = None,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Release two merges on the sandbox: a good version promoted, a faulty one rolled back.

    Brings the sandbox up (or uses the running one), posts a signed merge webhook; the release
    deployment's trigger runs build_and_push → terraform_release (waits for approval in the
    Prefect UI: the link is printed; --yes approves the demo's own plan through the API) →
    promote_canary 5 → 25 → 50 → 100 % with live analysis. A second merge ships a faulty
    version, rolled back automatically. The sandbox stays up (`shipflow sandbox down`) unless
    --down. Ctrl-C cancels the demo's runs and rolls the canary back.
    """
    if prefect_url is not None:
        url = urlparse(prefect_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise fail(
                f"--prefect-url: {prefect_url!r} is not an http(s) URL "
                "(e.g. http://127.0.0.1:4200/api)",
                EXIT_USAGE,
            )
        _on_named_server(prefect_url.rstrip("/"), as_json, verbose)
        return

    from shipflow.deployments.sandbox_demo import Interrupted, run_sandbox_demo

    def say(line: str) -> None:  # on stderr even with --json: stdout holds only the JSON
        err.print(f"[dim]·[/] {line}", highlight=False)

    try:
        result = run_sandbox_demo(say, yes=yes, down=down)
    except Interrupted as exc:
        err.print(f"interrupted: {exc}", highlight=False)
        raise typer.Exit(130) from None
    except ShipflowError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        emit_json(asdict(result))
    else:
        table = Table(title="shipflow demo")
        for column in ("release", "stage", "state", "seconds", "verdict"):
            table.add_column(column, overflow="fold")
        for release in result.releases:
            for i, stage in enumerate(release.stages):
                colour = {"COMPLETED": "green", "FAILED": "red"}.get(stage.state, "yellow")
                table.add_row(
                    "" if i else release.title,
                    stage.name,
                    f"[{colour}]{stage.state}[/]",
                    f"{stage.seconds:.1f}",
                    stage.message,
                )
            table.add_row("", "[bold]release[/]", release.state, "", release.message)
        console.print(table)
        if result.releases:
            console.print(f"live image: {result.releases[-1].image}", highlight=False)
        console.print(f"Prefect UI: {result.ui}", highlight=False)
        if result.sandbox_left_up:
            console.print("the sandbox is still up: stop it with `shipflow sandbox down`")
    if not result.ok():
        raise typer.Exit(1)


def _on_named_server(prefect_url: str, as_json: bool, verbose: bool) -> None:
    """The whole release on services of the demo's own, on the Prefect server named."""
    from shipflow.deployments.demo import run_demo

    def say(line: str) -> None:
        if not as_json:
            err.print(f"[dim]·[/] {line}", highlight=False)

    try:
        result = run_demo(say, prefect_url=prefect_url)
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
        if verbose:
            ui = result.api_url.removesuffix("/api")
            console.print(f"flow run: {ui}/runs/flow-run/{result.flow_run_id}")
    if not result.ok():
        raise typer.Exit(1)
