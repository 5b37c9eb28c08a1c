"""Deployments in one namespace, as the API's JSON: the stable and canary workloads, their
rollouts, and the watch record a run keeps on the canary it watches."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from kubernetes import client as k8s

from shipflow.adapters.kubernetes.client import (
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    api_errors,
    is_not_found,
    to_dict,
)
from shipflow.adapters.waiting import Timeout, poll_until
from shipflow.core.rollout import RolloutStatus, rollout_complete, rollout_problem, scaled_down
from shipflow.core.watch import Watch
from shipflow.errors import ConfigError, KubernetesError

CANARY_OF = "shipflow.io/canary-of"
WATCHED_BY = "shipflow.io/watched-by"
WATCH_RENEWED = "shipflow.io/watch-renewed-at"
WATCH_TTL = "shipflow.io/watch-ttl-seconds"


def rollout_status(obj: dict[str, Any]) -> RolloutStatus:
    """The rollout fields of a Deployment object."""
    spec, status, meta = obj.get("spec", {}), obj.get("status", {}), obj.get("metadata", {})
    deadline = None
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            deadline = str(cond.get("message") or "progress deadline exceeded")
    return RolloutStatus(
        desired=int(spec.get("replicas", 1)),
        generation=int(meta.get("generation", 0)),
        observed_generation=int(status.get("observedGeneration", 0)),
        replicas=int(status.get("replicas", 0)),
        updated=int(status.get("updatedReplicas", 0)),
        available=int(status.get("availableReplicas", 0)),
        deadline_exceeded=deadline,
    )


def _pointer(key: str) -> str:
    return "/metadata/annotations/" + key.replace("~", "~0").replace("/", "~1")


class Deployments:
    """Deployments in one namespace, as dicts."""

    def __init__(self, api: k8s.ApiClient, namespace: str) -> None:
        self.api = api
        self.apps = k8s.AppsV1Api(api)
        self.namespace = namespace

    def get(self, name: str) -> dict[str, Any]:
        with api_errors("Deployment", name):
            obj = self.apps.read_namespaced_deployment(name, self.namespace)
        return to_dict(self.api, obj)

    def find(self, name: str) -> dict[str, Any] | None:
        """The Deployment, or None when there is none."""
        try:
            return self.get(name)
        except KubernetesError as exc:
            if is_not_found(exc):
                return None
            raise

    def exists(self, name: str) -> bool:
        return self.find(name) is not None

    def ensure_canary(
        self,
        stable: str,
        canary: str,
        image: str,
        *,
        container: str | None = None,
        version_label: str = "version",
        canary_version: str = "canary",
        replicas: int | None = None,
    ) -> dict[str, Any]:
        """Create (or update) the canary Deployment from the stable one's spec.

        Same labels plus ``version_label=canary_version`` on selector and pods, the new image
        on ``container`` (default: the first container); sidecars are kept as they are.
        """
        spec = copy.deepcopy(self.get(stable)["spec"])
        containers = spec["template"]["spec"]["containers"]
        target = _container(containers, container, stable)
        target["image"] = image
        for labels in (
            spec["selector"].setdefault("matchLabels", {}),
            spec["template"].setdefault("metadata", {}).setdefault("labels", {}),
        ):
            labels[version_label] = canary_version
        if replicas is not None:
            spec["replicas"] = replicas
        body = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": canary,
                "namespace": self.namespace,
                "labels": {**spec["template"]["metadata"]["labels"]},
                "annotations": {CANARY_OF: stable},
            },
            "spec": spec,
        }
        if self.exists(canary):
            patch = {"spec": {"replicas": spec["replicas"], "template": spec["template"]}}
            with api_errors("Deployment", canary):
                self.apps.patch_namespaced_deployment(
                    canary, self.namespace, patch, _content_type=STRATEGIC_MERGE_PATCH
                )
        else:
            with api_errors("Deployment", canary):
                self.apps.create_namespaced_deployment(self.namespace, body)  # type: ignore[arg-type]
        return self.get(canary)

    def image_of(self, name: str, container: str | None = None) -> str:
        containers = self.get(name)["spec"]["template"]["spec"]["containers"]
        return str(_container(containers, container, name)["image"])

    def set_image(self, name: str, image: str, container: str | None = None) -> None:
        """Strategic merge patch of one container's image; other containers are untouched."""
        containers = self.get(name)["spec"]["template"]["spec"]["containers"]
        target = _container(containers, container, name)["name"]
        patch = {"spec": {"template": {"spec": {"containers": [{"name": target, "image": image}]}}}}
        with api_errors("Deployment", name):
            self.apps.patch_namespaced_deployment(
                name, self.namespace, patch, _content_type=STRATEGIC_MERGE_PATCH
            )

    def replicas(self, name: str) -> int:
        return int(self.get(name)["spec"].get("replicas", 1))

    def scale(self, name: str, replicas: int) -> None:
        with api_errors("Deployment", name):
            self.apps.patch_namespaced_deployment_scale(
                name,
                self.namespace,
                {"spec": {"replicas": replicas}},
                _content_type=MERGE_PATCH,
            )

    def status(self, name: str) -> RolloutStatus:
        return rollout_status(self.get(name))

    def wait_ready(self, name: str, timeout: float, *, poll: float = 0.25) -> dict[str, Any]:
        """Wait until the rollout is complete (:func:`shipflow.core.rollout.rollout_complete`).

        A ``ProgressDeadlineExceeded`` condition, or ``timeout`` seconds without completion,
        raises KubernetesError (status None, the reason says which).
        """

        def check() -> dict[str, Any] | None:
            obj = self.get(name)
            status = rollout_status(obj)
            problem = rollout_problem(status)
            if problem:
                raise KubernetesError("Deployment", name, None, "ProgressDeadlineExceeded", problem)
            return obj if rollout_complete(status) else None

        try:
            return poll_until(check, timeout=timeout, interval=poll)
        except Timeout:
            s = self.status(name)
            raise KubernetesError(
                "Deployment",
                name,
                None,
                "timeout",
                f"rollout not complete after {timeout:.0f}s: {s.updated} updated, "
                f"{s.available} available of {s.desired} desired",
            ) from None

    def wait_scaled_down(self, name: str, timeout: float, *, poll: float = 0.25) -> None:
        """Wait until the Deployment has no pod left (a failed rollout included); a missing
        Deployment has none."""

        def check() -> bool:
            obj = self.find(name)
            return obj is None or scaled_down(rollout_status(obj))

        try:
            poll_until(check, timeout=timeout, interval=poll)
        except Timeout:
            s = self.status(name)
            raise KubernetesError(
                "Deployment",
                name,
                None,
                "timeout",
                f"still {s.replicas} pods after {timeout:.0f}s of scaling to 0",
            ) from None

    # --- the watch record ---------------------------------------------------------------

    def read_watch(self, name: str) -> Watch | None:
        """The watch record on Deployment ``name`` (None: none, or no such Deployment)."""
        obj = self.find(name)
        notes = (obj or {}).get("metadata", {}).get("annotations") or {}
        if WATCHED_BY not in notes or WATCH_RENEWED not in notes:
            return None
        try:
            return Watch(
                run=notes[WATCHED_BY],
                renewed_at=datetime.fromisoformat(notes[WATCH_RENEWED]),
                ttl_seconds=float(notes.get(WATCH_TTL, "6")),
            )
        except ValueError:
            return None  # a record nobody can read watches nothing

    def claim_watch(self, name: str, watch: Watch) -> None:
        """Write ``watch`` as the record, whoever held it before (the caller holds the slot)."""
        notes = {
            WATCHED_BY: watch.run,
            WATCH_RENEWED: watch.renewed_at.isoformat(),
            WATCH_TTL: f"{watch.ttl_seconds:g}",
        }
        with api_errors("Deployment", name):
            self.apps.patch_namespaced_deployment(
                name,
                self.namespace,
                {"metadata": {"annotations": notes}},
                _content_type=MERGE_PATCH,
            )

    def renew_watch(self, name: str, watch: Watch) -> bool:
        """Renew the record if ``watch.run`` still holds it; False when another run took it
        over (or it is gone). The ``test`` makes read-and-renew one atomic step."""
        ops = [
            {"op": "test", "path": _pointer(WATCHED_BY), "value": watch.run},
            {
                "op": "replace",
                "path": _pointer(WATCH_RENEWED),
                "value": watch.renewed_at.isoformat(),
            },
        ]
        try:
            with api_errors("Deployment", name):
                self.apps.patch_namespaced_deployment(
                    name, self.namespace, ops, _content_type=JSON_PATCH
                )
        except KubernetesError as exc:
            if exc.status in (404, 409, 422):
                return False
            raise
        return True

    def release_watch(self, name: str, run: str) -> None:
        """Remove the record if ``run`` still holds it (nothing to do otherwise)."""
        ops = [
            {"op": "test", "path": _pointer(WATCHED_BY), "value": run},
            *(
                {"op": "remove", "path": _pointer(k)}
                for k in (WATCHED_BY, WATCH_RENEWED, WATCH_TTL)
            ),
        ]
        try:
            with api_errors("Deployment", name):
                self.apps.patch_namespaced_deployment(
                    name, self.namespace, ops, _content_type=JSON_PATCH
                )
        except KubernetesError as exc:
            if exc.status not in (404, 409, 422):
                raise


def _container(containers: list[dict[str, Any]], name: str | None, owner: str) -> dict[str, Any]:
    if not containers:
        raise ConfigError("container", f"Deployment {owner} has no containers")
    if name is None:
        return containers[0]
    for c in containers:
        if c.get("name") == name:
            return c
    names = ", ".join(str(c.get("name")) for c in containers)
    raise ConfigError("container", f"{name!r} is not a container of {owner} (has: {names})")
