"""The Kubernetes adapter through the official client, against the fake API server."""

from __future__ import annotations

import json
import os
import subprocess

import httpx
import pytest
from kubernetes import client as k8s

from shipflow.adapters.kubernetes import (
    Deployments,
    GatewayRouter,
    IstioRouter,
    NginxRouter,
    ReplicaRouter,
    RouterSpec,
    make_router,
)
from shipflow.deployments.sandbox.cluster import APP, KubeApp
from shipflow.deployments.sandbox.fake_kube import FakeKube
from shipflow.errors import ConfigError, KubernetesError, TransientKubernetesError, is_transient


def test_canary_is_made_from_the_stable_spec_with_a_version_label(kube_app: KubeApp) -> None:
    deployments = Deployments(kube_app.api, kube_app.namespace)
    canary = deployments.ensure_canary(APP, f"{APP}-canary", "registry.local/web:2.0.0")
    spec = canary["spec"]
    assert spec["selector"]["matchLabels"] == {"app": APP, "version": "canary"}
    assert spec["template"]["metadata"]["labels"]["version"] == "canary"
    images = {c["name"]: c["image"] for c in spec["template"]["spec"]["containers"]}
    assert images == {"web": "registry.local/web:2.0.0", "log-shipper": "fluent-bit:3.1.4"}
    assert deployments.image_of(APP) == kube_app.stable_image  # stable untouched
    ready = deployments.wait_ready(f"{APP}-canary", timeout=10)
    assert ready["status"]["availableReplicas"] == 4


def test_set_image_keeps_the_sidecar_and_bumps_generation(kube_app: KubeApp) -> None:
    deployments = Deployments(kube_app.api, kube_app.namespace)
    before = deployments.get(APP)["metadata"]["generation"]
    deployments.set_image(APP, "registry.local/web:2.0.0", container="web")
    after = deployments.get(APP)
    containers = after["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["web", "log-shipper"]
    assert containers[0]["image"] == "registry.local/web:2.0.0"
    assert containers[0]["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert after["metadata"]["generation"] == before + 1
    deployments.scale(APP, 4)  # same replicas: no spec change, no new generation
    assert deployments.get(APP)["metadata"]["generation"] == before + 1


def test_a_failed_rollout_is_reported_with_kubernetes_reason(
    kube_app: KubeApp, fake_kube: FakeKube
) -> None:
    deployments = Deployments(kube_app.api, kube_app.namespace)
    deployments.ensure_canary(APP, f"{APP}-canary", "registry.local/web:broken")
    httpx.post(
        f"{fake_kube.url}/fake/fail-rollout",
        json={"namespace": kube_app.namespace, "name": f"{APP}-canary"},
    )
    with pytest.raises(KubernetesError, match="timed out progressing") as err:
        deployments.wait_ready(f"{APP}-canary", timeout=10)
    assert (err.value.status, err.value.reason) == (None, "ProgressDeadlineExceeded")
    # Scaled to zero, a failed canary has nothing left to progress: it is simply gone.
    deployments.scale(f"{APP}-canary", 0)
    deployments.wait_scaled_down(f"{APP}-canary", timeout=10)


def test_missing_objects_and_conflicts_have_typed_errors(kube_app: KubeApp) -> None:
    deployments = Deployments(kube_app.api, kube_app.namespace)
    with pytest.raises(KubernetesError) as missing:
        deployments.get("nope")
    assert (missing.value.status, missing.value.reason) == (404, "NotFound")
    assert "(404 NotFound)" in str(missing.value)
    assert not is_transient(missing.value)
    apps = k8s.AppsV1Api(kube_app.api)
    stale = deployments.get(APP)
    deployments.scale(APP, 5)
    with pytest.raises(k8s.ApiException) as conflict:
        apps.replace_namespaced_deployment(APP, kube_app.namespace, stale)
    assert conflict.value.status == 409
    assert json.loads(conflict.value.body)["reason"] == "Conflict"


def test_unreachable_api_is_transient() -> None:
    config = k8s.Configuration(host="http://127.0.0.1:9")
    deployments = Deployments(k8s.ApiClient(config), "default")
    with pytest.raises(TransientKubernetesError) as err:
        deployments.get("web")
    assert (err.value.status, err.value.reason) == (None, "unreachable")


def _route(kube_app: KubeApp) -> dict:
    return k8s.CustomObjectsApi(kube_app.api).get_namespaced_custom_object(
        "gateway.networking.k8s.io", "v1", kube_app.namespace, "httproutes", APP
    )


def test_gateway_router_sets_backend_weights_with_a_json_patch(
    kube_app: KubeApp, fake_kube: FakeKube
) -> None:
    router = GatewayRouter(kube_app.api, kube_app.namespace, APP, f"{APP}-stable", f"{APP}-canary")
    assert router.canary_weight() == 0
    assert router.set_canary_weight(25) == 25
    refs = _route(kube_app)["spec"]["rules"][0]["backendRefs"]
    assert refs == [
        {"name": f"{APP}-stable", "port": 80, "weight": 75},
        {"name": f"{APP}-canary", "weight": 25, "port": 80},
    ]
    router.set_canary_weight(50)
    assert router.canary_weight() == 50
    patches = [
        r
        for r in httpx.get(f"{fake_kube.url}/fake/requests").json()
        if r["method"] == "PATCH" and "httproutes" in r["path"]
    ]
    assert patches
    assert {p["content_type"] for p in patches} == {"application/json-patch+json"}


def test_istio_router_sets_virtualservice_weights(kube_app: KubeApp) -> None:
    router = IstioRouter(kube_app.api, kube_app.namespace, APP, f"{APP}-stable", f"{APP}-canary")
    router.set_canary_weight(5)
    vs = k8s.CustomObjectsApi(kube_app.api).get_namespaced_custom_object(
        "networking.istio.io", "v1", kube_app.namespace, "virtualservices", APP
    )
    routes = vs["spec"]["http"][0]["route"]
    assert [(r["destination"]["host"], r["weight"]) for r in routes] == [
        (f"{APP}-stable", 95),
        (f"{APP}-canary", 5),
    ]
    assert router.canary_weight() == 5


def test_nginx_router_creates_a_canary_ingress_and_weights_it(kube_app: KubeApp) -> None:
    router = NginxRouter(kube_app.api, kube_app.namespace, APP, f"{APP}-stable", f"{APP}-canary")
    assert router.canary_weight() == 0
    router.set_canary_weight(25)
    canary = k8s.NetworkingV1Api(kube_app.api).read_namespaced_ingress(
        f"{APP}-canary", kube_app.namespace
    )
    assert canary.metadata.annotations["nginx.ingress.kubernetes.io/canary"] == "true"
    assert canary.metadata.annotations["nginx.ingress.kubernetes.io/canary-weight"] == "25"
    backend = canary.spec.rules[0].http.paths[0].backend.service.name
    assert backend == f"{APP}-canary"
    assert router.canary_weight() == 25


def test_replica_router_says_how_coarse_it_is(kube_app: KubeApp) -> None:
    deployments = Deployments(kube_app.api, kube_app.namespace)
    deployments.ensure_canary(APP, f"{APP}-canary", "registry.local/web:2.0.0", replicas=0)
    router = ReplicaRouter(deployments, APP, f"{APP}-canary", total=4)
    assert "steps of 25.0 %" in router.describe()
    assert "5 % becomes 25 %" in router.describe()
    assert router.set_canary_weight(5) == 25
    assert (deployments.replicas(APP), deployments.replicas(f"{APP}-canary")) == (3, 1)
    assert router.set_canary_weight(50) == 50
    assert router.canary_weight() == 50
    router.set_canary_weight(0)
    assert (deployments.replicas(APP), deployments.replicas(f"{APP}-canary")) == (4, 0)


def test_router_spec_defaults_and_bad_weights(kube_app: KubeApp) -> None:
    router = make_router(RouterSpec(), kube_app.api, kube_app.namespace, APP, f"{APP}-canary")
    assert isinstance(router, GatewayRouter)
    with pytest.raises(ConfigError, match="101 is not a percentage"):
        router.set_canary_weight(101)
    wrong = RouterSpec(stable_service="nope")
    with pytest.raises(ConfigError, match="no rule with a backendRef to nope"):
        make_router(wrong, kube_app.api, kube_app.namespace, APP, f"{APP}-canary").canary_weight()


def test_kubectl_talks_to_the_same_fake(kube_app: KubeApp) -> None:
    env = {**os.environ}
    out = subprocess.run(
        ["kubectl", "get", "deployments", "-n", kube_app.namespace, "-o", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    names = [d["metadata"]["name"] for d in json.loads(out.stdout)["items"]]
    assert names == [APP]
    patched = subprocess.run(
        [
            "kubectl",
            "patch",
            "deployment",
            APP,
            "-n",
            kube_app.namespace,
            "--type=strategic",
            "-p",
            '{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"x:9"}]}}}}',
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert patched.returncode == 0, patched.stderr
    images = Deployments(kube_app.api, kube_app.namespace).get(APP)["spec"]["template"]["spec"]
    assert [c["image"] for c in images["containers"]] == ["x:9", "fluent-bit:3.1.4"]


def _patches(fake_kube: FakeKube, plural: str, namespace: str) -> list[dict]:
    return [
        r
        for r in httpx.get(f"{fake_kube.url}/fake/requests").json()
        if r["method"] in ("PATCH", "POST", "PUT", "DELETE")
        and plural in r["path"]
        and f"/namespaces/{namespace}/" in r["path"]
    ]


@pytest.mark.parametrize("kind", ["gateway", "istio", "nginx"])
def test_weight_0_puts_the_route_back_as_it_was(
    kind: str, kube_app: KubeApp, fake_kube: FakeKube
) -> None:
    objects = k8s.CustomObjectsApi(kube_app.api)
    net = k8s.NetworkingV1Api(kube_app.api)

    def route() -> object:
        if kind == "gateway":
            return _route(kube_app)["spec"]
        if kind == "istio":
            vs = objects.get_namespaced_custom_object(
                "networking.istio.io", "v1", kube_app.namespace, "virtualservices", APP
            )
            return vs["spec"]
        names = [i.metadata.name for i in net.list_namespaced_ingress(kube_app.namespace).items]
        return sorted(names)

    before = route()
    router = make_router(
        RouterSpec(kind=kind), kube_app.api, kube_app.namespace, APP, f"{APP}-canary"
    )
    plural = {"gateway": "httproutes", "istio": "virtualservices", "nginx": "ingresses"}[kind]
    writes = len(_patches(fake_kube, plural, kube_app.namespace))
    assert router.set_canary_weight(0) == 0  # a canary that never got traffic
    assert len(_patches(fake_kube, plural, kube_app.namespace)) == writes  # nothing written
    router.set_canary_weight(25)
    assert router.canary_weight() == 25
    assert route() != before
    router.set_canary_weight(0)
    assert router.canary_weight() == 0
    after = route()
    if kind == "gateway":
        assert after["rules"][0]["backendRefs"] == [
            {"name": f"{APP}-stable", "port": 80, "weight": 100}
        ]
    elif kind == "istio":
        assert [r["destination"]["host"] for r in after["http"][0]["route"]] == [f"{APP}-stable"]
    else:
        assert after == before


def test_replica_router_takes_a_failed_canary_back(kube_app: KubeApp, fake_kube: FakeKube) -> None:
    deployments = Deployments(kube_app.api, kube_app.namespace)
    deployments.ensure_canary(APP, f"{APP}-canary", "registry.local/web:broken", replicas=0)
    router = ReplicaRouter(deployments, APP, f"{APP}-canary", total=4, timeout=10)
    httpx.post(
        f"{fake_kube.url}/fake/fail-rollout",
        json={"namespace": kube_app.namespace, "name": f"{APP}-canary"},
    )
    with pytest.raises(KubernetesError, match="ProgressDeadlineExceeded"):
        router.set_canary_weight(25)
    assert router.set_canary_weight(0) == 0
    assert (deployments.replicas(APP), deployments.replicas(f"{APP}-canary")) == (4, 0)
    assert deployments.status(APP).available == 4


def test_the_watch_record_is_renewed_only_by_its_holder(kube_app: KubeApp) -> None:
    from datetime import UTC, datetime

    from shipflow.core.watch import Watch

    deployments = Deployments(kube_app.api, kube_app.namespace)
    deployments.ensure_canary(APP, f"{APP}-canary", "registry.local/web:2.0.0")
    name = f"{APP}-canary"
    assert deployments.read_watch(name) is None
    mine = Watch(run="run-a", renewed_at=datetime.now(UTC), ttl_seconds=6)
    deployments.claim_watch(name, mine)
    assert deployments.read_watch(name) == mine
    later = mine.model_copy(update={"renewed_at": datetime.now(UTC)})
    assert deployments.renew_watch(name, later)
    assert deployments.read_watch(name) == later
    generation = deployments.get(name)["metadata"]["generation"]
    deployments.claim_watch(name, Watch(run="run-b", renewed_at=datetime.now(UTC)))
    assert not deployments.renew_watch(name, later)  # taken over: run-a must stop
    deployments.release_watch(name, "run-a")  # not its record: left alone
    assert deployments.read_watch(name).run == "run-b"
    deployments.release_watch(name, "run-b")
    assert deployments.read_watch(name) is None
    assert deployments.get(name)["metadata"]["generation"] == generation  # no new rollout
    assert not deployments.renew_watch("nope", later)
