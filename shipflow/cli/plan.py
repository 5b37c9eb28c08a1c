"""`shipflow plan`: a deployment plan and Kubernetes manifests for an app spec and a strategy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shipflow.cli._app import EXIT_USAGE, JsonOpt, VerboseOpt, app, console, emit_json, fail
from shipflow.cli._generate import DryRunOpt, ForceOpt, refuse_existing

STRATEGIES = ("rolling", "blue-green", "canary", "feature-flag")


@app.command()
def plan(
    app_spec: Annotated[str, typer.Argument(help="The app spec (YAML or JSON).")],
    strategy: Annotated[
        str | None,
        typer.Option(help="rolling, blue-green, canary or feature-flag (default: recommended)."),
    ] = None,
    recommend: Annotated[
        bool, typer.Option("--recommend", help="Pick a strategy and say why, per criterion.")
    ] = False,
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Where to write (default: ./<name>).")
    ] = None,
    force: ForceOpt = False,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Write a deployment plan (plan.md, plan.json: steps, holds, checks, rollback, cost, time
    to promote, worst-case time to roll back) and the strategy's Kubernetes manifests."""
    import yaml

    from shipflow.core.app_spec import AppSpec
    from shipflow.core.app_spec import recommend as pick
    from shipflow.core.validation import validated
    from shipflow.errors import ConfigError
    from shipflow.generators.files import write_files
    from shipflow.generators.manifests import render

    if strategy is not None and strategy not in STRATEGIES:
        raise fail(f"strategy: {strategy!r} is not one of {', '.join(STRATEGIES)}", EXIT_USAGE)
    source = Path(app_spec)
    if not source.is_file():
        raise fail(f"app_spec: {app_spec} is not a file", EXIT_USAGE)
    try:
        data = yaml.safe_load(source.read_text())
        spec = validated(AppSpec, data, prefix="app_spec")
    except yaml.YAMLError as exc:
        raise fail(f"app_spec: not valid YAML: {exc}", EXIT_USAGE) from exc
    except ConfigError as exc:
        raise fail(str(exc), EXIT_USAGE) from exc
    advice = pick(spec)
    chosen = strategy or advice.strategy
    files = render(spec, chosen)  # type: ignore[arg-type]
    out = Path(output) if output else Path(spec.name)
    if out.exists() and not out.is_dir():
        raise fail(f"output: {out} is not a directory", EXIT_USAGE)
    written: list[Path] = []
    if not dry_run:
        refuse_existing(files, out, force)
        written = write_files(files, out, force=force)
    if as_json:
        emit_json(
            {
                "strategy": chosen,
                "recommendation": advice.model_dump() if recommend else None,
                "plan": files[Path("plan.json")],
                "files": sorted(str(p) for p in files),
                "written": [str(w) for w in written],
            }
        )
        return
    if recommend:
        console.print(f"recommended: {advice.strategy}", markup=False, highlight=False)
        for reason in advice.reasons:
            console.print(f"  - {reason}", markup=False, highlight=False)
    if dry_run or verbose:
        console.print(files[Path("plan.md")], markup=False, highlight=False)
    what = "would write" if dry_run else "wrote"
    console.print(f"{chosen}: {what} {len(files)} files in {out}", markup=False, highlight=False)
