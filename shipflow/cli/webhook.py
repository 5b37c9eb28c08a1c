"""`shipflow webhook …`: the merge webhook receiver."""

from __future__ import annotations

from typing import Annotated

import typer

from shipflow.cli._app import app

webhook_app = typer.Typer(help="The merge webhook receiver (GitHub, GitLab, generic HMAC).")
app.add_typer(webhook_app, name="webhook")


@webhook_app.command("serve")
def webhook_serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8787,
) -> None:
    """Serve POST /hooks/github, /hooks/gitlab, /hooks/generic and GET /healthz.

    Secrets come from the environment: SHIPFLOW_WEBHOOK_GITHUB_SECRET,
    SHIPFLOW_WEBHOOK_GITLAB_TOKEN, SHIPFLOW_WEBHOOK_GENERIC_SECRET (a forge left unset answers
    404). A verified merge to the default branch becomes the Prefect event
    shipflow.git.merged on PREFECT_API_URL; a redelivery does not make a second one.
    """
    from shipflow.deployments.webhook import serve

    serve(host, port)
