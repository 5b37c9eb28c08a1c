"""``shipflow plan --run``: an app spec's plan handed to its strategy's flow, as a run of a
deployment on the Prefect server or in this process.

The parameters are the plan's: the spec's app, image, namespace and SLO, the strategy's default
policy (the one ``plan.md`` describes), and the names of the objects the plan's manifests
create (the HTTPRoute ``<app>``, the Services ``<app>-stable``/``<app>-canary`` or ``<app>`` and
``<app>-preview``, the flag ConfigMap ``<app>-flags`` with the flag ``<app>-new-feature``).
Cluster credentials are not parameters: the worker's (or this process's) KUBECONFIG applies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from shipflow.adapters.kubernetes import ClusterTarget, RouterSpec
from shipflow.core.app_spec import AppSpec
from shipflow.core.canary import CanaryPolicy
from shipflow.core.flags import FlagLocation
from shipflow.core.strategies import (
    BlueGreenPolicy,
    FeatureFlagPolicy,
    RollingPolicy,
    StrategyName,
)
from shipflow.errors import ConfigError

if TYPE_CHECKING:
    from uuid import UUID

    from prefect import Flow
    from prefect.client.schemas.objects import FlowRun, State
    from prefect.client.schemas.responses import DeploymentResponse

# The flow each strategy hands its plan to (the entrypoints of the packaged prefect.yaml).
ENTRYPOINTS: dict[StrategyName, str] = {
    "canary": "shipflow.flows.promote_canary.promote_canary",
    "blue-green": "shipflow.flows.blue_green.blue_green",
    "rolling": "shipflow.flows.rolling.rolling",
    "feature-flag": "shipflow.flows.feature_flag.ramp_feature_flag",
}


def plan_parameters(spec: AppSpec, strategy: StrategyName) -> dict[str, BaseModel | str]:
    """The parameters of ``strategy``'s flow that carry out the plan of ``spec``.

    The feature-flag strategy ramps the flag only: the image is what the plan's Deployment
    runs (rolled out with the flag off), so the ramp takes no image.
    """
    cluster = ClusterTarget(namespace=spec.namespace)
    params: dict[str, BaseModel | str] = {"app": spec.name}
    if strategy == "feature-flag":
        params["flags"] = FlagLocation(config_map=f"{spec.name}-flags")
        params["policy"] = FeatureFlagPolicy(flag=f"{spec.name}-new-feature")
    else:
        params["image"] = spec.image
        params["policy"] = {
            "canary": CanaryPolicy,
            "blue-green": BlueGreenPolicy,
            "rolling": RollingPolicy,
        }[strategy]()
        if strategy == "canary":
            params["router"] = RouterSpec(kind="gateway", name=spec.name)
    params["cluster"] = cluster
    if spec.slo is not None:
        params["slo"] = spec.slo
    return params


def as_json(parameters: dict[str, BaseModel | str]) -> dict[str, Any]:
    """The parameters as a deployment run carries them (and the UI shows them)."""
    return {
        name: value.model_dump(mode="json") if isinstance(value, BaseModel) else value
        for name, value in parameters.items()
    }


def strategy_flow(strategy: StrategyName) -> Flow[..., Any]:
    from prefect.flows import load_flow_from_entrypoint

    flow: Flow[..., Any] = load_flow_from_entrypoint(ENTRYPOINTS[strategy])
    return flow


def default_deployment(strategy: StrategyName) -> str:
    """``<flow>/<deployment>``: the packaged prefect.yaml's deployment of the strategy's flow,
    as ``shipflow deploy`` creates it."""
    from shipflow.deployments.production import load_definitions

    names = [d.name for d in load_definitions() if d.entrypoint == ENTRYPOINTS[strategy]]
    if not names:
        raise ConfigError("strategy", f"the packaged prefect.yaml has no {strategy} deployment")
    return f"{strategy_flow(strategy).name}/{names[0]}"


def find_deployment(name: str, strategy: StrategyName) -> DeploymentResponse:
    """The deployment ``name`` (``flow/deployment``, or a deployment of the strategy's flow)
    on the Prefect server; refused when it is missing or runs another flow."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    flow_name = strategy_flow(strategy).name
    full = name if "/" in name else f"{flow_name}/{name}"
    with get_client(sync_client=True) as client:
        try:
            found = client.read_deployment_by_name(full)
        except ObjectNotFound:
            raise ConfigError(
                "deployment",
                f"{full!r} does not exist on the Prefect server: run `shipflow deploy`, "
                "or name one with --deployment",
            ) from None
        runs = client.read_flow(found.flow_id).name
    if runs != flow_name:
        raise ConfigError(
            "deployment", f"{full!r} runs the flow {runs!r}, not {flow_name!r} ({strategy})"
        )
    return found


def start_deployment_run(deployment_id: UUID, parameters: dict[str, Any]) -> FlowRun:
    """A run of the deployment with these parameters (a worker of its pool picks it up)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        run: FlowRun = client.create_flow_run_from_deployment(
            deployment_id, parameters=parameters, tags=["shipflow", "shipflow-plan"]
        )
    return run


def run_here(strategy: StrategyName, parameters: dict[str, BaseModel | str]) -> State[Any]:
    """The strategy's flow in this process, to its final state."""
    flow: Any = strategy_flow(strategy)
    state: State[Any] = flow(**parameters, return_state=True)
    return state
