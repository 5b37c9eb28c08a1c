"""Kubernetes, through the official client: the cluster (:mod:`.client`), the stable and canary
Deployments (:mod:`.workloads`) and the traffic routers between them (:mod:`.routers`).

Objects are handled as plain dicts (the API's JSON), so what is sent is what the API documents.
"""

from shipflow.adapters.kubernetes.client import ClusterTarget, api_client
from shipflow.adapters.kubernetes.routers import (
    GatewayRouter,
    IstioRouter,
    NginxRouter,
    ReplicaRouter,
    RouterSpec,
    TrafficRouter,
    make_router,
)
from shipflow.adapters.kubernetes.workloads import Deployments

__all__ = [
    "ClusterTarget",
    "Deployments",
    "GatewayRouter",
    "IstioRouter",
    "NginxRouter",
    "ReplicaRouter",
    "RouterSpec",
    "TrafficRouter",
    "api_client",
    "make_router",
]
