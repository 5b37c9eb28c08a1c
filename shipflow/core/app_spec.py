"""A small app spec, and what each rollout strategy would do with it: the deployment plan
(steps, holds, checks, rollback, cost, time to promote, worst-case time to roll back) and a
recommendation with one line per criterion.

```yaml
name: web
image: registry.example.com/shop/web:1.4.2
port: 8080
replicas: 4
resources: { cpu: 250m, memory: 256Mi, cpu_limit: "1", memory_limit: 512Mi }
health: { liveness: /livez, readiness: /readyz, startup_seconds: 40 }
slo: { objective: 0.999 }
stateful: false
traffic_rps: 200
```
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shipflow.core.canary import CanaryPolicy
from shipflow.core.slo import SLO
from shipflow.core.strategies import (
    BlueGreenPolicy,
    FeatureFlagPolicy,
    RollingPolicy,
    StrategyName,
)

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class Resources(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    cpu: str = Field(default="100m", description="CPU request.")
    memory: str = Field(default="128Mi", description="Memory request.")
    cpu_limit: str | None = Field(default=None, description="Default: none (no CPU throttling).")
    memory_limit: str | None = Field(default=None, description="Default: the memory request.")


class Health(BaseModel):
    """Health endpoints. Liveness must not check dependencies (a database outage would restart
    every pod); readiness does (a pod that cannot serve leaves the Service)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    liveness: str = "/livez"
    readiness: str = "/readyz"
    startup_seconds: float = Field(
        default=10, ge=0, description="Worst-case start time; above 30 s a startupProbe guards it."
    )


class AppSpec(BaseModel):
    """What ``shipflow plan`` needs to know about an app."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    image: str
    port: int = Field(default=8080, gt=0, lt=65536)
    replicas: int = Field(default=3, ge=1)
    resources: Resources = Resources()
    health: Health = Health()
    slo: SLO | None = None
    stateful: bool = Field(default=False, description="Holds state that two versions share.")
    traffic_rps: float = Field(default=10, ge=0, description="Expected requests per second.")
    namespace: str = "default"

    @field_validator("name")
    @classmethod
    def _dns_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"{value!r} is not a DNS label (lower case letters, digits, '-')")
        return value

    @field_validator("image")
    @classmethod
    def _pinned(cls, value: str) -> str:
        last = value.rsplit("/", 1)[-1]
        if "@" not in value and (":" not in last or last.endswith(":latest")):
            raise ValueError(f"{value!r} is not pinned: give a version tag or a digest")
        return value


STRATEGY_COST = {"rolling": 1.25, "blue-green": 2.0, "canary": 1.1, "feature-flag": 1.0}


class RolloutPlan(BaseModel):
    """What a strategy will do, in numbers a team weighs before choosing it."""

    model_config = ConfigDict(frozen=True)

    app: str
    strategy: StrategyName
    cost_multiplier: float
    steps: tuple[str, ...]
    checks: str
    rollback: str
    expected_promote_seconds: float
    worst_rollback_seconds: float


def plan_rollout(spec: AppSpec, strategy: StrategyName) -> RolloutPlan:
    """The plan of ``strategy`` for ``spec`` with that strategy's default policy."""
    start = max(spec.health.startup_seconds, 10)
    checks = (
        "every {:g} s: error rate against the baseline (2x, floor 1 %, ceiling 5 %) and P99 "
        "(500 ms, 1.5x the baseline's), judged only with enough requests"
    )
    if strategy == "canary":
        p = CanaryPolicy()
        steps = tuple(f"{s.weight} % of traffic for {s.hold_seconds:g} s" for s in p.steps)
        steps += ("100 %: stable takes the image",)
        promote = sum(s.hold_seconds for s in p.steps) + 2 * start
        return RolloutPlan(
            app=spec.name,
            strategy=strategy,
            cost_multiplier=STRATEGY_COST[strategy],
            steps=steps,
            checks=checks.format(p.check_interval_seconds),
            rollback="route weight back to 0 % (seconds)",
            expected_promote_seconds=promote,
            worst_rollback_seconds=p.check_interval_seconds + 5,
        )
    if strategy == "blue-green":
        b = BlueGreenPolicy()
        return RolloutPlan(
            app=spec.name,
            strategy=strategy,
            cost_multiplier=STRATEGY_COST[strategy],
            steps=(
                f"idle colour: {spec.replicas} pods with the new image, wait ready",
                "switch the Service selector (one patch)",
                f"watch {b.post_promotion_seconds:g} s at 100 %",
                f"scale the old colour down after {b.scale_down_delay_seconds:g} s",
            ),
            checks=checks.format(b.check_interval_seconds) + " (absolute limits after the switch)",
            rollback="Service selector back to the old colour (seconds)",
            expected_promote_seconds=start + b.post_promotion_seconds + b.scale_down_delay_seconds,
            worst_rollback_seconds=b.check_interval_seconds + 5,
        )
    if strategy == "rolling":
        r = RollingPolicy()
        waves = max(1, -(-spec.replicas // max(1, round(spec.replicas * 0.25))))
        return RolloutPlan(
            app=spec.name,
            strategy=strategy,
            cost_multiplier=STRATEGY_COST[strategy],
            steps=(
                f"replace pods in {waves} waves (maxSurge {r.max_surge}, maxUnavailable "
                f"{r.max_unavailable})",
                f"watch {r.hold_seconds:g} s at 100 %",
            ),
            checks=checks.format(r.check_interval_seconds) + " (new pods' version vs old)",
            rollback="restore the previous pod template and roll it out (minutes)",
            expected_promote_seconds=waves * start + r.hold_seconds,
            worst_rollback_seconds=r.progress_deadline_seconds + waves * start,
        )
    f = FeatureFlagPolicy()
    steps = tuple(f"flag on for {s.weight} % of users for {s.hold_seconds:g} s" for s in f.steps)
    return RolloutPlan(
        app=spec.name,
        strategy=strategy,
        cost_multiplier=STRATEGY_COST[strategy],
        steps=("roll the image out with the flag off", *steps, "flag on for everyone"),
        checks=checks.format(f.check_interval_seconds) + " (variant on vs off)",
        rollback="flag fraction back to 0 % (instant, no pods change)",
        expected_promote_seconds=sum(s.hold_seconds for s in f.steps) + 2 * start,
        worst_rollback_seconds=f.check_interval_seconds + 1,
    )


class Recommendation(BaseModel):
    model_config = ConfigDict(frozen=True)

    strategy: StrategyName
    reasons: tuple[str, ...]


def recommend(spec: AppSpec) -> Recommendation:
    """A strategy for ``spec``, one line per criterion (state, traffic, size, SLO).

    Stateful apps roll (two versions against one state is the risk blue-green and canary
    multiply); below 1 request/s a canary's analysis never has the data to judge, so small
    traffic goes blue-green; a tight SLO (99.9 % or more) wants the fastest rollback with live
    analysis, a canary; otherwise a canary too (1.1x cost, seconds to roll back).
    """
    reasons: list[str] = []
    choice: StrategyName
    if spec.stateful:
        choice = "rolling"
        reasons.append(
            "stateful: one version at a time against the shared state, no second full copy"
        )
    else:
        reasons.append("stateless: two versions can serve side by side")
    per_step = spec.traffic_rps * 0.05 * 600  # requests a 5 % step sees in its 10 min hold
    if not spec.stateful:
        if spec.traffic_rps < 1:
            choice = "blue-green"
            reasons.append(
                f"traffic {spec.traffic_rps:g} req/s: a 5 % canary step would see "
                f"{per_step:.0f} requests, too few to judge; blue-green checks the whole version"
            )
        else:
            choice = "canary"
            reasons.append(
                f"traffic {spec.traffic_rps:g} req/s: a 5 % canary step sees {per_step:.0f} "
                "requests in 10 min, enough to judge"
            )
    cost = {"rolling": 1.25, "blue-green": 2.0, "canary": 1.1}[choice]
    reasons.append(f"cost: {cost:g}x the pods during the release ({spec.replicas} replicas)")
    if spec.slo is not None:
        reasons.append(
            f"SLO {spec.slo.objective:.3%}: the release is gated on its error budget, and "
            + (
                "a bad version is rolled back in seconds"
                if choice != "rolling"
                else "a rollback takes minutes: keep maxUnavailable at 0"
            )
        )
    return Recommendation(strategy=choice, reasons=tuple(reasons))
