"""`shipflow terraform …`: the Terraform flows from the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from shipflow.cli._app import (
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    JsonOpt,
    app,
    console,
    emit_json,
    err,
    fail,
)
from shipflow.cli._inputs import approval_ui, stack_dir, var_files

terraform_app = typer.Typer(help="Terraform flows: plan, approve in the Prefect UI, apply.")
app.add_typer(terraform_app, name="terraform")


@terraform_app.command("release")
def terraform_release_cmd(
    stack: Annotated[
        str, typer.Argument(help="Root module directory (or relative to SHIPFLOW_STACKS_ROOT).")
    ],
    var_file: Annotated[
        list[str] | None,
        typer.Option("--var-file", help="A .tfvars file in the stack; repeatable."),
    ] = None,
    approval_timeout: Annotated[
        int, typer.Option(help="Seconds to wait for approval in the UI.")
    ] = 3600,
    auto_approve: Annotated[bool, typer.Option(help="Apply without the approval pause.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Run terraform_release: plan, pause for approval in the Prefect UI, apply that plan.

    The run pauses with an approval form in the Prefect UI (approve, approver, comment);
    nothing is applied unless it is approved, and a plan whose state moved is refused. The
    Prefect server is PREFECT_API_URL's, else the sandbox's (`shipflow sandbox up`); with
    neither, it refuses to start (a pause nobody can answer), unless --auto-approve.
    """
    path = stack_dir(stack)
    var_files(path, var_file or [])
    if approval_timeout <= 0:
        raise fail("--approval-timeout: must be a positive number of seconds", EXIT_USAGE)
    override = None
    if not auto_approve:
        ui, override = approval_ui()
        err.print(f"[dim]·[/] the plan will wait for approval in the Prefect UI at {ui}")
    from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL, temporary_settings

    from shipflow.flows.terraform_release import terraform_release

    updates = {PREFECT_API_URL: override, PREFECT_UI_URL: None} if override else {}
    with temporary_settings(updates=updates):
        state = terraform_release(
            stack=stack,
            var_files=var_file or [],
            approval_timeout=approval_timeout,
            auto_approve=auto_approve,
            return_state=True,
        )
    outcome = {"state": state.type.value, "message": state.message}
    if as_json:
        emit_json(outcome)
    else:
        console.print(f"[bold]{state.type.value}[/]: {state.message}")
    if not state.is_completed():
        raise typer.Exit(1)


@terraform_app.command("review")
def terraform_review_cmd(
    plan: Annotated[
        str,
        typer.Argument(help="`terraform show -json PLANFILE` output: a file, or - for stdin."),
    ] = "-",
    schema: Annotated[
        Path | None,
        typer.Option(
            "--schema",
            help="`terraform providers schema -json` output: tells maps from objects and sets "
            "from lists in attribute paths.",
        ),
    ] = None,
    stack: Annotated[str | None, typer.Option(help="The name in the review's title.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Review a saved plan the way the approval form shows it: markdown, or --json.

    Exit 0: no changes; 2: changes (imports and moves included); 1: the plan failed or is
    incomplete (it can never be applied), or the input is not a Terraform JSON plan. Values
    never appear, only attribute paths, so the review can be posted on a pull request.
    """
    from shipflow.core.plan_paths import shapes_from_schemas
    from shipflow.core.plan_review import review_json, review_markdown
    from shipflow.core.plans import parse_plan
    from shipflow.errors import ConfigError

    if plan != "-" and not Path(plan).is_file():
        raise fail(f"plan: {plan} is not a file", EXIT_USAGE)
    if schema is not None and not schema.is_file():
        raise fail(f"--schema: {schema} is not a file", EXIT_USAGE)
    source = "stdin" if plan == "-" else plan
    doc = _read_json(sys.stdin.read() if plan == "-" else Path(plan).read_text(), source)
    shapes = shapes_from_schemas(_read_json(schema.read_text(), str(schema))) if schema else {}
    try:
        summary = parse_plan(doc, shapes)
    except ConfigError as exc:
        raise fail(f"{source}: not a Terraform JSON plan: {exc}", EXIT_ERROR) from None
    if as_json:
        emit_json(review_json(summary))
    else:
        name = stack or ("stdin" if plan == "-" else Path(plan).stem)
        sys.stdout.write(review_markdown(summary, stack=name))
    if not summary.approvable:
        raise typer.Exit(EXIT_ERROR)
    raise typer.Exit(EXIT_CHANGES if summary.has_changes else EXIT_OK)


def _read_json(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail(
            f"{source}: not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})",
            EXIT_ERROR,
        ) from None
