"""The canary ladder: the steps a canary climbs, on top of the analysis every step runs."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shipflow.core.analysis import AnalysisPolicy


class Step(BaseModel):
    """One rung of the ladder: send ``weight`` % of traffic to the canary, watch for ``hold``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weight: int = Field(gt=0, lt=100, description="Percent of traffic on the canary (1-99).")
    hold_seconds: float = Field(ge=0, description="How long to watch this weight.")


DEFAULT_STEPS = (
    Step(weight=5, hold_seconds=600),
    Step(weight=25, hold_seconds=600),
    Step(weight=50, hold_seconds=900),
)


class CanaryPolicy(AnalysisPolicy):
    """How a canary climbs and when it is rolled back (a flow parameter: a form in the UI).

    The default is the ladder DevOps teams use: 5 % (hold 10 min) → 25 % (10 min) → 50 %
    (15 min) → 100 %, each step judged by the analysis rules of :class:`AnalysisPolicy`.
    """

    steps: tuple[Step, ...] = Field(default=DEFAULT_STEPS, description="Weights below 100 %.")
    progress_deadline_seconds: float = Field(
        default=600, gt=0, description="How long a Deployment rollout may take."
    )
    post_promotion_seconds: float = Field(
        default=0,
        ge=0,
        description="Watch the promoted version at 100 % this long (absolute limits only); "
        "a failure restores the previous image. 0: no watch.",
    )

    @field_validator("steps")
    @classmethod
    def _ladder(cls, steps: tuple[Step, ...]) -> tuple[Step, ...]:
        if not steps:
            raise ValueError("the ladder needs at least one step below 100 %")
        for i in range(1, len(steps)):
            if steps[i].weight <= steps[i - 1].weight:
                raise ValueError(
                    f"weights must rise: steps[{i}].weight={steps[i].weight} is not above "
                    f"steps[{i - 1}].weight={steps[i - 1].weight}"
                )
        return steps
