"""`shipflow sandbox up|down|status`: every service a release needs, on this machine."""

from __future__ import annotations

from collections.abc import Callable

import typer
from rich.table import Table

from shipflow.cli._app import JsonOpt, app, console, emit_json, err, fail
from shipflow.errors import ShipflowError

sandbox_app = typer.Typer(
    help="The sandbox: Prefect (with its UI), a worker, Prometheus, a registry, S3 (moto), "
    "HAProxy with the demo app and steady traffic, the webhook receiver and a Kubernetes API, "
    "all on 127.0.0.1 until `shipflow sandbox down`."
)
app.add_typer(sandbox_app, name="sandbox")


def _say(as_json: bool) -> Callable[[str], None]:
    def say(line: str) -> None:
        if not as_json:
            err.print(f"[dim]·[/] {line}", highlight=False)

    return say


@sandbox_app.command("up")
def sandbox_up(as_json: JsonOpt = False) -> None:
    """Start the sandbox (or say where the running one is). Stop it with `shipflow sandbox down`."""
    from shipflow.deployments.sandbox import services

    try:
        _, started = services.up(_say(as_json))
    except ShipflowError as exc:
        raise fail(str(exc)) from exc
    report = services.status() or {}
    if as_json:
        emit_json({"started": started, **report})
        return
    console.print("sandbox started" if started else "the sandbox is already up")
    _print_urls(report)
    console.print("stop it with `shipflow sandbox down`")


@sandbox_app.command("down")
def sandbox_down(as_json: JsonOpt = False) -> None:
    """Stop everything the sandbox started and remove its folder; nothing else is touched."""
    from shipflow.deployments.sandbox import services

    try:
        stopped = services.down(_say(as_json))
    except ShipflowError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        emit_json({"stopped": stopped})
    elif not stopped:
        console.print("no sandbox is running")
    else:
        console.print(f"sandbox stopped: {', '.join(stopped)}")


@sandbox_app.command("status")
def sandbox_status(as_json: JsonOpt = False) -> None:
    """Which of the sandbox's processes run, on which ports, and which app versions are live.
    Exit 1 when no sandbox is up or part of it has stopped."""
    from shipflow.deployments.sandbox import services

    report = services.status()
    if as_json:
        emit_json(report)
    elif report is None:
        console.print("no sandbox is running: start it with `shipflow sandbox up`")
    else:
        _print_urls(report)
        table = Table(title="processes")
        for column in ("name", "pid", "port", "running"):
            table.add_column(column)
        for p in report["processes"]:
            mark = "[green]yes[/]" if p["running"] else "[red]no[/]"
            table.add_row(p["name"], str(p["pid"]), str(p["port"] or "-"), mark)
        console.print(table)
        for slot, image in report["versions"].items():
            console.print(f"{slot} runs {image}")
    if report is None or not all(p["running"] for p in report["processes"]):
        raise typer.Exit(1)


def _print_urls(report: dict[str, object]) -> None:
    urls = report.get("urls")
    if isinstance(urls, dict):
        for name, url in urls.items():
            console.print(f"  {name:<20} {url}", highlight=False)
