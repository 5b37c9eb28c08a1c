"""``shipflow.toml``: which services a repository holds and how each is released.

```toml
[services.web]
image = { context = "services/web", repository = "registry.example.com/shop/web" }
stack = "infra/web"                  # optional: a Terraform root applied before the rollout
strategy = "canary"                  # canary | blue-green | rolling | feature-flag
app = "web"                          # the Kubernetes Deployment (default: the service name)
namespace = "shop"
router = { kind = "gateway" }
target = "kubernetes"                # or "local": processes behind HAProxy (the sandbox)
policy = { check_interval_seconds = 30 }   # the named strategy's policy, checked field by field
slo = { objective = 0.999 }          # optional: no deployment while the error budget is spent
flags = { config_map = "flags" }     # feature-flag: where the flagd definition is written
```
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from shipflow.core.canary import CanaryPolicy
from shipflow.core.flags import FlagLocation
from shipflow.core.slo import SLO
from shipflow.core.strategies import (
    POLICIES,
    BlueGreenPolicy,
    FeatureFlagPolicy,
    RollingPolicy,
    StrategyName,
)
from shipflow.core.validation import validated
from shipflow.errors import ConfigError


def _inside(path: str) -> str:
    """A path inside the repository: relative, and never climbing out with ``..``."""
    parts = PurePosixPath(path).parts
    if not path or path.startswith(("/", "\\")) or ".." in parts or ":" in path:
        raise ValueError(f"{path!r} must be a relative path inside the repository, without '..'")
    return path


RepoPath = Annotated[str, AfterValidator(_inside)]


class ImageSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    context: RepoPath
    repository: str
    dockerfile: RepoPath = "Dockerfile"


class RouterConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["gateway", "istio", "nginx", "replicas"] = "gateway"
    name: str | None = None


Policy = CanaryPolicy | BlueGreenPolicy | RollingPolicy | FeatureFlagPolicy


class ServiceConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    image: ImageSpec
    stack: RepoPath | None = None
    strategy: StrategyName = "canary"
    target: Literal["kubernetes", "local"] = Field(
        default="kubernetes",
        description="Where the app runs: Kubernetes, or local processes behind HAProxy.",
    )
    app: str | None = None
    namespace: str = "default"
    router: RouterConfig = RouterConfig()
    policy: Policy = Field(
        default_factory=CanaryPolicy, description="The strategy's policy (default: its defaults)."
    )
    slo: SLO | None = None
    flags: FlagLocation | None = None
    paths: tuple[str, ...] = Field(
        default=(), description="Release only when a changed path starts with one of these."
    )

    @model_validator(mode="before")
    @classmethod
    def _policy_of_the_strategy(cls, data: Any) -> Any:
        """The policy block is read as the named strategy's policy (the default one if absent);
        parse_repo_config has already named any bad field in it."""
        if isinstance(data, dict):
            strategy = data.get("strategy", "canary")
            model = POLICIES.get(strategy) if isinstance(strategy, str) else None
            raw = data.get("policy")
            if model is not None and not isinstance(raw, model):
                data = {**data, "policy": model.model_validate(raw or {})}
        return data

    @model_validator(mode="after")
    def _flags_for_feature_flags(self) -> ServiceConfig:
        if self.strategy == "feature-flag" and self.flags is None:
            raise ValueError("strategy feature-flag needs flags = { config_map = ... } or file")
        if self.target == "local" and self.strategy != "canary":
            raise ValueError(
                f'target "local" runs the canary strategy only, not {self.strategy} '
                '(use target = "kubernetes")'
            )
        return self


class Selection(BaseModel):
    """The services a merge releases, and why."""

    model_config = ConfigDict(frozen=True)

    services: tuple[str, ...]
    reason: str


class RepoConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    services: dict[str, ServiceConfig]

    def select(self, changed_paths: Sequence[str] | None) -> Selection:
        """The services a merge that changed ``changed_paths`` releases.

        Paths unknown (None or empty: a merge always changes something, so no paths means
        the forge did not say) release every service. Otherwise a service is released when
        it has no ``paths`` filter or a changed path starts with one of its prefixes.
        """
        names = sorted(self.services)
        if not changed_paths:
            return Selection(services=tuple(names), reason="paths unknown: releasing all services")
        chosen = tuple(
            n
            for n in names
            if not self.services[n].paths
            or any(p.startswith(prefix) for p in changed_paths for prefix in self.services[n].paths)
        )
        return Selection(
            services=chosen,
            reason=f"{len(chosen)} of {len(names)} services touched by "
            f"{len(changed_paths)} changed path(s)",
        )

    def affected(self, changed_paths: Sequence[str] | None) -> list[str]:
        """Services to release for a merge that changed ``changed_paths`` (see select)."""
        return list(self.select(changed_paths).services)


def parse_repo_config(text: str) -> RepoConfig:
    """Parse and validate; a bad field is a ConfigError naming it (``services.web.strategy``)."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("shipflow.toml", f"not valid TOML: {exc}") from None
    if not data.get("services"):
        raise ConfigError("services", "shipflow.toml declares no [services.<name>] table")
    services = data["services"]
    if isinstance(services, dict):
        for name, service in services.items():
            if not isinstance(service, dict):
                continue
            strategy = service.get("strategy", "canary")
            if not isinstance(strategy, str) or strategy not in POLICIES:
                continue  # the model names the field, after the ones before it
            # Field by field against the named strategy's policy, so a field of another
            # strategy's policy is named as unknown here, not silently ignored.
            validated(
                POLICIES[strategy], service.get("policy") or {}, prefix=f"services.{name}.policy"
            )
    return validated(RepoConfig, data)
