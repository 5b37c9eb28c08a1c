"""`shipflow scaffold`: Terraform modules and per-environment roots with remote state."""

from __future__ import annotations

from typing import Annotated

import typer

from shipflow.cli._app import EXIT_USAGE, JsonOpt, VerboseOpt, app, fail
from shipflow.cli._generate import DryRunOpt, ForceOpt, finish, target_dirs
from shipflow.errors import ConfigError


@app.command()
def scaffold(
    path: Annotated[str, typer.Argument(help="The repository to scaffold into.")] = ".",
    provider: Annotated[str | None, typer.Option(help="aws, gcp or azure.")] = None,
    env: Annotated[
        str, typer.Option("--env", help="Environments, comma-separated.")
    ] = "staging,production",
    modules: Annotated[
        str, typer.Option(help="Components: network, cluster, database (naming is always in).")
    ] = "network,cluster,database",
    project: Annotated[
        str | None, typer.Option(help="Project name (default: the directory's name).")
    ] = None,
    region: Annotated[str | None, typer.Option(help="Region (location on Azure).")] = None,
    state_bucket: Annotated[
        str | None, typer.Option(help="S3 or GCS bucket of the state (default: PROJECT-tfstate).")
    ] = None,
    state_region: Annotated[str | None, typer.Option(help="Region of the S3 bucket.")] = None,
    dynamodb_table: Annotated[
        str | None,
        typer.Option(
            help="Lock state in this DynamoDB table instead of S3's lockfile (Terraform < 1.11)."
        ),
    ] = None,
    state_resource_group: Annotated[
        str | None, typer.Option(help="Azure: resource group of the state storage account.")
    ] = None,
    state_storage_account: Annotated[
        str | None, typer.Option(help="Azure: storage account holding the state.")
    ] = None,
    gcp_project: Annotated[
        str | None, typer.Option(help="GCP: the Google Cloud project id (default: PROJECT).")
    ] = None,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="Where to write, inside PATH (default: PATH/infra)."),
    ] = None,
    force: ForceOpt = False,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Write Terraform modules and one root per environment and component into PATH/infra.

    Modules: naming (no provider) and, per cloud, network/cluster/database (aws: vpc, eks,
    rds; gcp: vpc, gke, cloudsql; azure: vnet, aks, postgresql-flexible). Each root keeps its
    state remotely under its own key (S3 with use_lockfile, GCS or azurerm; encrypted),
    providers are pinned with ~>, and drift.prefect.yaml points detect_drift at the roots.
    """
    from shipflow.core.names import slug
    from shipflow.generators.scaffold import (
        PROVIDERS,
        ScaffoldSpec,
        render_scaffold,
        scaffold_roots,
        validate_spec,
    )

    root, out = target_dirs(path, output or "infra")
    if provider is None:
        raise fail(f"provider: required, one of {', '.join(PROVIDERS)}", EXIT_USAGE)
    spec = ScaffoldSpec(
        provider=provider,  # type: ignore[arg-type]  # validate_spec checks it
        project=project or slug(root.name),
        environments=tuple(e.strip() for e in env.split(",") if e.strip()),
        components=tuple(m.strip() for m in modules.split(",") if m.strip() and m != "naming"),
        region=region,
        state_bucket=state_bucket,
        state_region=state_region,
        dynamodb_table=dynamodb_table,
        state_resource_group=state_resource_group,
        state_storage_account=state_storage_account,
        gcp_project=gcp_project,
        prefix=out.relative_to(root).as_posix() if out != root else ".",
    )
    try:
        validate_spec(spec)
    except ConfigError as exc:
        raise fail(str(exc), EXIT_USAGE) from exc
    files = render_scaffold(spec)
    roots = list(scaffold_roots(spec))
    finish(
        files,
        out,
        force=force,
        dry_run=dry_run,
        as_json=as_json,
        payload={"provider": provider, "project": spec.project, "roots": roots},
        summary=(
            f"{provider} scaffold for {spec.project}: {len(spec.environments)} environment(s) x "
            f"{len(spec.all_components)} component(s), {len(files)} files"
        ),
        notes=[
            f"state of each root under its own key: {', '.join(roots[:3])}"
            + (", …" if len(roots) > 3 else ""),
            "cloud modules need their provider to run `terraform validate`; "
            "environments/*/naming validates offline",
        ],
        verbose=verbose,
    )
