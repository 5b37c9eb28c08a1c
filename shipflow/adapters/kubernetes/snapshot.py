"""What a diagnosis reads of one namespace, in one pass of list calls (read-only).

Secrets are read for their names only (and Helm's release records, decoded to their status
at once): no Secret value leaves this module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import client as k8s

from shipflow.adapters.kubernetes.client import api_errors, to_dict
from shipflow.core.diagnosis import HelmRelease, decode_helm_release

# Each read may take this long: a diagnosis runs on a failure path and must not hang it.
READ_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class NamespaceSnapshot:
    """The objects the cluster checks read: Deployments, their pods, the names of the
    ConfigMaps and Secrets, the events, and the Helm releases."""

    namespace: str
    deployments: tuple[dict[str, Any], ...]
    pods: tuple[dict[str, Any], ...]
    configmaps: frozenset[str]
    secrets: frozenset[str]
    events: tuple[dict[str, Any], ...]
    helm_releases: tuple[HelmRelease, ...]


def _selector(deployment: dict[str, Any]) -> str | None:
    labels = deployment.get("spec", {}).get("selector", {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or None


def read_namespace(
    api: k8s.ApiClient,
    namespace: str,
    apps: tuple[str, ...] = (),
    timeout: float = READ_TIMEOUT_SECONDS,
) -> NamespaceSnapshot:
    """Everything in ``namespace``, or, with ``apps``, only those Deployments and the pods
    their selectors match."""
    core, apps_api = k8s.CoreV1Api(api), k8s.AppsV1Api(api)

    def read(kind: str, call: Callable[..., Any], **query: Any) -> list[Any]:
        with api_errors(kind, namespace):
            return list(call(namespace, _request_timeout=timeout, **query).items)

    deployments = [to_dict(api, d) for d in read("Deployment", apps_api.list_namespaced_deployment)]
    if apps:
        deployments = [d for d in deployments if d["metadata"]["name"] in apps]
        pods: dict[str, dict[str, Any]] = {}
        for deployment in deployments:
            selector = _selector(deployment)
            if selector is None:
                continue
            for pod in read("Pod", core.list_namespaced_pod, label_selector=selector):
                found = to_dict(api, pod)
                pods[found["metadata"]["name"]] = found
        pod_list = list(pods.values())
    else:
        pod_list = [to_dict(api, p) for p in read("Pod", core.list_namespaced_pod)]
    configmaps = frozenset(
        c.metadata.name for c in read("ConfigMap", core.list_namespaced_config_map)
    )
    secrets = read("Secret", core.list_namespaced_secret)
    helm = [
        release
        for s in secrets
        if (s.metadata.labels or {}).get("owner") == "helm"
        and (release := decode_helm_release(str((s.data or {}).get("release", "")), namespace))
        is not None
    ]
    events = [to_dict(api, e) for e in read("Event", core.list_namespaced_event)]
    return NamespaceSnapshot(
        namespace=namespace,
        deployments=tuple(deployments),
        pods=tuple(pod_list),
        configmaps=configmaps,
        secrets=frozenset(s.metadata.name for s in secrets),
        events=tuple(events),
        helm_releases=tuple(helm),
    )
