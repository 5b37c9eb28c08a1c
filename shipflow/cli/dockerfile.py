"""`shipflow dockerfile`: a production Dockerfile for a project."""

from __future__ import annotations

from typing import Annotated

import typer

from shipflow.cli._app import EXIT_USAGE, JsonOpt, VerboseOpt, app, console, emit_json, fail
from shipflow.cli._generate import refuse_existing
from shipflow.errors import ShipflowError


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

    Uses the project analysis of `shipflow pipeline` (the top-most package): node, go, java
    (Maven) and python. The result is multi-stage, copies dependency manifests before the
    sources (cache hits), runs as a non-root user, has a HEALTHCHECK and pins its base images.
    """
    from pathlib import Path

    from shipflow.generators.detect import analyse, scan
    from shipflow.generators.dockerfile import render, spec_for
    from shipflow.generators.files import write_files

    root = Path(path)
    if not root.is_dir():
        raise fail(f"path: {path} is not a directory", EXIT_USAGE)
    try:
        spec = spec_for(analyse(scan(root), name=root.resolve().name))
        files = render(spec)
        if show:
            written: list[Path] = []
        else:
            out = Path(output) if output else root
            refuse_existing(files, out, force)
            written = write_files(files, out, force=force)
    except ShipflowError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        emit_json(
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
