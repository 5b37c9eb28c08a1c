"""`shipflow terraform …`: the Terraform flows from the command line."""

from __future__ import annotations

from typing import Annotated

import typer

from shipflow.cli._app import EXIT_USAGE, JsonOpt, app, console, emit_json, err, fail
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
