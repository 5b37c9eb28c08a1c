"""Services and ConfigMaps in one namespace, as the API's JSON: the selector a blue-green
switch flips, and the ConfigMap a feature flag's definition lives in."""

from __future__ import annotations

import json
from typing import Any

from kubernetes import client as k8s

from shipflow.adapters.kubernetes.client import (
    JSON_PATCH,
    MERGE_PATCH,
    api_errors,
    is_not_found,
    to_dict,
)
from shipflow.errors import KubernetesError

PREVIOUS_SELECTOR = "shipflow.io/previous-selector"


def _pointer(key: str) -> str:
    return "/metadata/annotations/" + key.replace("~", "~0").replace("/", "~1")


class Services:
    """Services in one namespace, as dicts."""

    def __init__(self, api: k8s.ApiClient, namespace: str) -> None:
        self.api = api
        self.core = k8s.CoreV1Api(api)
        self.namespace = namespace

    def find(self, name: str) -> dict[str, Any] | None:
        try:
            with api_errors("Service", name):
                obj = self.core.read_namespaced_service(name, self.namespace)
        except KubernetesError as exc:
            if is_not_found(exc):
                return None
            raise
        return to_dict(self.api, obj)

    def get(self, name: str) -> dict[str, Any]:
        obj = self.find(name)
        if obj is None:
            raise KubernetesError("Service", name, 404, "NotFound", "no such Service")
        return obj

    def selector(self, name: str) -> dict[str, str]:
        return dict(self.get(name).get("spec", {}).get("selector") or {})

    def previous_selector(self, name: str) -> dict[str, str] | None:
        """The selector a switch replaced (recorded on the Service), or None."""
        notes = self.get(name).get("metadata", {}).get("annotations") or {}
        raw = notes.get(PREVIOUS_SELECTOR)
        if raw is None:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else None

    def switch_selector(self, name: str, selector: dict[str, str], *, remember: bool) -> None:
        """Replace the Service's selector in one atomic patch (the ``test`` of the
        resourceVersion refuses a Service changed meanwhile). ``remember`` records the old
        selector on the Service, so a crash hook can switch back; otherwise the record is
        removed."""
        obj = self.get(name)
        ops: list[dict[str, Any]] = [
            {
                "op": "test",
                "path": "/metadata/resourceVersion",
                "value": obj["metadata"]["resourceVersion"],
            },
            {"op": "replace", "path": "/spec/selector", "value": selector},
        ]
        notes = obj["metadata"].get("annotations")
        if remember and notes and PREVIOUS_SELECTOR in notes:
            pass  # already recorded (a retry of this switch): the first record is the old one
        elif remember:
            if notes is None:
                ops.append({"op": "add", "path": "/metadata/annotations", "value": {}})
            old = json.dumps(obj.get("spec", {}).get("selector") or {}, sort_keys=True)
            ops.append({"op": "add", "path": _pointer(PREVIOUS_SELECTOR), "value": old})
        elif notes and PREVIOUS_SELECTOR in notes:
            ops.append({"op": "remove", "path": _pointer(PREVIOUS_SELECTOR)})
        with api_errors("Service", name):
            self.core.patch_namespaced_service(name, self.namespace, ops, _content_type=JSON_PATCH)

    def forget_previous(self, name: str) -> None:
        """Drop the record of the previous selector (the new one is here to stay)."""
        notes = self.get(name).get("metadata", {}).get("annotations") or {}
        if PREVIOUS_SELECTOR in notes:
            ops = [{"op": "remove", "path": _pointer(PREVIOUS_SELECTOR)}]
            with api_errors("Service", name):
                self.core.patch_namespaced_service(
                    name, self.namespace, ops, _content_type=JSON_PATCH
                )

    def ensure(self, name: str, like: str, selector: dict[str, str]) -> None:
        """Create Service ``name`` with the ports of Service ``like`` and ``selector``, or set
        the selector of the one that exists."""
        if self.find(name) is not None:
            self.switch_selector(name, selector, remember=False)
            return
        ports = self.get(like).get("spec", {}).get("ports") or []
        body = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": {"selector": selector, "ports": ports},
        }
        with api_errors("Service", name):
            self.core.create_namespaced_service(self.namespace, body)  # type: ignore[arg-type]


class ConfigMaps:
    """ConfigMaps in one namespace: one key's text at a time."""

    def __init__(self, api: k8s.ApiClient, namespace: str) -> None:
        self.api = api
        self.core = k8s.CoreV1Api(api)
        self.namespace = namespace

    def read(self, name: str, key: str) -> str | None:
        """The text under ``key``, None when the ConfigMap or the key is missing."""
        try:
            with api_errors("ConfigMap", name):
                obj = to_dict(self.api, self.core.read_namespaced_config_map(name, self.namespace))
        except KubernetesError as exc:
            if is_not_found(exc):
                return None
            raise
        value = (obj.get("data") or {}).get(key)
        return None if value is None else str(value)

    def write(self, name: str, key: str, text: str) -> None:
        """Set ``key`` to ``text`` (creating the ConfigMap when needed); other keys stay."""
        patch = {"data": {key: text}}
        try:
            with api_errors("ConfigMap", name):
                self.core.patch_namespaced_config_map(
                    name, self.namespace, patch, _content_type=MERGE_PATCH
                )
            return
        except KubernetesError as exc:
            if not is_not_found(exc):
                raise
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": self.namespace},
            "data": {key: text},
        }
        with api_errors("ConfigMap", name):
            self.core.create_namespaced_config_map(self.namespace, body)  # type: ignore[arg-type]
