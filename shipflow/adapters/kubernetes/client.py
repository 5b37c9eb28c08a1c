"""Reaching a cluster through the official client, and what its failures mean.

Every API failure becomes a :class:`KubernetesError` naming kind, name, the HTTP status and
the reason; conflicts, throttling, 5xx and connection failures are transient (safe to retry).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from pydantic import BaseModel, ConfigDict, Field

from shipflow.errors import ConfigError, KubernetesError, TransientKubernetesError

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"


class ClusterTarget(BaseModel):
    """Which cluster and namespace, and how to reach it (a flow parameter)."""

    model_config = ConfigDict(frozen=True)

    namespace: str = "default"
    kubeconfig: str | None = Field(default=None, description="Path; default: KUBECONFIG.")
    context: str | None = None
    in_cluster: bool = Field(default=False, description="Use the pod's service account.")


def api_client(target: ClusterTarget) -> k8s.ApiClient:
    """An API client for the target cluster (kubeconfig, or in-cluster service account)."""
    try:
        if target.in_cluster:
            k8s_config.load_incluster_config()  # type: ignore[no-untyped-call]
            return k8s.ApiClient()
        # KUBECONFIG is read now, not when the client library was imported.
        path = target.kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
        api: k8s.ApiClient = k8s_config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=os.path.expanduser(path), context=target.context
        )
        return api
    except (k8s_config.ConfigException, OSError) as exc:
        raise ConfigError("cluster", f"cannot load Kubernetes configuration: {exc}") from exc


def to_dict(api: k8s.ApiClient, obj: object) -> dict[str, Any]:
    """A client model as the API's JSON (camelCase keys, no None values)."""
    value: dict[str, Any] = api.sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]
    return value


@contextmanager
def api_errors(kind: str, name: str) -> Iterator[None]:
    """Turn the client's failures inside the block into shipflow's typed errors."""
    try:
        yield
    except ApiException as exc:
        reason, message = _status(exc)
        status = exc.status or None
        transient = status in (409, 429) or (status or 0) >= 500
        error = TransientKubernetesError if transient else KubernetesError
        raise error(kind, name, status, reason, message) from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise TransientKubernetesError(kind, name, None, "unreachable", type(exc).__name__) from exc


def _status(exc: ApiException) -> tuple[str, str]:
    """The reason and message of the API's ``Status`` body (or of the HTTP response)."""
    try:
        body = json.loads(exc.body or "{}")
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    reason = str(body.get("reason") or exc.reason or "Error")
    return reason, str(body.get("message") or "")


def is_not_found(exc: KubernetesError) -> bool:
    return exc.status == 404
