"""Input checks the commands make before anything starts (no Prefect import, no server): a bad
path is answered in well under a second, in one line, with exit 64."""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from shipflow.cli._app import EXIT_ERROR, EXIT_USAGE, err, fail

NO_UI = "no Prefect UI: set PREFECT_API_URL or run `shipflow sandbox up`"


def stack_dir(stack: str, field: str = "stack") -> Path:
    """The Terraform root module ``stack`` names (absolute, or under SHIPFLOW_STACKS_ROOT)."""
    root = Path(os.environ.get("SHIPFLOW_STACKS_ROOT") or ".")
    path = Path(stack) if Path(stack).is_absolute() else root / stack
    if not path.exists():
        raise fail(f"{field}: {path} does not exist", EXIT_USAGE)
    if not path.is_dir():
        raise fail(f"{field}: {path} is not a directory", EXIT_USAGE)
    if not any(path.glob("*.tf")) and not any(path.glob("*.tf.json")):
        raise fail(f"{field}: {path} holds no *.tf files: not a Terraform root module", EXIT_USAGE)
    return path


def var_files(stack: Path, names: list[str]) -> None:
    for name in names:
        if not (stack / name).is_file():
            raise fail(f"--var-file: {name} is not a file in {stack}", EXIT_USAGE)


def approval_ui() -> tuple[str, str | None]:
    """The Prefect UI where a person approves a paused run, and the API URL this command must
    use when it is not the configured one: the server PREFECT_API_URL (or the Prefect profile)
    names, else the running sandbox's. Refuses when there is none: a pause on a temporary
    server could never be answered."""
    from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL

    api = PREFECT_API_URL.value()
    override = None
    if not api:
        from shipflow.deployments.sandbox.services import load

        sandbox = load()
        if sandbox is None or not all(p.alive() for p in sandbox.processes):
            raise fail(NO_UI, EXIT_ERROR)
        err.print(f"[dim]·[/] using the sandbox's Prefect server ({sandbox.prefect_ui})")
        api = override = sandbox.prefect_api
    ui = (PREFECT_UI_URL.value() if not override else None) or api.rstrip("/").removesuffix("/api")
    try:
        healthy = httpx.get(f"{api.rstrip('/')}/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        healthy = False
    if not healthy:
        raise fail(f"no Prefect server answers at {api} (GET /health)", EXIT_ERROR)
    return ui, override
