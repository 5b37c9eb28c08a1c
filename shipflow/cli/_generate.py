"""What the generator commands share: where to write, --dry-run diffs, the all-or-nothing write."""

from __future__ import annotations

import difflib
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from shipflow.cli._app import EXIT_USAGE, emit_json, err, fail

OutputOpt = Annotated[
    str | None,
    typer.Option("--output", "-o", help="Where to write, inside PATH (default: PATH)."),
]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite existing files.")]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Print the file list and a diff; write nothing.")
]


def target_dirs(path: str, output: str | None) -> tuple[Path, Path]:
    """(project root, output directory); the output must lie inside the project."""
    root = Path(path)
    if not root.is_dir():
        raise fail(f"path: {path} is not a directory", EXIT_USAGE)
    root = root.resolve()
    out = (root / output).resolve() if output else root
    if out != root and root not in out.parents:
        raise fail(f"output: {output} is outside the target {root}", EXIT_USAGE)
    if out.exists() and not out.is_dir():
        raise fail(f"output: {output} is not a directory", EXIT_USAGE)
    return root, out


def refuse_existing(files: Mapping[Path, str], out: Path, force: bool) -> None:
    """One line and exit 64 when a file exists and --force was not given (nothing written)."""
    if force:
        return
    existing = [str(out / p) for p in files if (out / p).exists()]
    if existing:
        more = f" ({len(existing) - 1} more exist)" if len(existing) > 1 else ""
        raise fail(f"output: {existing[0]} exists; use --force to overwrite{more}", EXIT_USAGE)


def diff(files: Mapping[Path, str], out: Path) -> str:
    """A unified diff of what writing ``files`` into ``out`` would change."""
    chunks: list[str] = []
    for relative, content in sorted(files.items()):
        target = out / relative
        before = target.read_text(errors="replace") if target.is_file() else ""
        chunks.extend(
            difflib.unified_diff(
                before.splitlines(keepends=True),
                content.splitlines(keepends=True),
                fromfile=f"a/{relative}" if target.exists() else "/dev/null",
                tofile=f"b/{relative}",
            )
        )
    return "".join(chunks)


def finish(
    files: Mapping[Path, str],
    out: Path,
    *,
    force: bool,
    dry_run: bool,
    as_json: bool,
    payload: dict[str, Any],
    summary: str,
    notes: Sequence[str] = (),
    verbose: bool = False,
) -> None:
    """Write (or, with --dry-run, show) ``files``; print a summary or the JSON ``payload``."""
    from shipflow.errors import ShipflowError
    from shipflow.generators.files import write_files

    if not dry_run:  # a dry run shows what would be overwritten instead
        refuse_existing(files, out, force)
    written: list[Path] = []
    if not dry_run:
        try:
            written = write_files(files, out, force=force)
        except ShipflowError as exc:
            raise fail(str(exc)) from exc
    if as_json:
        emit_json(
            {
                **payload,
                "files": [{"path": str(p), "content": c} for p, c in sorted(files.items())],
                "written": [str(w) for w in written],
                "dry_run": dry_run,
                "notes": list(notes),
            }
        )
        return
    if verbose or dry_run:
        for note in notes:
            err.print(f"note: {note}", markup=False, highlight=False)
    # Plain writes: paths and diffs must not be wrapped to the terminal's width.
    if dry_run:
        lines = [f"{summary} (dry run: nothing written)"]
        for relative in sorted(files):
            state = "overwrite" if (out / relative).exists() else "create"
            lines.append(f"  {state} {out / relative}")
        sys.stdout.write("\n".join(lines) + "\n" + diff(files, out))
        return
    sys.stdout.write("\n".join([summary, *(f"  wrote {w}" for w in written)]) + "\n")
