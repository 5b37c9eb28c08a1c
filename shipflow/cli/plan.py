"""`shipflow plan`: a deployment plan and Kubernetes manifests for an app spec and a strategy."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import httpx
import typer

from shipflow.cli._app import (
    EXIT_ERROR,
    EXIT_USAGE,
    JsonOpt,
    VerboseOpt,
    app,
    console,
    emit_json,
    err,
    fail,
)
from shipflow.cli._generate import DryRunOpt, ForceOpt, refuse_existing

if TYPE_CHECKING:
    from shipflow.core.app_spec import AppSpec
    from shipflow.core.strategies import StrategyName

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
    run: Annotated[
        bool,
        typer.Option(
            "--run",
            help="Then start the strategy's flow with the plan's parameters: a run of its "
            "deployment on the Prefect server (prints the run's URL), or --local.",
        ),
    ] = False,
    deployment: Annotated[
        str | None,
        typer.Option(
            "--deployment",
            help="With --run: the deployment to run, FLOW/NAME or NAME (default: the packaged "
            "one `shipflow deploy` creates: promote_canary/promote-canary, blue_green/blue-green, "
            "rolling/rolling, ramp_feature_flag/ramp-feature-flag).",
        ),
    ] = None,
    local: Annotated[
        bool,
        typer.Option("--local", help="With --run: run the flow in this process, to its end."),
    ] = False,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Write a deployment plan (plan.md, plan.json: steps, holds, checks, rollback, cost, time
    to promote, worst-case time to roll back) and the strategy's Kubernetes manifests.

    With --run it then hands the plan to the strategy's flow (promote_canary, blue_green,
    rolling, ramp_feature_flag) with the plan's parameters: the spec's app, image, namespace
    and SLO, the strategy's default policy, and the names of the plan's objects. By default
    that is a run of the deployment on the Prefect server (PREFECT_API_URL, else the running
    sandbox's); a worker of its pool runs it. --local runs it here instead, to its end (exit 1
    unless it completes). Nothing is written or started when the server does not answer or
    the deployment does not exist (exit 1). --run never combines with --dry-run (exit 64).
    The cluster is the worker's (or this shell's) KUBECONFIG; a feature-flag plan ramps the
    flag <name>-new-feature in the ConfigMap <name>-flags (the image is the one the plan's
    Deployment runs).

    Example: `shipflow plan web.yaml --strategy canary --run` (after `shipflow deploy`), or
    `shipflow plan web.yaml --strategy rolling --run --local`."""
    import yaml

    from shipflow.core.app_spec import AppSpec
    from shipflow.core.app_spec import recommend as pick
    from shipflow.core.validation import validated
    from shipflow.errors import ConfigError
    from shipflow.generators.files import write_files
    from shipflow.generators.manifests import render

    if strategy is not None and strategy not in STRATEGIES:
        raise fail(f"strategy: {strategy!r} is not one of {', '.join(STRATEGIES)}", EXIT_USAGE)
    if run and dry_run:
        raise fail("--run: a --dry-run starts nothing; give one or the other", EXIT_USAGE)
    if (local or deployment) and not run:
        raise fail(f"{'--local' if local else '--deployment'}: only with --run", EXIT_USAGE)
    if local and deployment:
        raise fail("--local: runs the flow here, not a deployment; drop --deployment", EXIT_USAGE)
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
    chosen = cast("StrategyName", strategy or advice.strategy)
    files = render(spec, chosen)
    out = Path(output) if output else Path(spec.name)
    if out.exists() and not out.is_dir():
        raise fail(f"output: {out} is not a directory", EXIT_USAGE)
    written: list[Path] = []
    if not dry_run:
        refuse_existing(files, out, force)
    starter = _RunStarter(spec, chosen, deployment, local) if run else None
    if not dry_run:
        written = write_files(files, out, force=force)
    started = starter.start(quiet=as_json) if starter else None
    if as_json:
        emit_json(
            {
                "strategy": chosen,
                "recommendation": advice.model_dump() if recommend else None,
                "plan": files[Path("plan.json")],
                "files": sorted(str(p) for p in files),
                "written": [str(w) for w in written],
                "run": started,
            }
        )
        if started and started.get("state") not in (None, "COMPLETED"):
            raise typer.Exit(EXIT_ERROR)
        return
    if recommend:
        console.print(f"recommended: {advice.strategy}", markup=False, highlight=False)
        for reason in advice.reasons:
            console.print(f"  - {reason}", markup=False, highlight=False)
    if dry_run or verbose:
        console.print(files[Path("plan.md")], markup=False, highlight=False)
    what = "would write" if dry_run else "wrote"
    console.print(f"{chosen}: {what} {len(files)} files in {out}", markup=False, highlight=False)
    if started is None:
        return
    if "url" in started:
        # soft_wrap: the URL stays on one line, whatever the terminal's width
        console.print(
            f"started {started['deployment']}: {started['url']}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return
    console.print(
        f"{started['state']}: {started['message']}", markup=False, highlight=False, soft_wrap=True
    )
    if started["state"] != "COMPLETED":
        raise typer.Exit(EXIT_ERROR)


class _RunStarter:
    """What ``--run`` starts, checked before anything is written: a Prefect server that
    answers and, unless --local, the deployment on it."""

    def __init__(
        self, spec: AppSpec, strategy: StrategyName, deployment: str | None, local: bool
    ) -> None:
        from shipflow.cli._inputs import approval_ui
        from shipflow.deployments import rollouts
        from shipflow.deployments.api import prefect_api_url
        from shipflow.errors import ShipflowError

        self.spec, self.strategy, self.local = spec, strategy, local
        # The flows may pause for a person in the UI (and hold slots on the server): a run
        # on a temporary server could never be answered, so --local needs one too.
        self.ui, self.api = approval_ui()
        self.api_url = self.api or prefect_api_url()
        self.parameters = rollouts.plan_parameters(spec, strategy)
        self.found = None
        if not local:
            try:
                with self._server():
                    name = deployment or rollouts.default_deployment(strategy)
                    self.found = rollouts.find_deployment(name, strategy)
            except ShipflowError as exc:
                raise fail(str(exc), EXIT_ERROR) from None
            except httpx.HTTPError as exc:
                raise self._refused(exc) from None
            self.name = name if "/" in name else f"{rollouts.strategy_flow(strategy).name}/{name}"

    def _refused(self, exc: httpx.HTTPError) -> typer.Exit:
        """One line for an answer of the Prefect API that is not the one asked for (401, a
        parameter the deployment's schema refuses, the server gone since the health check)."""
        if isinstance(exc, httpx.HTTPStatusError):
            detail = exc.response.text.replace("\n", " ")[:300]
            why = f"answered {exc.response.status_code}: {detail}"
        else:
            why = f"does not answer ({type(exc).__name__})"
        return fail(f"the Prefect API at {self.api_url} {why}", EXIT_ERROR)

    def _server(self) -> AbstractContextManager[object]:
        from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL, temporary_settings

        return temporary_settings(
            updates={PREFECT_API_URL: self.api, PREFECT_UI_URL: None} if self.api else {}
        )

    def start(self, quiet: bool) -> dict[str, Any]:
        from shipflow.deployments import rollouts

        parameters = rollouts.as_json(self.parameters)
        with self._server():
            if self.found is not None:
                try:
                    flow_run = rollouts.start_deployment_run(self.found.id, parameters)
                except httpx.HTTPError as exc:
                    raise self._refused(exc) from None
                url = f"{self.ui}/runs/flow-run/{flow_run.id}"
                return {
                    "deployment": self.name,
                    "flow_run_id": str(flow_run.id),
                    "url": url,
                    "parameters": parameters,
                }
            if not quiet:
                err.print(f"[dim]·[/] running {self.strategy} here; follow it at {self.ui}")
            state = rollouts.run_here(self.strategy, self.parameters)
        return {
            "flow_run_id": str(state.state_details.flow_run_id),
            "state": state.type.value,
            "message": state.message,
            "parameters": parameters,
        }
