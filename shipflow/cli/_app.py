"""The ``shipflow`` Typer app and what every command shares: consoles, options, exit codes.

Exit codes (the same for every command): 0 ok, 1 error, 2 changes or drift found, 64 usage
(bad arguments or input, answered before anything starts). Errors are one line on stderr,
never a traceback.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_USAGE = 64

app = typer.Typer(
    name="shipflow",
    help=(
        "Release engineering as Prefect flows: Terraform plan → approval in the Prefect UI → "
        "apply of exactly that plan; canary promotion with Prometheus analysis; drift; images.\n\n"
        "Start with `shipflow doctor` (what shipflow will use on this machine) and "
        "`shipflow demo` (a whole release on local services).\n\n"
        "Exit codes: 0 ok, 1 error, 2 changes or drift found, 64 usage."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

console = Console()
err = Console(stderr=True, soft_wrap=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON only.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Say more about each step.")]


def emit_json(value: Any) -> None:
    """Print ``value`` as JSON on stdout (the only thing on stdout with ``--json``)."""
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def fail(message: str, code: int = EXIT_ERROR) -> typer.Exit:
    """One line on stderr and the exit to raise: ``raise fail("path: … does not exist", 64)``."""
    err.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
    return typer.Exit(code)
