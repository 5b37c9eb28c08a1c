"""`shipflow version` and `shipflow doctor`: what shipflow would use on this machine."""

from __future__ import annotations

import shutil
from typing import Any

from rich.table import Table

from shipflow import __version__
from shipflow.cli._app import JsonOpt, app, console, emit_json
from shipflow.errors import ShipflowError


@app.command()
def version() -> None:
    """Print shipflow's version."""
    console.print(__version__)


@app.command()
def doctor(as_json: JsonOpt = False) -> None:
    """Report which Terraform, Prefect API and local tools shipflow would use here."""
    from shipflow.adapters.terraform import Terraform, find_terraform
    from shipflow.settings import load_settings

    settings = load_settings()
    report: dict[str, Any] = {"shipflow": __version__}
    try:
        binary = find_terraform(settings.terraform_bin)
        tf = Terraform(workdir=settings.stacks_root, binary=binary, timeout=60)
        report["terraform"] = {
            "path": binary.path,
            "origin": binary.origin,
            "version": tf.version(),
        }
    except ShipflowError as exc:
        report["terraform"] = {"error": str(exc)}
    import prefect
    from prefect.settings import PREFECT_API_URL

    report["prefect"] = {"version": prefect.__version__, "api_url": PREFECT_API_URL.value()}
    tools = ["prometheus", "docker-registry", "buildah", "skopeo", "haproxy", "moto_server"]
    report["tools"] = {name: shutil.which(name) for name in tools}
    if as_json:
        emit_json(report)
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
    for name, path in report["tools"].items():
        table.add_row(name, path or "[yellow]not installed[/] (see README: scripts/bootstrap)")
    console.print(table)
