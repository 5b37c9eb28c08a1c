"""shipflow's automations on the Prefect server: dead runs are noticed and cleaned up.

- **Crash runs whose heartbeats stopped** — Prefect's documented "zombie flows" automation for
  self-hosted servers (docs.prefect.io, "Detect zombie flows"): after a heartbeat, expect
  another heartbeat or a final state within ``crashed_after_seconds``; otherwise mark the run
  Crashed. Only runs tagged ``shipflow`` are watched: they heartbeat every 30 s (the
  deployments set ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``), while other runs on the server may
  use Prefect's default of 180 s and must not be crashed for it. ``Cancelling`` also answers
  a heartbeat, so that a run cancelled after its worker died ends Cancelled, not Crashed.
- **Finish cancelling runs whose worker is gone** — a cancel is confirmed by the worker that
  runs the flow; with the worker gone the run would stay Cancelling for ever. After
  ``cancel_confirm_seconds`` without a final state it is marked Cancelled.

The third piece, "reconcile a crashed or cancelled canary", is a trigger of the
``reconcile-canary`` deployment (prefect.yaml), created with the deployments.

Automations are found by name and updated in place, so running ``shipflow deploy`` again
changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.events.actions import ChangeFlowRunState
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification

from shipflow.core.liveness import DeadRunPolicy

WATCHED_TAG = "shipflow"
FINAL = ("Completed", "Failed", "Cancelled", "Crashed")

ZOMBIE = "shipflow: crash runs whose heartbeats stopped"
STUCK_CANCEL = "shipflow: finish cancelling runs whose worker is gone"


def _runs() -> ResourceSpecification:
    return ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]})


def _tagged() -> ResourceSpecification:
    return ResourceSpecification(
        {"prefect.resource.role": "tag", "prefect.resource.id": f"prefect.tag.{WATCHED_TAG}"}
    )


def zombie_runs(policy: DeadRunPolicy) -> AutomationCore:
    """Mark a shipflow run Crashed when its heartbeats stop."""
    return AutomationCore(
        name=ZOMBIE,
        description=(
            f"A run tagged {WATCHED_TAG!r} heartbeats every {policy.heartbeat_seconds}s; "
            f"{policy.crashed_after_seconds}s without a heartbeat or a final state means its "
            "process is gone (worker killed, node lost): mark it Crashed, which also starts "
            "reconcile-canary for a canary run."
        ),
        trigger=EventTrigger(
            match=_runs(),
            match_related=_tagged(),
            after={"prefect.flow-run.heartbeat"},
            expect={
                "prefect.flow-run.heartbeat",
                "prefect.flow-run.Cancelling",
                *(f"prefect.flow-run.{s}" for s in FINAL),
            },
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=policy.crashed_after_seconds),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message=(
                    f"no heartbeat for {policy.crashed_after_seconds}s: the flow process is gone "
                    "(its worker was killed or its machine lost); marked Crashed by shipflow's "
                    "automation. A canary run's traffic is taken back by reconcile-canary; "
                    "re-push the commit (or run it again) to release it."
                ),
            )
        ],
    )


def stuck_cancellations(policy: DeadRunPolicy) -> AutomationCore:
    """Mark a shipflow run Cancelled when no worker confirms its cancellation."""
    return AutomationCore(
        name=STUCK_CANCEL,
        description=(
            f"A cancel is confirmed by the run's worker; {policy.cancel_confirm_seconds}s "
            "without a final state means that worker is gone: mark the run Cancelled (a "
            "canary run's traffic is then taken back by reconcile-canary)."
        ),
        trigger=EventTrigger(
            match=_runs(),
            match_related=_tagged(),
            after={"prefect.flow-run.Cancelling"},
            expect={f"prefect.flow-run.{s}" for s in FINAL},
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=policy.cancel_confirm_seconds),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CANCELLED,
                message=(
                    f"cancellation not confirmed within {policy.cancel_confirm_seconds}s: the "
                    "run's worker is gone; marked Cancelled by shipflow's automation"
                ),
            )
        ],
    )


def shipflow_automations(policy: DeadRunPolicy) -> list[AutomationCore]:
    return [zombie_runs(policy), stuck_cancellations(policy)]


def normalised(value: Any) -> Any:
    """Sets come back from the server as lists in any order: compare them sorted."""
    if isinstance(value, dict):
        return {k: normalised(v) for k, v in value.items() if k != "id"}
    if isinstance(value, list):
        items = [normalised(v) for v in value]
        return sorted(items) if all(isinstance(i, str) for i in items) else items
    return value


def _comparable(automation: AutomationCore) -> Any:
    return normalised(
        automation.model_dump(
            mode="json", include={"name", "description", "enabled", "trigger", "actions"}
        )
    )


def apply_automations(policy: DeadRunPolicy, say: Callable[[str, str], None]) -> None:
    """Create each automation, or update the one of the same name; ``say(what, outcome)``."""
    with get_client(sync_client=True) as client:
        for wanted in shipflow_automations(policy):
            found = client.read_automations_by_name(wanted.name)
            if not found:
                client.create_automation(wanted)
                say(f"automation {wanted.name!r}", "created")
                continue
            first, *extra = found
            for duplicate in extra:  # made by hand, or by two deploys at once
                client.delete_automation(duplicate.id)
            if _comparable(first) == _comparable(wanted) and not extra:
                say(f"automation {wanted.name!r}", "unchanged")
                continue
            client.update_automation(first.id, wanted)
            say(f"automation {wanted.name!r}", "updated")
