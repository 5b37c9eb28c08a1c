"""`shipflow lint`: the anti-patterns reviewers look for, over a tree of files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shipflow.cli._app import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    JsonOpt,
    VerboseOpt,
    app,
    console,
    emit_json,
    fail,
)

SKIP = {".git", ".venv", "node_modules", ".terraform", "__pycache__"}


def _files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    out = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not SKIP.intersection(path.relative_to(root).parts):
            out.append(path)
    return out


@app.command()
def lint(
    path: Annotated[str, typer.Argument(help="A file or a tree to check.")] = ".",
    sarif_out: Annotated[
        bool, typer.Option("--sarif", help="Print a SARIF 2.1.0 log (code-scanning UIs).")
    ] = False,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Find mutable images, containers without limits, secrets in env literals and image
    layers, one Terraform state for everything, local state in production roots, and deploys
    without an approval gate, in manifests, Dockerfiles, Terraform roots and CI workflows.

    Exit 1 when anything is found, 0 when nothing is.
    """
    from shipflow.core.lint import (
        Finding,
        lint_dockerfile,
        lint_manifest,
        lint_terraform_root,
        lint_workflow,
        sarif,
    )

    root = Path(path)
    if not root.exists():
        raise fail(f"path: {path} does not exist", EXIT_USAGE)
    base = root if root.is_dir() else root.parent
    findings: list[Finding] = []
    checked = 0
    roots: dict[Path, list[Path]] = {}
    for file in _files(root):
        rel = file.relative_to(base).as_posix()
        name = file.name
        try:
            if (
                name == "Dockerfile"
                or name.startswith("Dockerfile.")
                or name.endswith(".Dockerfile")
            ):
                findings += lint_dockerfile(rel, file.read_text(errors="replace"))
            elif name.endswith(".tf"):
                roots.setdefault(file.parent, []).append(file)
                continue
            elif name.endswith((".yml", ".yaml")):
                text = file.read_text(errors="replace")
                if ".github/workflows/" in f"/{rel}" or name == ".gitlab-ci.yml":
                    findings += lint_workflow(rel, text)
                elif "apiVersion" in text and "kind" in text:
                    findings += lint_manifest(rel, text)
                else:
                    continue
            else:
                continue
        except OSError as exc:
            raise fail(f"{rel}: cannot read: {exc}") from exc
        checked += 1
    for directory, tf_files in sorted(roots.items()):
        # a root is a directory with a backend, a provider or a terraform block; modules are not
        text = "\n".join(f.read_text(errors="replace") for f in tf_files)
        if "modules" in directory.relative_to(base).parts:
            continue
        rel = directory.relative_to(base).as_posix() or "."
        findings += lint_terraform_root(rel, text)
        checked += 1
    if sarif_out:
        emit_json(sarif(findings))
    elif as_json:
        emit_json(
            {
                "checked": checked,
                "findings": [{**f.model_dump(), "fix": f.fix} for f in findings],
            }
        )
    else:
        for f in findings:
            where = f"{f.path}:{f.line}" if f.line else f.path
            console.print(f"{where}: {f.rule} {f.message}", markup=False, highlight=False)
            console.print(f"  fix: {f.fix}", markup=False, highlight=False)
        if verbose or not findings:
            console.print(f"{checked} files checked, {len(findings)} findings")
    raise typer.Exit(EXIT_ERROR if findings else EXIT_OK)
