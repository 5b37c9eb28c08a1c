"""The ``shipflow`` command: parse, call, print (rich) or ``--json``.

This is the top layer: it may start flows (``shipflow demo``, ``shipflow terraform release``),
so it imports from ``deployments`` and ``flows``; nothing imports it. Heavy imports (Prefect)
happen inside the commands that need them, so ``shipflow --help`` stays fast.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import asdict
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from shipflow import __version__
from shipflow.errors import ShipflowError

app = typer.Typer(
    name="shipflow",
    help=(
        "Release engineering as Prefect flows: Terraform plan → approval in the Prefect UI → "
        "apply of exactly that plan; canary promotion with Prometheus analysis; drift; images.\n\n"
        "Start with `shipflow doctor` (what shipflow will use on this machine) and "
        "`shipflow demo` (a whole release on local services)."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
terraform_app = typer.Typer(help="Terraform flows: plan, approve in the Prefect UI, apply.")
app.add_typer(terraform_app, name="terraform")
webhook_app = typer.Typer(help="The merge webhook receiver (GitHub, GitLab, generic HMAC).")
app.add_typer(webhook_app, name="webhook")

console = Console()
err = Console(stderr=True, soft_wrap=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON only.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Say more about each step.")]


def _emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


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
        _emit_json(report)
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
    nothing is applied unless it is approved, and a plan whose state moved is refused.
    """
    from shipflow.flows.terraform_release import terraform_release

    state = terraform_release(
        stack=stack,
        var_files=var_file or [],
        approval_timeout=approval_timeout,
        auto_approve=auto_approve,
        return_state=True,
    )
    outcome = {"state": state.type.value, "message": state.message}
    if as_json:
        _emit_json(outcome)
    else:
        console.print(f"[bold]{state.type.value}[/]: {state.message}")
    if not state.is_completed():
        raise typer.Exit(1)


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
    from shipflow.flows.detect_drift import detect_drift

    state = detect_drift(stacks=paths, max_parallel=max_parallel, return_state=True)
    if state.is_failed():
        raise _fail(state.message or "drift scan failed")
    reports: list[dict[str, Any]] = state.result()  # type: ignore[assignment]
    if as_json:
        _emit_json(reports)
    else:
        table = Table(title=f"drift: {state.message}")
        for column in ("stack", "status", "drifted (attributes)", "pending", "seconds"):
            table.add_column(column)
        colours = {"clean": "green", "drifted": "red", "pending": "yellow", "error": "magenta"}
        for r in reports:
            drifted = "\n".join(
                f"{d['address']} ({', '.join(d['changed_attributes']) or d['action']})"
                for d in r["drifted"]
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


@app.command()
def dockerfile(
    path: Annotated[str, typer.Argument(help="The project to containerise.")] = ".",
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Where to write (default: PATH).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing Dockerfile.")] = False,
    show: Annotated[bool, typer.Option("--print", help="Print instead of writing.")] = False,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Write a production Dockerfile and .dockerignore for the stack found in PATH.

    Detects node (package.json), go (go.mod), java (pom.xml) and python (pyproject.toml or
    requirements.txt). The result is multi-stage, copies dependency manifests before the
    sources (cache hits), runs as a non-root user, has a HEALTHCHECK and pins its base images.
    """
    from pathlib import Path

    from shipflow.generators.dockerfile import MARKERS, detect, render
    from shipflow.generators.files import write_files

    root = Path(path)
    if not root.is_dir():
        raise _fail(f"path: {path} is not a directory")
    names = {n for _, markers in MARKERS for n in markers} | {
        "package-lock.json",
        "npm-shrinkwrap.json",
        "go.sum",
    }
    manifests = {n: (root / n).read_text(errors="replace") for n in names if (root / n).is_file()}
    try:
        spec = detect(manifests)
        files = render(spec)
        if show:
            written: list[Path] = []
        else:
            written = write_files(files, Path(output) if output else root, force=force)
    except ShipflowError as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        _emit_json(
            {
                "stack": spec.stack,
                "files": {str(k): v for k, v in files.items()},
                "written": [str(w) for w in written],
            }
        )
        return
    if show:
        console.print(files[Path("Dockerfile")], markup=False, highlight=False)
        return
    console.print(f"{spec.stack} project: wrote {', '.join(str(w) for w in written)}")
    if verbose:
        console.print(files[Path("Dockerfile")], markup=False, highlight=False)


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


@app.command()
def demo(
    keep: Annotated[
        bool, typer.Option(help="Leave the local services running afterwards.")
    ] = False,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Run a whole release on local services: image, infrastructure, canary.

    Starts on 127.0.0.1 a Prefect server, moto (S3 state), a registry, Prometheus with a
    metrics app and the sandbox Kubernetes API; then releases a merge of an example repo:
    build_and_push → terraform_release (approved through the Prefect API as a reviewer
    would in the UI) → promote_canary 5 → 25 → 50 → 100 % with live analysis.
    """
    from shipflow.deployments.demo import run_demo

    def say(line: str) -> None:
        if not as_json:
            err.print(f"[dim]·[/] {line}")

    try:
        result = run_demo(say, keep=keep)
    except ShipflowError as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        _emit_json(asdict(result))
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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
