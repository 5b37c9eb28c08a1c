"""The rollout strategies besides the canary ladder, as policies (flow parameters: forms in the
UI), and the rules they share.

Every strategy judges the new version with the same analysis (:class:`AnalysisPolicy`, the
step machine of :mod:`shipflow.core.steps`) and rolls back the same way: on a failed check, on
too many checks that could not measure, and when its run crashes or is cancelled.

| strategy | cost | rollback |
|---|---|---|
| rolling | 1x (plus max_surge) | minutes: the previous pod template rolls out again |
| blue-green | 2x during the release | seconds: the Service selects the old colour again |
| canary | about 1.1x | seconds: the route sends everything to stable |
| feature-flag | 1x | instant: the flag's fraction goes back to 0 |
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from shipflow.core.analysis import AnalysisPolicy
from shipflow.core.canary import DEFAULT_STEPS, CanaryPolicy, Step

StrategyName = Literal["canary", "blue-green", "rolling", "feature-flag"]
STRATEGY_NAMES: tuple[StrategyName, ...] = ("canary", "blue-green", "rolling", "feature-flag")

_SURGE = re.compile(r"^(\d+)%?$")


class BlueGreenPolicy(AnalysisPolicy):
    """Blue-green: the idle colour gets the new image, is checked, and takes all traffic in one
    Service patch; it is watched for a hold and the old colour scaled down after a delay."""

    pre_promotion_seconds: float = Field(
        default=0,
        ge=0,
        description="Analysis of the idle colour through the preview Service before the "
        "switch (against the active colour). 0: none.",
    )
    post_promotion_seconds: float = Field(
        default=300, ge=0, description="Watch the new colour this long after the switch."
    )
    scale_down_delay_seconds: float = Field(
        default=30, ge=0, description="Keep the old colour running this long after the hold."
    )
    progress_deadline_seconds: float = Field(
        default=600, gt=0, description="How long the idle colour may take to become ready."
    )
    active_service: str | None = Field(default=None, description="Default: the app's name.")
    preview_service: str | None = Field(default=None, description="Default: <app>-preview.")


def _surge(value: int | str, name: str) -> int | str:
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{name} must be a count >= 0 or a percentage such as '25%'")
        return value
    found = _SURGE.match(value)
    if not found or (value.endswith("%") and int(found.group(1)) > 100):
        raise ValueError(f"{name} {value!r} is not a count or a percentage such as '25%'")
    return value if value.endswith("%") else int(value)


class RollingPolicy(AnalysisPolicy):
    """Rolling update: the Deployment's own rollout, watched by the analysis (new pods' version
    label against the old ones'), rolled back by restoring the previous pod template."""

    max_surge: int | str = Field(default="25%", description="Extra pods during the rollout.")
    max_unavailable: int | str = Field(
        default=0, description="Pods that may be missing during the rollout."
    )
    progress_deadline_seconds: float = Field(
        default=600, gt=0, description="The rollout must complete within this, or roll back."
    )
    hold_seconds: float = Field(
        default=300, ge=0, description="Watch the new version this long once it is complete."
    )

    @field_validator("max_surge")
    @classmethod
    def _max_surge(cls, value: int | str) -> int | str:
        return _surge(value, "max_surge")

    @field_validator("max_unavailable")
    @classmethod
    def _max_unavailable(cls, value: int | str) -> int | str:
        return _surge(value, "max_unavailable")

    def surge_pair(self) -> tuple[int | str, int | str]:
        """(maxSurge, maxUnavailable); both 0 would never progress, so that is refused here."""
        if self.max_surge in (0, "0%") and self.max_unavailable in (0, "0%"):
            raise ValueError("max_surge and max_unavailable cannot both be 0")
        return self.max_surge, self.max_unavailable


class FeatureFlagPolicy(CanaryPolicy):
    """The canary ladder on a feature flag's percentage instead of traffic weights: every user
    runs the same image, and the flag's fractional targeting turns the feature on for the
    step's share of them. Checks compare the flag's variants (``on`` vs ``off``)."""

    flag: str = Field(default="new-feature", min_length=1, description="The flag's key.")
    on_variant: str = Field(default="on", description="Variant served to the ramp's share.")
    off_variant: str = Field(default="off", description="Variant served to everyone else.")
    steps: tuple[Step, ...] = Field(default=DEFAULT_STEPS, description="Percentages below 100.")


POLICIES: dict[str, type[AnalysisPolicy]] = {
    "canary": CanaryPolicy,
    "blue-green": BlueGreenPolicy,
    "rolling": RollingPolicy,
    "feature-flag": FeatureFlagPolicy,
}

_LABEL_VALUE = re.compile(r"[^A-Za-z0-9_.-]+")


def version_for(image: str) -> str:
    """A pod label value naming the version an image reference holds: the digest's first 12
    hex digits (``sha256-0123456789ab``), else the tag, else ``latest``. At most 63 characters,
    starting and ending with a letter or digit, as Kubernetes requires."""
    name, _, digest = image.partition("@")
    if digest:
        algo, _, hex_ = digest.partition(":")
        value = f"{algo}-{hex_[:12]}"
    else:
        last = name.rsplit("/", 1)[-1]
        value = last.partition(":")[2] or "latest"
    value = _LABEL_VALUE.sub("-", value)[:63].strip("-_.")
    return value or "unknown"
