"""Kubernetes manifests and a deployment plan for an app spec and a rollout strategy.

Every Deployment gets probes chosen by rule (a startupProbe for slow starters, so liveness
never kills a pod that is still starting; liveness on an endpoint that checks nothing but the
process; readiness on one that checks dependencies), requests and limits, and the restricted
security context (non-root, read-only root filesystem with a writable /tmp, no privilege
escalation, all capabilities dropped, seccomp RuntimeDefault). Each strategy gets the objects
its flow switches: Services per version or colour, an HTTPRoute, a PodDisruptionBudget.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import yaml

from shipflow.core.app_spec import AppSpec, RolloutPlan, plan_rollout
from shipflow.core.flags import set_fraction
from shipflow.core.strategies import StrategyName, version_for

STARTUP_PROBE_AFTER = 30.0  # seconds: slower starters get a startupProbe


def probes(spec: AppSpec) -> dict[str, Any]:
    port = spec.port
    out: dict[str, Any] = {
        "readinessProbe": {
            "httpGet": {"path": spec.health.readiness, "port": port},
            "periodSeconds": 5,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            "httpGet": {"path": spec.health.liveness, "port": port},
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
    }
    start = spec.health.startup_seconds
    if start > STARTUP_PROBE_AFTER:
        out["startupProbe"] = {
            "httpGet": {"path": spec.health.liveness, "port": port},
            "periodSeconds": 5,
            "failureThreshold": math.ceil(start / 5) + 1,
        }
    elif start:
        out["livenessProbe"]["initialDelaySeconds"] = math.ceil(start)
    return out


def container(spec: AppSpec) -> dict[str, Any]:
    r = spec.resources
    limits = {"memory": r.memory_limit or r.memory}
    if r.cpu_limit:
        limits["cpu"] = r.cpu_limit
    return {
        "name": spec.name,
        "image": spec.image,
        "ports": [{"name": "http", "containerPort": spec.port}],
        "resources": {"requests": {"cpu": r.cpu, "memory": r.memory}, "limits": limits},
        **probes(spec),
        "securityContext": {
            "runAsNonRoot": True,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 - an emptyDir
    }


def deployment(
    spec: AppSpec, name: str, version: str, *, replicas: int, rolling: bool = False
) -> dict[str, Any]:
    labels = {"app": spec.name, "version": version}
    # A rolling update relabels its pods with the new version, so its selector cannot hold it.
    selector = {"app": spec.name} if rolling else labels
    body: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": spec.namespace, "labels": labels},
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 5,
            "progressDeadlineSeconds": 600,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container(spec)],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }
    if rolling:
        body["spec"]["strategy"] = {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0},
        }
    return body


def service(spec: AppSpec, name: str, version: str | None) -> dict[str, Any]:
    selector = {"app": spec.name, **({"version": version} if version else {})}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": spec.namespace, "labels": {"app": spec.name}},
        "spec": {
            "selector": selector,
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    }


def disruption_budget(spec: AppSpec) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": spec.name, "namespace": spec.namespace},
        "spec": {
            "maxUnavailable": 1 if spec.replicas > 1 else 0,
            "selector": {"matchLabels": {"app": spec.name}},
        },
    }


def http_route(spec: AppSpec, backend: str) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": spec.name, "namespace": spec.namespace},
        "spec": {
            "parentRefs": [{"name": "public"}],
            "rules": [{"backendRefs": [{"name": backend, "port": 80, "weight": 100}]}],
        },
    }


def objects(spec: AppSpec, strategy: StrategyName) -> list[dict[str, Any]]:
    """The Kubernetes objects ``strategy`` needs for ``spec``."""
    n = spec.name
    if strategy == "canary":
        return [
            deployment(spec, n, "stable", replicas=spec.replicas),
            service(spec, f"{n}-stable", "stable"),
            service(spec, f"{n}-canary", "canary"),
            http_route(spec, f"{n}-stable"),
            disruption_budget(spec),
        ]
    if strategy == "blue-green":
        return [
            deployment(spec, f"{n}-blue", "blue", replicas=spec.replicas),
            service(spec, n, "blue"),
            service(spec, f"{n}-preview", "green"),
            http_route(spec, n),
            disruption_budget(spec),
        ]
    first = deployment(spec, n, version_for(spec.image), replicas=spec.replicas, rolling=True)
    out = [first, service(spec, n, None), http_route(spec, n), disruption_budget(spec)]
    if strategy == "feature-flag":
        flags = set_fraction(None, f"{n}-new-feature", on="on", off="off", percent=0)
        out.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"{n}-flags", "namespace": spec.namespace},
                "data": {"flags.flagd.json": json.dumps(flags, indent=2, sort_keys=True) + "\n"},
            }
        )
    return out


def plan_markdown(plan: RolloutPlan) -> str:
    lines = [
        f"# Deployment plan: {plan.app} ({plan.strategy})",
        "",
        f"- cost: {plan.cost_multiplier:g}x the pods during the release",
        f"- expected time to promote: {plan.expected_promote_seconds / 60:.0f} min",
        f"- worst-case time to roll back: {plan.worst_rollback_seconds:.0f} s",
        f"- checks: {plan.checks}",
        f"- rollback: {plan.rollback}",
        "",
        "## Steps",
        "",
        *[f"{i}. {step}" for i, step in enumerate(plan.steps, 1)],
        "",
    ]
    return "\n".join(lines)


def render(spec: AppSpec, strategy: StrategyName) -> dict[Path, str]:
    """``plan.md``, ``plan.json`` and ``k8s/<kind>-<name>.yaml`` for each object."""
    plan = plan_rollout(spec, strategy)
    files: dict[Path, str] = {
        Path("plan.md"): plan_markdown(plan),
        Path("plan.json"): json.dumps(plan.model_dump(), indent=2) + "\n",
    }
    for obj in objects(spec, strategy):
        name = f"{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"
        files[Path("k8s") / name] = yaml.safe_dump(obj, sort_keys=False)
    return files
