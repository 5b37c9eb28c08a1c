"""Traffic routers: what splits requests between stable and canary, behind one protocol.

Weight 0 puts the route back as it was before the canary: the canary backendRef (or
destination, or canary Ingress) is removed, not left at weight 0, and a route that never had one
is not written at all. So a canary that never became ready leaves nothing behind.
"""

from __future__ import annotations

import copy
from typing import Any, Literal, Protocol

from kubernetes import client as k8s
from pydantic import BaseModel, ConfigDict, Field

from shipflow.adapters.kubernetes.client import (
    JSON_PATCH,
    MERGE_PATCH,
    api_errors,
    is_not_found,
    to_dict,
)
from shipflow.adapters.kubernetes.workloads import Deployments
from shipflow.core.rollout import check_weight, replicas_for, share
from shipflow.errors import ConfigError, KubernetesError

GATEWAY = ("gateway.networking.k8s.io", "v1", "httproutes")
ISTIO = ("networking.istio.io", "v1", "virtualservices")
NGINX_CANARY = "nginx.ingress.kubernetes.io/canary"
NGINX_WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"


class RouterSpec(BaseModel):
    """How traffic is split between stable and canary (a flow parameter).

    ``gateway`` (the default) sets Gateway API HTTPRoute backendRef weights; ``istio`` sets
    VirtualService route weights; ``nginx`` sets the canary Ingress's weight annotation;
    ``replicas`` has no mesh and approximates the weight by the canary's share of replicas.
    """

    model_config = ConfigDict(frozen=True)

    kind: Literal["gateway", "istio", "nginx", "replicas"] = "gateway"
    name: str | None = Field(
        default=None, description="HTTPRoute, VirtualService or stable Ingress; default: app."
    )
    stable_service: str | None = Field(default=None, description="Default: <app>-stable.")
    canary_service: str | None = Field(default=None, description="Default: <app>-canary.")
    total_replicas: int | None = Field(
        default=None, ge=2, description="replicas router: pods shared by both; default: stable's."
    )


class TrafficRouter(Protocol):
    """Splits traffic between stable and canary."""

    def set_canary_weight(self, weight: int) -> int:
        """Send ``weight`` % to the canary (0: the route as it was); returns the weight that
        really applies."""
        ...

    def canary_weight(self) -> int:
        """The canary's current share of traffic, in percent."""
        ...

    def describe(self) -> str:
        """What is being changed, and how fine its weights are."""
        ...


class _CustomObjectRouter:
    group: str
    version: str
    plural: str
    kind: str

    def __init__(self, api: k8s.ApiClient, namespace: str, name: str, stable: str, canary: str):
        self.objects = k8s.CustomObjectsApi(api)
        self.namespace, self.name, self.stable, self.canary = namespace, name, stable, canary

    def _get(self) -> dict[str, Any]:
        with api_errors(self.kind, self.name):
            obj = self.objects.get_namespaced_custom_object(
                self.group, self.version, self.namespace, self.plural, self.name
            )
        if not isinstance(obj, dict):
            raise KubernetesError(self.kind, self.name, None, "malformed", "not an object")
        return obj

    def _json_patch(self, obj: dict[str, Any], ops: list[dict[str, Any]]) -> None:
        # The test of resourceVersion makes read-modify-write atomic: a route changed by
        # someone else in between fails the patch instead of losing their change.
        version = obj["metadata"]["resourceVersion"]
        guarded = [{"op": "test", "path": "/metadata/resourceVersion", "value": version}, *ops]
        # Client 37 sends custom-object patches as merge patches unless told otherwise.
        with api_errors(self.kind, self.name):
            self.objects.patch_namespaced_custom_object(
                self.group,
                self.version,
                self.namespace,
                self.plural,
                self.name,
                guarded,
                _content_type=JSON_PATCH,
            )

    def _weights(
        self, base: str, refs: list[dict[str, Any]], s: int, c: int | None, weight: int
    ) -> list[dict[str, Any]] | None:
        """The patch for ``weight``, None when nothing changes."""
        if weight == 0:
            if c is None:
                return None  # never routed to the canary: leave the route as it is
            return [
                {"op": "add", "path": f"{base}/{s}/weight", "value": 100},
                {"op": "remove", "path": f"{base}/{c}"},
            ]
        ops: list[dict[str, Any]] = [
            {"op": "add", "path": f"{base}/{s}/weight", "value": 100 - weight}
        ]
        if c is None:
            ops.append(
                {"op": "add", "path": f"{base}/-", "value": self._canary_entry(refs[s], weight)}
            )
        else:
            ops.append({"op": "add", "path": f"{base}/{c}/weight", "value": weight})
        return ops

    def _canary_entry(self, stable: dict[str, Any], weight: int) -> dict[str, Any]:
        raise NotImplementedError


class GatewayRouter(_CustomObjectRouter):
    """Gateway API: the weights of the stable and canary ``backendRefs`` of an HTTPRoute."""

    group, version, plural = GATEWAY
    kind = "HTTPRoute"

    def _refs(self, route: dict[str, Any]) -> tuple[int, list[dict[str, Any]], int, int | None]:
        for r, rule in enumerate(route.get("spec", {}).get("rules") or []):
            refs = rule.get("backendRefs") or []
            names = [ref.get("name") for ref in refs]
            if self.stable in names:
                canary = names.index(self.canary) if self.canary in names else None
                return r, refs, names.index(self.stable), canary
        raise ConfigError(
            "router.stable_service",
            f"HTTPRoute {self.name} has no rule with a backendRef to {self.stable}",
        )

    def _canary_entry(self, stable: dict[str, Any], weight: int) -> dict[str, Any]:
        port = stable.get("port")
        return {"name": self.canary, "weight": weight, **({"port": port} if port else {})}

    def set_canary_weight(self, weight: int) -> int:
        check_weight(weight)
        route = self._get()
        r, refs, s, c = self._refs(route)
        ops = self._weights(f"/spec/rules/{r}/backendRefs", refs, s, c, weight)
        if ops:
            self._json_patch(route, ops)
        return weight

    def canary_weight(self) -> int:
        _, refs, s, c = self._refs(self._get())
        if c is None:
            return 0
        return share(int(refs[c].get("weight", 1)), int(refs[s].get("weight", 1)))

    def describe(self) -> str:
        return f"HTTPRoute {self.namespace}/{self.name} backendRefs {self.stable}/{self.canary}"


class IstioRouter(_CustomObjectRouter):
    """Istio: the weights of the stable and canary destinations of a VirtualService."""

    group, version, plural = ISTIO
    kind = "VirtualService"

    def _routes(self, vs: dict[str, Any]) -> tuple[int, list[dict[str, Any]], int, int | None]:
        for h, http in enumerate(vs.get("spec", {}).get("http") or []):
            routes = http.get("route") or []
            hosts = [rt.get("destination", {}).get("host") for rt in routes]
            if self.stable in hosts:
                c = hosts.index(self.canary) if self.canary in hosts else None
                return h, routes, hosts.index(self.stable), c
        raise ConfigError(
            "router.stable_service",
            f"VirtualService {self.name} has no http route to host {self.stable}",
        )

    def _canary_entry(self, stable: dict[str, Any], weight: int) -> dict[str, Any]:
        return {"destination": {**stable["destination"], "host": self.canary}, "weight": weight}

    def set_canary_weight(self, weight: int) -> int:
        check_weight(weight)
        vs = self._get()
        h, routes, s, c = self._routes(vs)
        ops = self._weights(f"/spec/http/{h}/route", routes, s, c, weight)
        if ops:
            self._json_patch(vs, ops)
        return weight

    def canary_weight(self) -> int:
        _, routes, s, c = self._routes(self._get())
        if c is None:
            return 0
        return share(int(routes[c].get("weight", 0)), int(routes[s].get("weight", 0)))

    def describe(self) -> str:
        return f"VirtualService {self.namespace}/{self.name} hosts {self.stable}/{self.canary}"


class NginxRouter:
    """NGINX Ingress: a canary Ingress (a copy of the stable one pointing at the canary
    Service) whose ``canary-weight`` annotation takes the weight; at 0 it is deleted."""

    def __init__(self, api: k8s.ApiClient, namespace: str, name: str, stable: str, canary: str):
        self.net = k8s.NetworkingV1Api(api)
        self.api = api
        self.namespace, self.name, self.stable, self.canary = namespace, name, stable, canary
        self.canary_ingress = f"{name}-canary"

    def _find(self) -> dict[str, Any] | None:
        try:
            with api_errors("Ingress", self.canary_ingress):
                obj = self.net.read_namespaced_ingress(self.canary_ingress, self.namespace)
        except KubernetesError as exc:
            if is_not_found(exc):
                return None
            raise
        return to_dict(self.api, obj)

    def _create(self) -> None:
        with api_errors("Ingress", self.name):
            stable = to_dict(self.api, self.net.read_namespaced_ingress(self.name, self.namespace))
        spec = copy.deepcopy(stable["spec"])
        for rule in spec.get("rules") or []:
            for path in (rule.get("http") or {}).get("paths") or []:
                service = path.get("backend", {}).get("service", {})
                if service.get("name") == self.stable:
                    service["name"] = self.canary
        body = {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {
                "name": self.canary_ingress,
                "namespace": self.namespace,
                "annotations": {
                    NGINX_CANARY: "true",
                    NGINX_WEIGHT: "0",
                    "shipflow.io/canary-of": self.name,
                },
            },
            "spec": spec,
        }
        with api_errors("Ingress", self.canary_ingress):
            self.net.create_namespaced_ingress(self.namespace, body)  # type: ignore[arg-type]

    def set_canary_weight(self, weight: int) -> int:
        check_weight(weight)
        exists = self._find() is not None
        if weight == 0:
            if exists:
                try:
                    with api_errors("Ingress", self.canary_ingress):
                        self.net.delete_namespaced_ingress(self.canary_ingress, self.namespace)
                except KubernetesError as exc:
                    if not is_not_found(exc):
                        raise
            return 0
        if not exists:
            self._create()
        patch = {"metadata": {"annotations": {NGINX_CANARY: "true", NGINX_WEIGHT: str(weight)}}}
        with api_errors("Ingress", self.canary_ingress):
            self.net.patch_namespaced_ingress(
                self.canary_ingress, self.namespace, patch, _content_type=MERGE_PATCH
            )
        return weight

    def canary_weight(self) -> int:
        obj = self._find()
        if obj is None:
            return 0
        annotations = obj.get("metadata", {}).get("annotations") or {}
        return int(annotations.get(NGINX_WEIGHT, "0"))

    def describe(self) -> str:
        return f"Ingress {self.namespace}/{self.canary_ingress} annotation {NGINX_WEIGHT}"


class ReplicaRouter:
    """No mesh, no gateway: the Service selects both versions, so the canary's share of
    traffic is its share of ready pods. Weights move in steps of 100 / total_replicas %."""

    def __init__(
        self,
        deployments: Deployments,
        stable: str,
        canary: str,
        total: int,
        timeout: float = 300.0,
    ):
        if total < 2:
            raise ConfigError("router.total_replicas", "needs at least 2 replicas to split")
        self.deployments, self.stable, self.canary, self.total = deployments, stable, canary, total
        self.timeout = timeout

    def replicas_for(self, weight: int) -> int:
        return replicas_for(weight, self.total)

    def set_canary_weight(self, weight: int) -> int:
        canary = self.replicas_for(weight)
        current = self.deployments.find(self.canary)
        if current is None:
            if canary:
                raise KubernetesError("Deployment", self.canary, 404, "NotFound", "no canary")
            self.deployments.scale(self.stable, self.total)
            self.deployments.wait_ready(self.stable, self.timeout)
            return 0
        # Scale up first, then down: capacity never dips below the total.
        if canary > int(current["spec"].get("replicas", 1)):
            self.deployments.scale(self.canary, canary)
            self.deployments.scale(self.stable, self.total - canary)
        else:
            self.deployments.scale(self.stable, self.total - canary)
            self.deployments.scale(self.canary, canary)
        # Traffic follows ready pods: the weight holds only once both rollouts are done. A
        # canary taken to 0 only has to be gone, even if its own rollout never completed.
        self.deployments.wait_ready(self.stable, self.timeout)
        if canary:
            self.deployments.wait_ready(self.canary, self.timeout)
        else:
            self.deployments.wait_scaled_down(self.canary, self.timeout)
        return share(canary, self.total - canary)

    def canary_weight(self) -> int:
        current = self.deployments.find(self.canary)
        canary = int(current["spec"].get("replicas", 1)) if current else 0
        return share(canary, self.deployments.replicas(self.stable))

    def describe(self) -> str:
        step = 100 / self.total
        five = share(self.replicas_for(5), self.total - self.replicas_for(5))
        return (
            f"replica ratio of {self.stable}/{self.canary} over {self.total} replicas: weights "
            f"move in steps of {step:.1f} %, so 5 % becomes {five} %"
        )


def make_router(
    spec: RouterSpec, api: k8s.ApiClient, namespace: str, app: str, canary_deployment: str
) -> TrafficRouter:
    """The router a :class:`RouterSpec` describes."""
    name = spec.name or app
    stable_svc = spec.stable_service or f"{app}-stable"
    canary_svc = spec.canary_service or f"{app}-canary"
    if spec.kind == "gateway":
        return GatewayRouter(api, namespace, name, stable_svc, canary_svc)
    if spec.kind == "istio":
        return IstioRouter(api, namespace, name, stable_svc, canary_svc)
    if spec.kind == "nginx":
        return NginxRouter(api, namespace, name, stable_svc, canary_svc)
    deployments = Deployments(api, namespace)
    total = spec.total_replicas or deployments.replicas(app)
    return ReplicaRouter(deployments, app, canary_deployment, max(total, 2))
