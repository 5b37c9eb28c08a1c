"""`shipflow pipeline`: a CI/CD pipeline from the analysis of a project."""

from __future__ import annotations

from typing import Annotated

import typer

from shipflow.cli._app import EXIT_USAGE, JsonOpt, VerboseOpt, app, emit_json, fail
from shipflow.cli._generate import DryRunOpt, ForceOpt, OutputOpt, finish, target_dirs
from shipflow.errors import ShipflowError


@app.command()
def pipeline(
    path: Annotated[str, typer.Argument(help="The project to analyse.")] = ".",
    platform: Annotated[
        str | None,
        typer.Option(help="github-actions, gitlab-ci, jenkins or circleci."),
    ] = None,
    branch: Annotated[str, typer.Option(help="The branch that releases.")] = "main",
    environments: Annotated[
        str, typer.Option(help="Environments in promotion order; the last needs an approval.")
    ] = "staging,production",
    registry: Annotated[
        str | None, typer.Option(help="Image prefix, e.g. registry.example.com/shop.")
    ] = None,
    shipflow_deployment: Annotated[
        str | None,
        typer.Option(
            help="Hand the production deploy to this Prefect deployment (e.g. release/release)."
        ),
    ] = None,
    analyse_only: Annotated[
        bool, typer.Option("--analyse", help="Print the analysis only (with --json: as JSON).")
    ] = False,
    output: OutputOpt = None,
    force: ForceOpt = False,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Write a CI/CD pipeline for the project in PATH.

    Reads the project (languages and versions from its manifests, the package manager from its
    lockfile, its scripts, the services its tests need, Dockerfiles, charts, Terraform,
    monorepo packages) and writes a pipeline: lint → unit tests over the declared versions →
    integration tests; dependency audit and IaC scan in parallel; on BRANCH the image is built
    once (tagged with the commit sha), scanned, and deployed by digest to each environment,
    the last one behind a manual approval. --verbose says where the repository's own CI
    disagrees with its manifests (the manifests win).
    """
    from shipflow.generators.detect import analyse, scan
    from shipflow.generators.pipeline import (
        OUTPUT_PATH,
        PLATFORMS,
        PipelineOptions,
        plan_pipeline,
        render_pipeline,
    )

    root, out = target_dirs(path, output)
    if not analyse_only:
        if platform is None:
            raise fail(f"platform: required, one of {', '.join(PLATFORMS)}", EXIT_USAGE)
        if platform not in PLATFORMS:
            raise fail(f"platform: {platform!r} is not one of {', '.join(PLATFORMS)}", EXIT_USAGE)
    envs = tuple(e.strip() for e in environments.split(",") if e.strip())
    if not envs or len(set(envs)) != len(envs):
        raise fail(f"environments: {environments!r} must name distinct environments", EXIT_USAGE)
    try:
        analysis = analyse(scan(root), name=root.name)
    except ShipflowError as exc:
        raise fail(str(exc), EXIT_USAGE) from exc
    notes = [*analysis.notes, *(f"{c.file}: {c.disagreement}" for c in analysis.ci)]
    if analyse_only:
        if as_json:
            emit_json(analysis.model_dump(mode="json"))
        else:
            from shipflow.cli._app import console

            console.print_json(analysis.model_dump_json())
            for note in notes:
                console.print(f"note: {note}", markup=False, highlight=False)
        return
    options = PipelineOptions(
        platform=platform,  # type: ignore[arg-type]  # checked against PLATFORMS above
        branch=branch,
        environments=envs,
        registry=registry,
        shipflow_deployment=shipflow_deployment,
    )
    plan = plan_pipeline(analysis, options)
    files = render_pipeline(plan)
    languages = ", ".join(analysis.languages())
    finish(
        files,
        out,
        force=force,
        dry_run=dry_run,
        as_json=as_json,
        payload={"analysis": analysis.model_dump(mode="json"), "platform": platform},
        summary=(
            f"{platform} pipeline for {analysis.name} ({languages}; "
            f"{len(analysis.packages)} package(s), {len(plan.images)} image(s)) → "
            f"{OUTPUT_PATH[platform]}"  # type: ignore[index]
        ),
        notes=[*notes, *plan.notes],
        verbose=verbose,
    )
