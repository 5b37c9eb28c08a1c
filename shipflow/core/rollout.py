"""Rules about Deployments and traffic weights: when a rollout is complete, when it is stuck, and
how a percentage becomes replicas or route weights."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from shipflow.errors import ConfigError


class RolloutStatus(BaseModel):
    """What a Deployment says about its rollout (``spec.replicas``, ``metadata.generation`` and
    ``status``), read by the adapter."""

    model_config = ConfigDict(frozen=True)

    desired: int
    generation: int = 0
    observed_generation: int = 0
    replicas: int = 0
    updated: int = 0
    available: int = 0
    deadline_exceeded: str | None = None  # the Progressing condition's message, when it says so


def rollout_complete(s: RolloutStatus) -> bool:
    """Complete as ``kubectl rollout status`` judges it: the controller has seen the latest
    spec (observed generation) and updated, available and current replicas all equal the
    desired count."""
    return (
        s.observed_generation >= s.generation
        and s.updated == s.desired
        and s.available == s.desired
        and s.replicas == s.desired
    )


def rollout_problem(s: RolloutStatus) -> str | None:
    """Why the rollout will not complete (``ProgressDeadlineExceeded``), or None. A Deployment
    scaled to zero has nothing left to progress, whatever its last condition said; and a
    condition the controller wrote before it saw the latest spec (observed generation behind)
    speaks of the previous rollout — a canary re-deployed after a failed one is not failed."""
    if s.desired == 0 or s.observed_generation < s.generation:
        return None
    return s.deadline_exceeded


def scaled_down(s: RolloutStatus) -> bool:
    """Scaled to zero and no pod left (the controller has seen the scale-down), whether or not
    its last rollout ever completed."""
    return (
        s.desired == 0
        and s.observed_generation >= s.generation
        and s.replicas == 0
        and s.available == 0
    )


def check_weight(weight: int) -> None:
    if not 0 <= weight <= 100:
        raise ConfigError("weight", f"{weight} is not a percentage (0-100)")


def replicas_for(weight: int, total: int) -> int:
    """Canary replicas out of ``total`` for ``weight`` %: the nearest share, at least 1 when the
    weight is above 0, and at least one stable pod until 100 %."""
    check_weight(weight)
    if weight == 0:
        return 0
    if weight == 100:
        return total
    return min(total - 1, max(1, round(total * weight / 100)))


def share(canary: float, stable: float) -> int:
    """The canary's share in percent of two weights (or replica counts); 0 when both are 0."""
    total = canary + stable
    return round(100 * canary / total) if total > 0 else 0
