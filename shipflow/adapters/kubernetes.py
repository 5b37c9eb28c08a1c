"""Kubernetes, through the official client: Deployments for stable and canary, and the traffic
routers that split requests between them behind one :class:`TrafficRouter` protocol.

Objects are handled as plain dicts (the API's JSON), so what is sent is what the API documents.
Every API failure becomes a :class:`KubernetesError` naming kind, name and HTTP status;
conflicts, throttling, 5xx and connection failures are transient (safe to retry).
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal, Protocol

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from pydantic import BaseModel, ConfigDict, Field

from shipflow.errors import ConfigError, KubernetesError, TransientKubernetesError

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"

GATEWAY = ("gateway.networking.k8s.io", "v1", "httproutes")
ISTIO = ("networking.istio.io", "v1", "virtualservices")
NGINX_CANARY = "nginx.ingress.kubernetes.io/canary"
NGINX_WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"


class ClusterTarget(BaseModel):
    """Which cluster and namespace, and how to reach it (a flow parameter)."""

    model_config = ConfigDict(frozen=True)

    namespace: str = "default"
    kubeconfig: str | None = Field(default=None, description="Path; default: KUBECONFIG.")
    context: str | None = None
    in_cluster: bool = Field(default=False, description="Use the pod's service account.")


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
def _api_errors(kind: str, name: str) -> Iterator[None]:
    try:
        yield
    except ApiException as exc:
        message = _status_message(exc)
        error = (
            TransientKubernetesError
            if exc.status in (409, 429) or (exc.status or 0) >= 500
            else KubernetesError
        )
        raise error(kind, name, exc.status or 0, message) from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise TransientKubernetesError(kind, name, "unreachable", type(exc).__name__) from exc


def _status_message(exc: ApiException) -> str:
    try:
        body = json.loads(exc.body or "{}")
    except ValueError:
        return str(exc.reason or "")
    return str(body.get("message") or exc.reason or "")


class Deployments:
    """Deployments in one namespace, as dicts."""

    def __init__(self, api: k8s.ApiClient, namespace: str) -> None:
        self.api = api
        self.apps = k8s.AppsV1Api(api)
        self.namespace = namespace

    def get(self, name: str) -> dict[str, Any]:
        with _api_errors("Deployment", name):
            obj = self.apps.read_namespaced_deployment(name, self.namespace)
        return to_dict(self.api, obj)

    def exists(self, name: str) -> bool:
        try:
            self.get(name)
        except KubernetesError as exc:
            if exc.status == 404:
                return False
            raise
        return True

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
                "annotations": {"shipflow.io/canary-of": stable},
            },
            "spec": spec,
        }
        if self.exists(canary):
            patch = {"spec": {"replicas": spec["replicas"], "template": spec["template"]}}
            with _api_errors("Deployment", canary):
                self.apps.patch_namespaced_deployment(
                    canary, self.namespace, patch, _content_type=STRATEGIC_MERGE_PATCH
                )
        else:
            with _api_errors("Deployment", canary):
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
        with _api_errors("Deployment", name):
            self.apps.patch_namespaced_deployment(
                name, self.namespace, patch, _content_type=STRATEGIC_MERGE_PATCH
            )

    def replicas(self, name: str) -> int:
        return int(self.get(name)["spec"].get("replicas", 1))

    def scale(self, name: str, replicas: int) -> None:
        with _api_errors("Deployment", name):
            self.apps.patch_namespaced_deployment_scale(
                name,
                self.namespace,
                {"spec": {"replicas": replicas}},
                _content_type=MERGE_PATCH,
            )

    def wait_ready(
        self,
        name: str,
        timeout: float,
        *,
        poll: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> dict[str, Any]:
        """Wait until the rollout is complete, as ``kubectl rollout status`` judges it.

        Complete: ``observedGeneration >= generation`` and updated, available and current
        replicas all equal the desired count. A ``ProgressDeadlineExceeded`` condition, or
        ``timeout`` seconds without completion, raises KubernetesError.
        """
        deadline = clock() + timeout
        while True:
            obj = self.get(name)
            problem = rollout_problem(obj)
            if problem:
                raise KubernetesError("Deployment", name, "ProgressDeadlineExceeded", problem)
            if rollout_complete(obj):
                return obj
            if clock() >= deadline:
                status = obj.get("status", {})
                raise KubernetesError(
                    "Deployment",
                    name,
                    "timeout",
                    f"rollout not complete after {timeout:.0f}s: "
                    f"{status.get('updatedReplicas', 0)} updated, "
                    f"{status.get('availableReplicas', 0)} available of "
                    f"{obj['spec'].get('replicas', 1)} desired",
                )
            time.sleep(poll)


def rollout_complete(obj: dict[str, Any]) -> bool:
    spec, status, meta = obj.get("spec", {}), obj.get("status", {}), obj.get("metadata", {})
    desired = spec.get("replicas", 1)
    return bool(
        status.get("observedGeneration", 0) >= meta.get("generation", 0)
        and status.get("updatedReplicas", 0) == desired
        and status.get("availableReplicas", 0) == desired
        and status.get("replicas", 0) == desired
    )


def rollout_problem(obj: dict[str, Any]) -> str | None:
    for cond in obj.get("status", {}).get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return str(cond.get("message") or "progress deadline exceeded")
    return None


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


# --- traffic routers ---------------------------------------------------------------------


class TrafficRouter(Protocol):
    """Splits traffic between stable and canary."""

    def set_canary_weight(self, weight: int) -> int:
        """Send ``weight`` % to the canary; returns the weight that really applies."""
        ...

    def canary_weight(self) -> int:
        """The canary's current share of traffic, in percent."""
        ...

    def describe(self) -> str:
        """What is being changed, and how fine its weights are."""
        ...


def _check_weight(weight: int) -> None:
    if not 0 <= weight <= 100:
        raise ConfigError("weight", f"{weight} is not a percentage (0-100)")


class _CustomObjectRouter:
    group: str
    version: str
    plural: str
    kind: str

    def __init__(self, api: k8s.ApiClient, namespace: str, name: str, stable: str, canary: str):
        self.objects = k8s.CustomObjectsApi(api)
        self.namespace, self.name, self.stable, self.canary = namespace, name, stable, canary

    def _get(self) -> dict[str, Any]:
        with _api_errors(self.kind, self.name):
            obj = self.objects.get_namespaced_custom_object(
                self.group, self.version, self.namespace, self.plural, self.name
            )
        if not isinstance(obj, dict):
            raise KubernetesError(self.kind, self.name, "malformed", "response is not an object")
        return obj

    def _json_patch(self, ops: list[dict[str, Any]]) -> None:
        # Client 37 sends custom-object patches as merge patches unless told otherwise.
        with _api_errors(self.kind, self.name):
            self.objects.patch_namespaced_custom_object(
                self.group,
                self.version,
                self.namespace,
                self.plural,
                self.name,
                ops,
                _content_type=JSON_PATCH,
            )


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

    def set_canary_weight(self, weight: int) -> int:
        _check_weight(weight)
        route = self._get()
        r, refs, s, c = self._refs(route)
        base = f"/spec/rules/{r}/backendRefs"
        ops: list[dict[str, Any]] = [
            {
                "op": "test",
                "path": "/metadata/resourceVersion",
                "value": route["metadata"]["resourceVersion"],
            },
            {"op": "add", "path": f"{base}/{s}/weight", "value": 100 - weight},
        ]
        if c is None:
            port = refs[s].get("port")
            ref = {"name": self.canary, "weight": weight, **({"port": port} if port else {})}
            ops.append({"op": "add", "path": f"{base}/-", "value": ref})
        else:
            ops.append({"op": "add", "path": f"{base}/{c}/weight", "value": weight})
        self._json_patch(ops)
        return weight

    def canary_weight(self) -> int:
        _, refs, s, c = self._refs(self._get())
        if c is None:
            return 0
        total = sum(int(ref.get("weight", 1)) for ref in (refs[s], refs[c]))
        return round(100 * int(refs[c].get("weight", 1)) / total) if total else 0

    def describe(self) -> str:
        return f"HTTPRoute {self.namespace}/{self.name} backendRefs {self.stable}/{self.canary}"


class IstioRouter(_CustomObjectRouter):
    """Istio: the weights of the stable and canary destinations of a VirtualService."""

    group, version, plural = ISTIO
    kind = "VirtualService"

    def _routes(self, vs: dict[str, Any]) -> tuple[int, int, int | None, list[dict[str, Any]]]:
        for h, http in enumerate(vs.get("spec", {}).get("http") or []):
            routes = http.get("route") or []
            hosts = [rt.get("destination", {}).get("host") for rt in routes]
            if self.stable in hosts:
                c = hosts.index(self.canary) if self.canary in hosts else None
                return h, hosts.index(self.stable), c, routes
        raise ConfigError(
            "router.stable_service",
            f"VirtualService {self.name} has no http route to host {self.stable}",
        )

    def set_canary_weight(self, weight: int) -> int:
        _check_weight(weight)
        vs = self._get()
        h, s, c, routes = self._routes(vs)
        base = f"/spec/http/{h}/route"
        ops: list[dict[str, Any]] = [
            {
                "op": "test",
                "path": "/metadata/resourceVersion",
                "value": vs["metadata"]["resourceVersion"],
            },
            {"op": "add", "path": f"{base}/{s}/weight", "value": 100 - weight},
        ]
        if c is None:
            dest = {**routes[s]["destination"], "host": self.canary}
            ops.append(
                {"op": "add", "path": f"{base}/-", "value": {"destination": dest, "weight": weight}}
            )
        else:
            ops.append({"op": "add", "path": f"{base}/{c}/weight", "value": weight})
        self._json_patch(ops)
        return weight

    def canary_weight(self) -> int:
        _, s, c, routes = self._routes(self._get())
        if c is None:
            return 0
        total = sum(int(routes[i].get("weight", 0)) for i in (s, c))
        return round(100 * int(routes[c].get("weight", 0)) / total) if total else 0

    def describe(self) -> str:
        return f"VirtualService {self.namespace}/{self.name} hosts {self.stable}/{self.canary}"


class NginxRouter:
    """NGINX Ingress: a canary Ingress (a copy of the stable one pointing at the canary
    Service) whose ``canary-weight`` annotation takes the weight."""

    def __init__(self, api: k8s.ApiClient, namespace: str, name: str, stable: str, canary: str):
        self.net = k8s.NetworkingV1Api(api)
        self.api = api
        self.namespace, self.name, self.stable, self.canary = namespace, name, stable, canary
        self.canary_ingress = f"{name}-canary"

    def _ensure(self) -> dict[str, Any]:
        try:
            with _api_errors("Ingress", self.canary_ingress):
                obj = self.net.read_namespaced_ingress(self.canary_ingress, self.namespace)
            return to_dict(self.api, obj)
        except KubernetesError as exc:
            if exc.status != 404:
                raise
        with _api_errors("Ingress", self.name):
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
        with _api_errors("Ingress", self.canary_ingress):
            created = self.net.create_namespaced_ingress(self.namespace, body)  # type: ignore[arg-type]
        return to_dict(self.api, created)

    def set_canary_weight(self, weight: int) -> int:
        _check_weight(weight)
        self._ensure()
        patch = {"metadata": {"annotations": {NGINX_CANARY: "true", NGINX_WEIGHT: str(weight)}}}
        with _api_errors("Ingress", self.canary_ingress):
            self.net.patch_namespaced_ingress(
                self.canary_ingress, self.namespace, patch, _content_type=MERGE_PATCH
            )
        return weight

    def canary_weight(self) -> int:
        try:
            with _api_errors("Ingress", self.canary_ingress):
                obj = self.net.read_namespaced_ingress(self.canary_ingress, self.namespace)
        except KubernetesError as exc:
            if exc.status == 404:
                return 0
            raise
        annotations = to_dict(self.api, obj).get("metadata", {}).get("annotations") or {}
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
        """Canary replicas for ``weight``: nearest share, at least 1 when weight > 0, and at
        least one stable pod until 100 %."""
        _check_weight(weight)
        if weight == 0:
            return 0
        if weight == 100:
            return self.total
        n = round(self.total * weight / 100)
        return min(self.total - 1, max(1, n))

    def set_canary_weight(self, weight: int) -> int:
        canary = self.replicas_for(weight)
        # Scale up first, then down: capacity never dips below the total.
        if canary > self.deployments.replicas(self.canary):
            self.deployments.scale(self.canary, canary)
            self.deployments.scale(self.stable, self.total - canary)
        else:
            self.deployments.scale(self.stable, self.total - canary)
            self.deployments.scale(self.canary, canary)
        # Traffic follows ready pods: the weight holds only once both rollouts are done.
        for name in (self.stable, self.canary):
            self.deployments.wait_ready(name, self.timeout)
        return round(100 * canary / self.total)

    def canary_weight(self) -> int:
        canary = (
            self.deployments.replicas(self.canary) if self.deployments.exists(self.canary) else 0
        )
        stable = self.deployments.replicas(self.stable)
        return round(100 * canary / (canary + stable)) if canary + stable else 0

    def describe(self) -> str:
        step = 100 / self.total
        five = round(100 * self.replicas_for(5) / self.total)
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
