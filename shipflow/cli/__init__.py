"""The ``shipflow`` command: parse, call, print (rich) or ``--json``.

This is the top layer: it may start flows (``shipflow demo``, ``shipflow terraform release``),
so it imports from ``shipflow.deployments`` and ``shipflow.flows``; nothing imports it. One
module per command or command group; each registers itself on the app in ``_app``. Heavy
imports (Prefect) happen inside the commands that need them, so ``shipflow --help`` stays fast.
"""

from __future__ import annotations

import sys

import typer
from typer import rich_utils

# typer 0.29 carries its own copy of click; its usage errors are these classes, not click's
# (pyproject pins typer below 0.30 for this import).
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

from shipflow.cli import (
    demo,
    deploy,
    diagnose,
    dockerfile,
    doctor,
    drift,
    monitor,
    pipeline,
    sandbox,
    scaffold,
    terraform,
    webhook,
)
from shipflow.cli._app import EXIT_OK, EXIT_USAGE, app, err

__all__ = ["app", "main"]
_COMMANDS = (
    demo,
    deploy,
    diagnose,
    dockerfile,
    doctor,
    drift,
    monitor,
    pipeline,
    sandbox,
    scaffold,
    terraform,
    webhook,
)


def main() -> None:
    """Run the command; usage mistakes exit 64 (click's own 2 means "changes found" here)."""
    try:
        code = app(standalone_mode=False)
    except NoArgsIsHelpError as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    except UsageError as exc:
        rich_utils.rich_format_error(exc)
        sys.exit(EXIT_USAGE)
    except ClickException as exc:
        rich_utils.rich_format_error(exc)
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        err.print("interrupted")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else EXIT_OK)
