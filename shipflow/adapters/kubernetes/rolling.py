"""A Deployment's own rolling update, started and undone in single atomic patches.

apps/v1 has no rollback API (``kubectl rollout undo`` reads old ReplicaSets client-side), so
the previous pod template is kept, on the Deployment itself as an annotation too, and written
back to roll back; a crash hook can find it there.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from shipflow.adapters.kubernetes.client import JSON_PATCH, api_errors
from shipflow.adapters.kubernetes.workloads import Deployments
from shipflow.errors import ConfigError, KubernetesError

PREVIOUS_TEMPLATE = "shipflow.io/previous-template"


def _pointer(key: str) -> str:
    return "/metadata/annotations/" + key.replace("~", "~0").replace("/", "~1")


def _guard(obj: dict[str, Any]) -> dict[str, Any]:
    # The test of the generation makes read-modify-write atomic: a Deployment whose spec
    # someone else changed in between fails the patch instead of losing their change. Not the
    # resourceVersion: the controller's status writes bump it all through a rollout, so a
    # rollback guarded by it failed whenever a status update landed between read and patch.
    return {
        "op": "test",
        "path": "/metadata/generation",
        "value": obj["metadata"]["generation"],
    }


def start_rolling_update(
    deployments: Deployments,
    name: str,
    image: str,
    *,
    container: str | None,
    labels: dict[str, str],
    max_surge: int | str,
    max_unavailable: int | str,
    progress_deadline_seconds: int,
) -> dict[str, Any]:
    """New image on ``container`` (default: the first) and ``labels`` on the pods, with a
    RollingUpdate strategy and a progress deadline, in one patch. Returns the previous pod
    template, also recorded on the Deployment."""
    obj = deployments.get(name)
    # A template already recorded is the last one before shipflow changed it (a retry of this
    # very patch, or a run that died before restoring it): never record our own over it.
    recorded = _recorded(obj)
    previous: dict[str, Any] = recorded or copy.deepcopy(obj["spec"]["template"])
    template = copy.deepcopy(obj["spec"]["template"])
    containers = template.get("spec", {}).get("containers") or []
    if not containers:
        raise ConfigError("container", f"Deployment {name} has no containers")
    chosen = (
        containers[0]
        if container is None
        else next((c for c in containers if c.get("name") == container), None)
    )
    if chosen is None:
        raise ConfigError("container", f"{container!r} is not a container of {name}")
    chosen["image"] = image
    template.setdefault("metadata", {}).setdefault("labels", {}).update(labels)
    ops: list[dict[str, Any]] = [_guard(obj)]
    if obj["metadata"].get("annotations") is None:
        ops.append({"op": "add", "path": "/metadata/annotations", "value": {}})
    ops += [
        {"op": "add", "path": _pointer(PREVIOUS_TEMPLATE), "value": json.dumps(previous)},
        {"op": "add", "path": "/spec/template", "value": template},
        {
            "op": "add",
            "path": "/spec/strategy",
            "value": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": max_surge, "maxUnavailable": max_unavailable},
            },
        },
        {"op": "add", "path": "/spec/progressDeadlineSeconds", "value": progress_deadline_seconds},
    ]
    with api_errors("Deployment", name):
        deployments.apps.patch_namespaced_deployment(
            name, deployments.namespace, ops, _content_type=JSON_PATCH
        )
    return previous


def recorded_template(deployments: Deployments, name: str) -> dict[str, Any] | None:
    """The pod template recorded before the rolling update in progress, or None."""
    return _recorded(deployments.get(name))


def _recorded(obj: dict[str, Any]) -> dict[str, Any] | None:
    notes = obj.get("metadata", {}).get("annotations") or {}
    raw = notes.get(PREVIOUS_TEMPLATE)
    try:
        value = json.loads(raw) if raw else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def restore_template(deployments: Deployments, name: str, template: dict[str, Any] | None) -> bool:
    """Write back ``template`` (default: the recorded one) and drop the record, in one patch.
    False when there was nothing to restore."""
    obj = deployments.get(name)
    template = template or recorded_template(deployments, name)
    if template is None:
        return False
    ops: list[dict[str, Any]] = [
        _guard(obj),
        {"op": "add", "path": "/spec/template", "value": template},
    ]
    if PREVIOUS_TEMPLATE in (obj["metadata"].get("annotations") or {}):
        ops.append({"op": "remove", "path": _pointer(PREVIOUS_TEMPLATE)})
    with api_errors("Deployment", name):
        deployments.apps.patch_namespaced_deployment(
            name, deployments.namespace, ops, _content_type=JSON_PATCH
        )
    return True


def forget_template(deployments: Deployments, name: str) -> None:
    """The update is here to stay: drop the record of the previous template."""
    obj = deployments.get(name)
    if PREVIOUS_TEMPLATE not in (obj["metadata"].get("annotations") or {}):
        return
    ops = [{"op": "remove", "path": _pointer(PREVIOUS_TEMPLATE)}]
    try:
        with api_errors("Deployment", name):
            deployments.apps.patch_namespaced_deployment(
                name, deployments.namespace, ops, _content_type=JSON_PATCH
            )
    except KubernetesError as exc:
        if exc.status not in (404, 422):
            raise
