"""The objects of a small app in a fresh namespace of the fake API server."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from kubernetes import client as k8s

APP = "web"


def deployment(name: str, image: str, replicas: int = 4) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": APP}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": APP, "version": "stable"}},
            "template": {
                "metadata": {"labels": {"app": APP, "version": "stable"}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": image,
                            "ports": [{"containerPort": 8080}],
                            "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
                        },
                        {"name": "log-shipper", "image": "fluent-bit:3.1.4"},
                    ]
                },
            },
        },
    }


def service(name: str, version: str | None) -> dict[str, Any]:
    selector = {"app": APP, **({"version": version} if version else {})}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": selector, "ports": [{"port": 80, "targetPort": 8080}]},
    }


def http_route() -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": APP},
        "spec": {
            "parentRefs": [{"name": "public"}],
            "rules": [{"backendRefs": [{"name": f"{APP}-stable", "port": 80, "weight": 100}]}],
        },
    }


def virtual_service() -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": APP},
        "spec": {
            "hosts": [f"{APP}.example.com"],
            "http": [
                {
                    "route": [
                        {
                            "destination": {"host": f"{APP}-stable", "port": {"number": 80}},
                            "weight": 100,
                        }
                    ]
                }
            ],
        },
    }


def ingress() -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": APP, "annotations": {"kubernetes.io/ingress.class": "nginx"}},
        "spec": {
            "rules": [
                {
                    "host": f"{APP}.example.com",
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {
                                    "service": {"name": f"{APP}-stable", "port": {"number": 80}}
                                },
                            }
                        ]
                    },
                }
            ]
        },
    }


@dataclass(frozen=True)
class KubeApp:
    namespace: str
    api: k8s.ApiClient
    stable_image: str


def create_app(
    api: k8s.ApiClient, image: str = "registry.local/web:1.0.0", namespace: str | None = None
) -> KubeApp:
    """A namespace (of its own, unless named) with the stable Deployment, Services and all
    three routers' objects (HTTPRoute, VirtualService, Ingress)."""
    ns = namespace or f"t-{uuid.uuid4().hex[:8]}"
    apps, core, net = k8s.AppsV1Api(api), k8s.CoreV1Api(api), k8s.NetworkingV1Api(api)
    custom = k8s.CustomObjectsApi(api)
    apps.create_namespaced_deployment(ns, deployment(APP, image))  # type: ignore[arg-type]
    core.create_namespaced_service(ns, service(f"{APP}-stable", "stable"))  # type: ignore[arg-type]
    core.create_namespaced_service(ns, service(f"{APP}-canary", "canary"))  # type: ignore[arg-type]
    custom.create_namespaced_custom_object(
        "gateway.networking.k8s.io", "v1", ns, "httproutes", http_route()
    )
    custom.create_namespaced_custom_object(
        "networking.istio.io", "v1", ns, "virtualservices", virtual_service()
    )
    net.create_namespaced_ingress(ns, ingress())  # type: ignore[arg-type]
    return KubeApp(namespace=ns, api=api, stable_image=image)
