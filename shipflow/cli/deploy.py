"""`shipflow deploy`: the work pool, the deployments and the automations, on PREFECT_API_URL."""

from __future__ import annotations

from typing import Annotated

import typer

from shipflow.cli._app import EXIT_USAGE, JsonOpt, app, console, emit_json, err, fail


@app.command()
def deploy(
    pool: Annotated[
        str | None,
        typer.Option(help="Work pool for every deployment (default: prefect.yaml's)."),
    ] = None,
    heartbeat: Annotated[
        int, typer.Option(help="Seconds between a run's heartbeats (Prefect's minimum: 30).")
    ] = 30,
    crashed_after: Annotated[
        int, typer.Option(help="Seconds without a heartbeat before a run is marked Crashed.")
    ] = 90,
    cancel_after: Annotated[
        int, typer.Option(help="Seconds a cancel may stay unconfirmed before it is Cancelled.")
    ] = 60,
    as_json: JsonOpt = False,
) -> None:
    """Set up the Prefect server at PREFECT_API_URL for shipflow: pool, deployments, automations.

    Creates or updates the work pool (a process pool when missing), shipflow's deployments
    with their schedules and triggers (module-path entrypoints, no pull steps: workers need
    shipflow installed, not this repository), and shipflow's automations (dead runs marked
    Crashed, stuck cancellations finished; crashed or cancelled canaries reconciled).
    Running it again changes nothing."""
    from shipflow.core.liveness import DeadRunPolicy
    from shipflow.core.validation import validated
    from shipflow.errors import ConfigError

    options = {
        "heartbeat_seconds": heartbeat,
        "crashed_after_seconds": crashed_after,
        "cancel_confirm_seconds": cancel_after,
    }
    try:
        policy = validated(DeadRunPolicy, options, whole="options")
    except ConfigError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    api_url = _reachable_api()

    from shipflow.deployments.production import deploy as apply_all
    from shipflow.errors import ShipflowError

    def say(what: str, outcome: str) -> None:
        if not as_json:
            colour = {"created": "green", "updated": "yellow"}.get(outcome, "dim")
            console.print(f"[{colour}]{outcome:>9}[/]  {what}", highlight=False)

    if not as_json:
        console.print(f"shipflow deploy → {api_url}", highlight=False)
    try:
        said = apply_all(say, pool=pool, policy=policy)
    except ShipflowError as exc:
        raise fail(str(exc)) from None
    if as_json:
        emit_json(
            {
                "api_url": api_url,
                "changes": [{"what": w, "outcome": o} for w, o in said],
                "dead_runs": policy.describe(),
            }
        )
        return
    console.print(f"dead runs: {policy.describe()}", highlight=False)


def _reachable_api() -> str:
    """PREFECT_API_URL, checked to answer (and to accept our credentials) before anything."""
    import httpx

    from shipflow.deployments.api import prefect_api_url, prefect_auth_headers

    url = prefect_api_url()
    if not url:
        raise fail(
            "PREFECT_API_URL is not set: shipflow deploy configures the Prefect server it names",
            EXIT_USAGE,
        )
    try:
        response = httpx.post(
            f"{url}/work_pools/filter",
            json={"limit": 1},
            headers=prefect_auth_headers(),
            timeout=10,
        )
    except httpx.HTTPError as exc:
        raise fail(f"the Prefect API at {url} does not answer ({type(exc).__name__})") from None
    if response.status_code == 401:
        raise fail(f"the Prefect API at {url} refused us (401): set PREFECT_API_AUTH_STRING")
    if response.status_code >= 400:
        err.print(f"warning: {url} answered {response.status_code} to a work-pool query")
    return url
