"""`shipflow drift`: a one-off drift scan."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from shipflow.cli._app import JsonOpt, app, console, emit_json, fail
from shipflow.cli._inputs import stack_dir


@app.command()
def drift(
    paths: Annotated[list[str], typer.Argument(help="Stack directories to scan.")],
    max_parallel: Annotated[int, typer.Option(help="Stacks planned at once.")] = 4,
    as_json: JsonOpt = False,
) -> None:
    """One-off drift scan: plan each stack (never apply) and classify it.

    clean: state matches code and world; drifted: something changed outside Terraform (the
    resources and attribute paths are listed); pending: code not applied yet; error: the
    stack could not be planned (a held lock names its owner). Exit 2 when anything drifted.
    """
    for path in paths:
        stack_dir(path)
    from shipflow.flows.detect_drift import detect_drift

    state = detect_drift(stacks=paths, max_parallel=max_parallel, return_state=True)
    if state.is_failed():
        raise fail(state.message or "drift scan failed")
    reports: list[dict[str, Any]] = state.result()  # type: ignore[assignment]
    if as_json:
        emit_json(reports)
    else:
        table = Table(title=f"drift: {state.message}")
        for column in ("stack", "status", "drifted (attributes)", "pending", "seconds"):
            table.add_column(column)
        colours = {"clean": "green", "drifted": "red", "pending": "yellow", "error": "magenta"}
        for r in reports:
            drifted = "\n".join(
                f"{d['address']} ({', '.join(d['paths']) or d['action']})" for d in r["drifted"]
            )
            pending = "\n".join(f"{p['action']} {p['address']}" for p in r["pending"])
            status = r["status"] if r["status"] != "error" else f"error: {r['reason']}"
            table.add_row(
                r["stack"],
                f"[{colours[r['status']]}]{status}[/]",
                drifted or "-",
                pending or "-",
                f"{r['seconds']:.1f}",
            )
        console.print(table)
    if any(r["status"] == "drifted" for r in reports):
        raise typer.Exit(2)
