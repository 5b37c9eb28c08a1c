"""`shipflow version` and `shipflow doctor`: what shipflow would use on this machine."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from shipflow import __version__
from shipflow.cli._app import EXIT_ERROR, JsonOpt, app, console, emit_json
from shipflow.errors import ShipflowError


@app.command()
def version() -> None:
    """Print shipflow's version."""
    console.print(__version__)


@app.command()
def doctor(
    as_json: JsonOpt = False,
    worker: Annotated[
        bool,
        typer.Option(
            "--worker",
            help="Check what a production worker needs; exit 1 when something is missing.",
        ),
    ] = False,
    repo: Annotated[
        list[str] | None,
        typer.Option(help="With --worker: a repository URL releases fetch from (repeatable)."),
    ] = None,
    pool: Annotated[str, typer.Option(help="With --worker: the work pool.")] = "shipflow-process",
) -> None:
    """Report which Terraform, Prefect API and local tools shipflow would use here.

    Exit 1 when the Terraform found is too old for a stack under SHIPFLOW_STACKS_ROOT.

    With --worker: Terraform and its version, buildah, git and read access to each --repo,
    the registry credentials block, kubeconfig and the cluster's API, Prometheus, the Prefect
    API and the work pool — each missing one named with how to fix it (exit 1)."""
    if worker:
        _worker_doctor(repo or [], pool, as_json)
        return
    from shipflow.adapters.terraform import Terraform, find_terraform
    from shipflow.core.terraform_env import parse_pass_env
    from shipflow.settings import load_settings

    settings = load_settings()
    report: dict[str, Any] = {"shipflow": __version__}
    try:
        binary = find_terraform(settings.terraform_bin)
        tf = Terraform(
            workdir=settings.stacks_root,
            binary=binary,
            timeout=60,
            pass_env=parse_pass_env(settings.terraform_pass_env),
        )
        report["terraform"] = {
            "path": binary.path,
            "origin": binary.origin,
            "version": tf.version(),
            "ignored_environment": list(tf.dropped_env),
            "stack_problems": _stack_problems(settings.stacks_root, tf.version()),
        }
    except ShipflowError as exc:
        report["terraform"] = {"error": str(exc)}
    import prefect
    from prefect.settings import PREFECT_API_URL

    report["prefect"] = {"version": prefect.__version__, "api_url": PREFECT_API_URL.value()}
    tools = ["prometheus", "docker-registry", "buildah", "skopeo", "haproxy", "moto_server"]
    report["tools"] = {name: shutil.which(name) for name in tools}
    problems = report["terraform"].get("stack_problems") or {}
    if as_json:
        emit_json(report)
        if problems:
            raise typer.Exit(EXIT_ERROR)
        return
    table = Table(title="shipflow doctor", show_header=True)
    table.add_column("part")
    table.add_column("what shipflow uses")
    tf_info = report["terraform"]
    table.add_row(
        "terraform",
        tf_info.get("error")
        or f"{tf_info['version']} at {tf_info['path']} (from {tf_info['origin']})",
    )
    table.add_row(
        "prefect", f"{prefect.__version__}, API {report['prefect']['api_url'] or '(ephemeral)'}"
    )
    for stack, lines in problems.items():
        table.add_row(f"[red]stack {stack}[/]", escape("; ".join(lines)))
    if tf_info.get("ignored_environment"):
        names = ", ".join(tf_info["ignored_environment"])
        table.add_row(
            "ignored", f"{names} (never passed to Terraform; SHIPFLOW_TERRAFORM_PASS_ENV)"
        )
    for name, path in report["tools"].items():
        table.add_row(name, path or "[yellow]not installed[/] (see README: scripts/bootstrap)")
    console.print(table)
    if problems:
        raise typer.Exit(EXIT_ERROR)


def _stack_problems(root: Path, version: str) -> dict[str, list[str]]:
    """What each stack under ``root`` needs that Terraform ``version`` lacks."""
    from shipflow.adapters.stacks import find_stacks, read_stack
    from shipflow.core.stacks import version_problems

    if not root.is_dir():
        return {}
    found: dict[str, list[str]] = {}
    stacks, _ = find_stacks(root)
    for path in stacks:
        problems = version_problems(version, read_stack(path))
        if problems:
            found[str(path.relative_to(root)) if path != root else "."] = problems
    return found


def _worker_doctor(repos: list[str], pool: str, as_json: bool) -> None:
    from shipflow.deployments.doctor import worker_checks

    checks = worker_checks(repos, pool)
    missing = [c for c in checks if not c.ok]
    if as_json:
        emit_json(
            {
                "ok": not missing,
                "checks": [
                    {"name": c.name, "ok": c.ok, "detail": c.detail, "fix": c.fix} for c in checks
                ],
            }
        )
    else:
        table = Table(title="shipflow doctor --worker", show_lines=True)
        for column in ("check", "", "found", "fix"):
            # fold, not "…": a fix is a command or a variable name to copy whole
            table.add_column(column, overflow="fold")
        for c in checks:
            mark = "[green]ok[/]" if c.ok else "[bold red]MISSING[/]"
            # found and fix quote stderr and Python: brackets in them are text, not markup
            table.add_row(escape(c.name), mark, escape(c.detail), escape(c.fix))
        console.print(table)
        if missing:
            names = ", ".join(c.name for c in missing)
            console.print(f"[bold red]{len(missing)} missing:[/] {names}", highlight=False)
    if missing:
        raise typer.Exit(EXIT_ERROR)
