"""``shipflow deploy``: everything a Prefect server needs to run shipflow, made idempotently.

1. the work pool (a process pool, created when missing; an existing pool of any type is used);
2. the deployments of ``prefect.yaml`` (shipped in this package), with their schedules and
   triggers, as module-path entrypoints without pull steps: a worker needs shipflow installed
   and nothing of this repository;
3. shipflow's automations (:mod:`shipflow.deployments.automations`).

Every deployment's runs heartbeat every ``DeadRunPolicy.heartbeat_seconds``: the value is
written into its job variables' environment, whatever worker runs it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from typing import Any, Literal, cast

import yaml
from prefect import Flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.deployments.runner import RunnerDeployment
from prefect.events import DeploymentTriggerTypes
from prefect.exceptions import ObjectNotFound
from prefect.flows import load_flow_from_entrypoint
from prefect.schedules import Cron
from prefect.types.entrypoint import EntrypointType
from prefect.workers.process import ProcessWorker
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from shipflow.core.liveness import DeadRunPolicy
from shipflow.deployments.automations import apply_automations, normalised
from shipflow.errors import ConfigError

Say = Callable[[str, str], None]

HEARTBEAT_ENV = "PREFECT_FLOWS_HEARTBEAT_FREQUENCY"


class Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cron: str
    timezone: str = "UTC"
    active: bool = True


class WorkPoolRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    work_queue_name: str | None = None
    job_variables: dict[str, Any] = Field(default_factory=dict)


class DeploymentSpec(BaseModel):
    """One entry of ``deployments:`` in prefect.yaml (the keys shipflow uses)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    entrypoint: str
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    parameters: dict[str, Any] = Field(default_factory=dict)
    schedules: list[Schedule] = Field(default_factory=list)
    triggers: list[dict[str, Any]] = Field(default_factory=list)
    work_pool: WorkPoolRef


class Definitions(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    pull: list[Any] | None = None
    deployments: list[DeploymentSpec]


def definitions_text() -> str:
    """prefect.yaml as shipped in the installed package."""
    return resources.files("shipflow.deployments").joinpath("prefect.yaml").read_text()


def load_definitions(text: str | None = None) -> list[DeploymentSpec]:
    """The deployments of prefect.yaml; a bad key is named (``deployments.2.schedules``)."""
    try:
        data = yaml.safe_load(text if text is not None else definitions_text())
        found = Definitions.model_validate(data)
    except yaml.YAMLError as exc:
        raise ConfigError("prefect.yaml", f"not valid YAML: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(
            "prefect.yaml: " + ".".join(str(p) for p in first["loc"]), first["msg"]
        ) from None
    if found.pull:
        raise ConfigError("prefect.yaml: pull", "must be empty: workers import installed shipflow")
    for spec in found.deployments:
        if ":" in spec.entrypoint:
            raise ConfigError(
                f"prefect.yaml: {spec.name}.entrypoint",
                f"{spec.entrypoint!r} must be a module path (package.module.flow), not a file",
            )
    return found.deployments


def ensure_work_pool(name: str, say: Say) -> str:
    """The pool's type; a process pool with Prefect's default job template when missing."""
    with get_client(sync_client=True) as client:
        try:
            pool = client.read_work_pool(name)
        except ObjectNotFound:
            client.create_work_pool(
                WorkPoolCreate(
                    name=name,
                    type="process",
                    base_job_template=ProcessWorker.get_default_base_job_template(),
                    description="shipflow's flows (shipflow deploy)",
                )
            )
            say(f"work pool {name!r} (process)", "created")
            return "process"
    say(f"work pool {name!r} ({pool.type})", "exists")
    return str(pool.type)


def deployment_triggers(spec: DeploymentSpec) -> list[Any]:
    """The triggers prefect.yaml gives ``spec``, as Prefect's trigger models (the sandbox's
    worker serves the same ones)."""
    adapter: TypeAdapter[Any] = TypeAdapter(cast(Any, DeploymentTriggerTypes))
    return [
        adapter.validate_python({"name": f"{spec.name}__automation_{i}", **raw})
        for i, raw in enumerate(spec.triggers, start=1)
    ]


def apply_deployment(
    spec: DeploymentSpec, pool: str, policy: DeadRunPolicy, say: Say
) -> Literal["created", "updated", "unchanged"]:
    """Create or update one deployment (schedules replaced, triggers re-created)."""
    flow: Flow[..., Any] = load_flow_from_entrypoint(spec.entrypoint)
    triggers = deployment_triggers(spec)
    job_variables = dict(spec.work_pool.job_variables)
    job_variables["env"] = {
        **job_variables.get("env", {}),
        HEARTBEAT_ENV: str(policy.heartbeat_seconds),
    }
    deployment = RunnerDeployment.from_flow(
        flow,
        name=spec.name,
        description=spec.description,
        tags=spec.tags,
        parameters=spec.parameters,
        schedules=[Cron(s.cron, timezone=s.timezone, active=s.active) for s in spec.schedules],
        triggers=list(triggers),
        work_pool_name=pool,
        work_queue_name=spec.work_pool.work_queue_name,
        job_variables=job_variables,
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
    if deployment.entrypoint != spec.entrypoint:
        raise ConfigError(
            f"prefect.yaml: {spec.name}.entrypoint",
            f"{spec.entrypoint!r} names the flow {deployment.entrypoint!r}",
        )
    full_name = f"{flow.name}/{spec.name}"
    before = _snapshot(full_name)
    deployment.apply()
    after = _snapshot(full_name)
    outcome: Literal["created", "updated", "unchanged"] = (
        "created" if before is None else "unchanged" if before == after else "updated"
    )
    schedules = f", {len(spec.schedules)} schedule(s)" if spec.schedules else ""
    trig = f", {len(triggers)} trigger(s)" if triggers else ""
    say(f"deployment {flow.name}/{spec.name}{schedules}{trig}", outcome)
    return outcome


def _snapshot(full_name: str) -> dict[str, Any] | None:
    """What a deployment does, as the server holds it (None when it does not exist): the
    fields shipflow sets, its schedules and its triggers (ids aside: triggers are re-created
    on every apply)."""
    with get_client(sync_client=True) as client:
        try:
            found = client.read_deployment_by_name(full_name)
        except ObjectNotFound:
            return None
        owned = client.read_resource_related_automations(f"prefect.deployment.{found.id}")
    fields = found.model_dump(
        mode="json",
        include={
            "description",
            "tags",
            "parameters",
            "entrypoint",
            "work_pool_name",
            "work_queue_name",
            "job_variables",
            "pull_steps",
            "paused",
        },
    )
    fields["pull_steps"] = fields["pull_steps"] or []
    fields["schedules"] = sorted(
        (json.dumps(s.schedule.model_dump(mode="json"), sort_keys=True), s.active)
        for s in found.schedules
    )
    fields["triggers"] = sorted(
        json.dumps(normalised(a.model_dump(mode="json", include={"trigger", "actions"})))
        for a in owned
    )
    return fields


def deploy(
    say: Say, pool: str | None = None, policy: DeadRunPolicy | None = None
) -> list[tuple[str, str]]:
    """Pool, deployments, automations; the (what, outcome) lines said on the way."""
    policy = policy or DeadRunPolicy()
    said: list[tuple[str, str]] = []

    def record(what: str, outcome: str) -> None:
        said.append((what, outcome))
        say(what, outcome)

    specs = load_definitions()
    pools = {pool} if pool else {s.work_pool.name for s in specs}
    for name in sorted(pools):
        ensure_work_pool(name, record)
    for spec in specs:
        apply_deployment(spec, pool or spec.work_pool.name, policy, record)
    apply_automations(policy, record)
    return said
