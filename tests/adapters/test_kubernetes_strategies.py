"""The blue-green switch and the rolling update against the fake API server: one patch each,
and a retried patch never records its own change as the state to go back to."""

from __future__ import annotations

from shipflow.adapters.kubernetes import Deployments
from shipflow.adapters.kubernetes.rolling import (
    recorded_template,
    restore_template,
    start_rolling_update,
)
from shipflow.adapters.kubernetes.services import Services
from shipflow.deployments.sandbox.cluster import APP, KubeApp, service


def test_a_retried_switch_still_goes_back_to_the_first_selector(kube_app: KubeApp) -> None:
    from kubernetes import client as k8s

    k8s.CoreV1Api(kube_app.api).create_namespaced_service(
        kube_app.namespace,
        service(APP, "stable"),  # type: ignore[arg-type]
    )
    services = Services(kube_app.api, kube_app.namespace)
    blue = {"app": APP, "version": "blue"}
    services.switch_selector(APP, blue, remember=True)
    services.switch_selector(APP, blue, remember=True)  # a retry after a lost answer
    assert services.selector(APP) == blue
    assert services.previous_selector(APP) == {"app": APP, "version": "stable"}
    services.switch_selector(APP, services.previous_selector(APP) or {}, remember=False)
    assert services.selector(APP) == {"app": APP, "version": "stable"}
    assert services.previous_selector(APP) is None


def test_a_retried_rolling_update_still_restores_the_first_template(kube_app: KubeApp) -> None:
    deployments = Deployments(kube_app.api, kube_app.namespace)
    before = deployments.get(APP)["spec"]["template"]
    for _ in range(2):  # the second is a retry after a lost answer
        start_rolling_update(
            deployments,
            APP,
            "registry.local/web:2.0.0",
            container=None,
            labels={"release": "2.0.0"},
            max_surge=1,
            max_unavailable=0,
            progress_deadline_seconds=60,
        )
    obj = deployments.get(APP)
    assert obj["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.local/web:2.0.0"
    assert obj["spec"]["template"]["spec"]["containers"][1]["image"] == "fluent-bit:3.1.4"
    assert obj["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    assert obj["spec"]["progressDeadlineSeconds"] == 60
    assert recorded_template(deployments, APP) == before
    assert restore_template(deployments, APP, None)
    assert deployments.get(APP)["spec"]["template"] == before
    assert recorded_template(deployments, APP) is None
    assert not restore_template(deployments, APP, None)  # nothing left to restore
