"""The SLO gate every deploy flow passes before it touches anything."""

from __future__ import annotations

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact

from shipflow.adapters.prometheus import MetricsTarget
from shipflow.adapters.sli import read_sli
from shipflow.core.names import slug
from shipflow.core.slo import SLO, BudgetOverride, BudgetVerdict, assess_budget, unreadable_budget
from shipflow.errors import ErrorBudgetSpent, PrometheusError
from shipflow.tasks.canary import prometheus_client
from shipflow.tasks.common import emit, shipflow_task


def budget_resource(namespace: str, app: str) -> str:
    return f"shipflow.slo.{namespace}.{app}"


@shipflow_task(name="check_error_budget")
def check_error_budget(
    metrics: MetricsTarget,
    slo: SLO,
    *,
    resource_id: str,
    override: BudgetOverride | None = None,
) -> BudgetVerdict:
    """Read the SLI over the SLO window (and the burn window) and judge the budget.

    Raises ErrorBudgetSpent, with the numbers, when the budget is spent or cannot be read and
    there is no override. An override that lets a deployment through is recorded in an
    artifact and a ``shipflow.slo.overridden`` event naming who approved it.
    """
    logger = get_run_logger()
    timeout = metrics.timeout_seconds
    try:
        client = prometheus_client(metrics)
        try:
            window = read_sli(
                client, metrics, slo.window_seconds, timeout, slo.latency_threshold_seconds
            )
            burn = read_sli(
                client, metrics, slo.burn_window_seconds, timeout, slo.latency_threshold_seconds
            )
        finally:
            client.close()
    except PrometheusError as exc:
        verdict = unreadable_budget(str(exc), slo, override)
    else:
        verdict = assess_budget(window, burn, slo, override)
    payload = {
        "app": metrics.app,
        "allowed": verdict.allowed,
        "reason": verdict.reason,
        "sli": verdict.sli,
        "budget_remaining": verdict.budget_remaining,
        "burn_rate": verdict.burn_rate,
    }
    if not verdict.allowed:
        logger.error("SLO gate: %s", verdict.reason)
        emit("shipflow.slo.refused", resource_id, payload=payload)
        raise ErrorBudgetSpent(verdict.reason)
    if verdict.overridden_by is not None:
        assert override is not None
        logger.warning("SLO gate: %s", verdict.reason)
        emit(
            "shipflow.slo.overridden",
            resource_id,
            payload={**payload, "approved_by": override.approved_by, "why": override.reason},
        )
        create_markdown_artifact(
            key=f"slo-override-{slug(metrics.app)}",
            markdown=(
                f"# Error budget override for `{metrics.app}`\n\n"
                f"- approved by: **{override.approved_by}**\n"
                f"- why: {override.reason}\n"
                f"- the gate said: {verdict.reason}\n"
            ),
            description=f"Deployed {metrics.app} although the SLO gate refused",
        )
    else:
        logger.info("SLO gate: %s", verdict.reason)
    return verdict


def gate(
    metrics: MetricsTarget,
    slo: SLO | None,
    override: BudgetOverride | None,
    *,
    namespace: str,
) -> BudgetVerdict | None:
    """The gate as a deploy flow calls it first: nothing to check without an SLO."""
    if slo is None:
        get_run_logger().info("No SLO set for %s: the error-budget gate is skipped", metrics.app)
        return None
    return check_error_budget(
        metrics, slo, resource_id=budget_resource(namespace, metrics.app), override=override
    )
