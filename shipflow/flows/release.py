"""release: after a merge, for each affected service: image → infrastructure → rollout."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, tags
from prefect.client.schemas.objects import State
from prefect.runtime import flow_run
from prefect.settings import PREFECT_UI_URL
from prefect.states import Completed, Failed

from shipflow.adapters.kubernetes import ClusterTarget, RouterSpec
from shipflow.adapters.processes import LocalTarget
from shipflow.adapters.prometheus import MetricsTarget
from shipflow.core.canary import CanaryPolicy
from shipflow.core.commits import parse_sha
from shipflow.core.repo_config import ServiceConfig, parse_repo_config
from shipflow.core.strategies import BlueGreenPolicy, FeatureFlagPolicy, RollingPolicy
from shipflow.errors import ConfigError, ErrorBudgetSpent
from shipflow.flows.blue_green import blue_green
from shipflow.flows.build_and_push import build_and_push
from shipflow.flows.crashes import explain_lost_worker
from shipflow.flows.feature_flag import ramp_feature_flag
from shipflow.flows.promote_canary import promote_canary
from shipflow.flows.rolling import rolling
from shipflow.flows.terraform_release import terraform_release
from shipflow.settings import load_settings
from shipflow.tasks.git import commit_worktree
from shipflow.tasks.release import claim_release, finish_release, publish_release
from shipflow.tasks.slo import gate


def _link(state: State[Any]) -> str:
    run_id = state.state_details.flow_run_id
    ui = PREFECT_UI_URL.value()
    return f"[{state.name}]({ui}/runs/flow-run/{run_id})" if ui else f"{state.name} ({run_id})"


def _canary(name: str, service: ServiceConfig, image: str) -> State[Any]:
    assert isinstance(service.policy, CanaryPolicy)
    return promote_canary(
        app=service.app or name,
        image=image,
        policy=service.policy,
        cluster=ClusterTarget(namespace=service.namespace),
        router=RouterSpec(kind=service.router.kind, name=service.router.name),
        slo=service.slo,
        local=LocalTarget() if service.target == "local" else None,
        return_state=True,
    )


def _blue_green(name: str, service: ServiceConfig, image: str) -> State[Any]:
    assert isinstance(service.policy, BlueGreenPolicy)
    return blue_green(
        app=service.app or name,
        image=image,
        policy=service.policy,
        cluster=ClusterTarget(namespace=service.namespace),
        slo=service.slo,
        return_state=True,
    )


def _rolling(name: str, service: ServiceConfig, image: str) -> State[Any]:
    return rolling(
        app=service.app or name,
        image=image,
        policy=service.policy if isinstance(service.policy, RollingPolicy) else None,
        cluster=ClusterTarget(namespace=service.namespace),
        slo=service.slo,
        return_state=True,
    )


def _feature_flag(name: str, service: ServiceConfig, image: str) -> State[Any]:
    """The image rolls out with the flag off (every user runs it, nobody sees the feature),
    then the flag ramps up the ladder."""
    assert isinstance(service.policy, FeatureFlagPolicy)
    assert service.flags is not None
    rolled = _rolling(name, service, image)
    if not rolled.is_completed():
        return rolled
    return ramp_feature_flag(
        app=service.app or name,
        flags=service.flags,
        policy=service.policy,
        cluster=ClusterTarget(namespace=service.namespace),
        return_state=True,
    )


# How a new image reaches users, by `strategy` in shipflow.toml.
STRATEGIES: dict[str, Callable[[str, ServiceConfig, str], State[Any]]] = {
    "canary": _canary,
    "blue-green": _blue_green,
    "rolling": _rolling,
    "feature-flag": _feature_flag,
}


@flow(name="release", on_crashed=[explain_lost_worker])
def release(
    repo: str,
    sha: str,
    clone_url: str | None = None,
    ref: str = "refs/heads/main",
    services: list[str] | None = None,
    changed_paths: list[str] | None = None,
    approval_timeout: int = 3600,
    auto_approve: bool = False,
) -> State[Any]:
    """Release commit ``sha`` of ``repo``: fetch exactly that commit into a directory of this
    run's own, then for each service in its ``shipflow.toml`` that the merge touched, the SLO
    gate (a service whose error budget is spent is not released) → build_and_push →
    terraform_release (if it has a stack, with the approval pause) → the service's rollout
    strategy with the image's digest. Each stage is a subflow; the first stage that does not
    complete stops the chain with its reason. A commit already released (or being released by
    a live run) for a service is not released again.

    Args:
        repo: ``owner/name``, as in the merge event.
        sha: The merged commit (its full id); a commit the repository lacks fails the run
            before anything is built.
        clone_url: Where to fetch it (the merge event carries it); credentials come from
            ``SHIPFLOW_GIT_CREDENTIALS_BLOCK`` or the worker's git configuration.
        ref: The branch ref it landed on.
        services: Only these services (default: those whose ``paths`` the merge touched).
        changed_paths: Paths the merge changed (from the event), to pick services; None or
            empty when the forge did not say (paths unknown: every service is released).
        approval_timeout: Seconds to wait for each Terraform approval.
        auto_approve: Apply Terraform plans without the approval pause.
    """
    sha = parse_sha(sha)
    if not clone_url:
        raise ConfigError("clone_url", f"no clone URL for {repo}: the merge event must carry one")
    # Subflows carry this run's tags (``shipflow``…), so the automations that watch shipflow's
    # runs (heartbeats, crashed canaries) see them too.
    with tags(*flow_run.get_tags()), commit_worktree(clone_url, sha) as root:
        return _release_commit(
            repo, sha, root, services, changed_paths, approval_timeout, auto_approve
        )


def _release_commit(
    repo: str,
    sha: str,
    root: Path,
    services: list[str] | None,
    changed_paths: list[str] | None,
    approval_timeout: int,
    auto_approve: bool,
) -> State[Any]:
    logger = get_run_logger()
    config_file = root / "shipflow.toml"
    if not config_file.is_file():
        raise ConfigError("shipflow.toml", f"commit {sha} of {repo} has no shipflow.toml")
    config = parse_repo_config(config_file.read_text())
    selection = config.select(changed_paths)
    names = services or list(selection.services)
    unknown = sorted(set(names) - set(config.services))
    if unknown:
        raise ConfigError("services", f"not in shipflow.toml: {', '.join(unknown)}")
    rows: list[dict[str, str]] = []
    released: list[str] = []
    skipped: list[str] = []
    scope = ""
    if not services and not changed_paths:
        # The merge may have touched any service: say so in the log, summary and message.
        scope = f" ({selection.reason})"
        logger.info(selection.reason)
        rows.append({"service": "*", "stage": "-", "state": "all", "detail": selection.reason})
    try:
        for name in names:
            outcome = _release_service(
                name, config.services[name], root, sha, rows, approval_timeout, auto_approve
            )
            if outcome is not None:
                return Failed(message=outcome)
            skip = any(r["service"] == name and r["state"] == "skipped" for r in rows)
            (skipped if skip else released).append(name)
    finally:
        publish_release(repo, sha, rows)
    message = _summary(repo, sha, released, [r for r in rows if r["state"] == "skipped"]) + scope
    logger.info(message)
    return Completed(message=message)


def _summary(repo: str, sha: str, released: list[str], skipped: list[dict[str, str]]) -> str:
    """``released <sha> of <repo>: web`` — and what was skipped, and why, never hidden."""
    head = f"{sha[:12]} of {repo}"
    parts = []
    if released:
        parts.append(f"released {head}: {', '.join(released)}")
    if skipped:
        why = "; ".join(f"{r['service']}: {r['detail']}" for r in skipped)
        parts.append(f"skipped {why}" if released else f"nothing released for {head}: {why}")
    return "; ".join(parts) or f"nothing released for {head}: no service affected"


def _release_service(
    name: str,
    service: ServiceConfig,
    root: Path,
    sha: str,
    rows: list[dict[str, str]],
    approval_timeout: int,
    auto_approve: bool,
) -> str | None:
    """None when the service is released (or skipped); else why the chain stopped."""
    skip = claim_release(name, sha)
    if skip:
        get_run_logger().info("Skipping %s: %s", name, skip)
        rows.append({"service": name, "stage": "-", "state": "skipped", "detail": skip})
        return None
    outcome = "failed"

    def stopped(stage: str, state: State[Any]) -> str | None:
        """Record a stage in the summary; the reason to stop if it did not complete."""
        rows.append(
            {"service": name, "stage": stage, "state": _link(state), "detail": state.message or ""}
        )
        if state.is_completed():
            return None
        return f"{name}: {stage} {state.type.value.lower()}: {state.message}"

    try:
        if service.slo is not None:
            try:
                verdict = gate(
                    MetricsTarget(app=service.app or name),
                    service.slo,
                    None,
                    namespace=service.namespace,
                )
            except ErrorBudgetSpent as exc:
                rows.append(
                    {"service": name, "stage": "slo_gate", "state": "refused", "detail": str(exc)}
                )
                return f"{name}: slo_gate refused: {exc}"
            detail = verdict.reason if verdict else ""
            rows.append({"service": name, "stage": "slo_gate", "state": "passed", "detail": detail})
        image = build_and_push(
            context=str(root / service.image.context),
            repository=service.image.repository,
            git_sha=sha,
            dockerfile=service.image.dockerfile,
            registry_credentials=load_settings().registry_credentials_block,
            return_state=True,
        )
        if reason := stopped("build_and_push", image):
            return reason
        pinned = image.result()["pinned"]
        if service.stack:
            infra = terraform_release(
                stack=str(root / service.stack),
                approval_timeout=approval_timeout,
                auto_approve=auto_approve,
                return_state=True,
            )
            if reason := stopped("terraform_release", infra):
                return reason
        rollout = STRATEGIES[service.strategy](name, service, pinned)
        if reason := stopped(service.strategy, rollout):
            return reason
        outcome = "released"
        return None
    finally:
        finish_release(name, sha, outcome)
