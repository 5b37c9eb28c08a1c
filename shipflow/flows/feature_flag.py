"""ramp_feature_flag: the canary ladder on a feature flag's percentage, behind the same step
machine; a failed check sets the flag back to 0 %."""

from __future__ import annotations

from contextlib import suppress
from functools import partial
from typing import Any

from prefect import Flow, flow, get_run_logger
from prefect.client.schemas.objects import FlowRun, State
from prefect.states import Completed, Failed

from shipflow.adapters.flags import ConfigMapFlagStore, FileFlagStore, FlagStore
from shipflow.adapters.kubernetes import ClusterTarget, api_client
from shipflow.adapters.prometheus import MetricsTarget
from shipflow.core.analysis import Measurement
from shipflow.core.flags import FlagLocation
from shipflow.core.slo import SLO, BudgetOverride
from shipflow.core.steps import Rollback
from shipflow.core.strategies import FeatureFlagPolicy
from shipflow.errors import AdapterError
from shipflow.flows.watching import watch_step
from shipflow.tasks.common import emit, ensure_limit, flush_events, hold_limit
from shipflow.tasks.slo import gate
from shipflow.tasks.strategies import Target, measure_version, publish_checks, set_flag


def flag_store(location: FlagLocation, cluster: ClusterTarget) -> FlagStore:
    if location.file is not None:
        return FileFlagStore(location.file)
    assert location.config_map is not None
    return ConfigMapFlagStore(
        api_client(cluster), cluster.namespace, location.config_map, location.key
    )


def _target(
    app: str, flag: str, cluster: ClusterTarget | None, metrics: MetricsTarget | None
) -> Target:
    return Target(
        strategy="feature-flag",
        app=app,
        image=f"flag:{flag}",
        cluster=cluster or ClusterTarget(),
        metrics=metrics or MetricsTarget(app=app),
    )


def _flag_off_hook(flow: Flow[..., Any], flow_run: FlowRun, state: State[Any]) -> None:
    """on_crashed / on_cancellation: the flag goes back to 0 %."""
    p = flow_run.parameters
    policy = FeatureFlagPolicy.model_validate(p.get("policy") or {})
    cluster = ClusterTarget.model_validate(p["cluster"]) if p.get("cluster") else ClusterTarget()
    target = _target(p["app"], policy.flag, cluster, None)
    store = flag_store(FlagLocation.model_validate(p["flags"]), cluster)
    with suppress(AdapterError, OSError):
        set_flag.fn(target, store, policy.flag, policy.on_variant, policy.off_variant, 0)
    outcome = state.type.value.lower()
    emit(
        "shipflow.feature_flag.rolled_back",
        target.resource_id,
        payload={"flag": policy.flag, "outcome": outcome, "reason": f"flow run {outcome}"},
    )
    flush_events()


@flow(name="ramp_feature_flag", on_crashed=[_flag_off_hook], on_cancellation=[_flag_off_hook])
def ramp_feature_flag(
    app: str,
    flags: FlagLocation,
    policy: FeatureFlagPolicy | None = None,
    cluster: ClusterTarget | None = None,
    metrics: MetricsTarget | None = None,
    slo: SLO | None = None,
    budget_override: BudgetOverride | None = None,
) -> State[Any]:
    """Turn ``policy.flag`` on for the ladder's share of users, step by step, then for all.

    Each step writes the flag's OpenFeature flagd definition (fractional targeting: ``on`` for
    the step's percentage, ``off`` for the rest) and judges the users on ``on`` against those
    on ``off`` every check interval, by the canary's rules: the app labels its metrics with
    the variant it served (``metrics.definitions.version_label``, e.g. ``variant``;
    ``metrics.canary_version``/``stable_version`` default to the policy's variants). A failed
    step sets the flag back to 0 %; after the last step ``on`` becomes the default.

    Args:
        app: The metrics' app label.
        flags: Where the flagd definition lives (a ConfigMap key or a file).
        policy: The flag, its variants, the ladder and the analysis limits.
        cluster: Namespace and kubeconfig (for a ConfigMap).
        metrics: Prometheus and labels.
        slo: With an SLO, nothing starts while its error budget is spent.
        budget_override: Ramp although the budget is spent (who approved it, recorded).
    """
    logger = get_run_logger()
    policy = policy or FeatureFlagPolicy()
    target = _target(app, policy.flag, cluster, metrics)
    gate(target.metrics, slo, budget_override, namespace=target.cluster.namespace)
    store = flag_store(flags, target.cluster)
    on, off = policy.on_variant, policy.off_variant
    slot = ensure_limit(f"shipflow-flag-{target.key}-{policy.flag}")
    history: list[Measurement] = []

    def publish(rows: list[Measurement]) -> None:
        publish_checks(target, rows)

    with hold_limit(slot, wait_seconds=30, lease_seconds=60):
        percent = 0
        try:
            for index, step in enumerate(policy.steps):
                percent = set_flag(target, store, policy.flag, on, off, step.weight)
                logger.info(
                    "Step %s: flag %s on for %s %% of users (%s) for %ss",
                    index + 1,
                    policy.flag,
                    percent,
                    store.describe(),
                    step.hold_seconds,
                )
                verdict = watch_step(
                    f"Flag {policy.flag} at {percent} %",
                    partial(measure_version, target, policy, on, off, percent),
                    policy,
                    step.hold_seconds,
                    history,
                    publish,
                )
                if isinstance(verdict, Rollback):
                    set_flag(target, store, policy.flag, on, off, 0)
                    emit(
                        "shipflow.feature_flag.rolled_back",
                        target.resource_id,
                        payload={"flag": policy.flag, "percent": percent, "reason": verdict.reason},
                    )
                    return Failed(
                        message=f"flag {policy.flag} back to 0 % from {percent} %: "
                        f"{verdict.outcome}: {verdict.reason}"
                    )
        except Exception as exc:
            set_flag(target, store, policy.flag, on, off, 0)
            logger.error("Flag %s back to 0 %%: error: %s", policy.flag, exc)
            raise
        set_flag(target, store, policy.flag, on, off, 100)
    message = f"flag {policy.flag} is on for every user of {app} ({store.describe()})"
    logger.info(message)
    return Completed(message=message)
