"""The Kubernetes API server failing, conflicting and slow for a while during a canary.

The fake API server's fault switch (``FakeKube.inject``) makes the next requests answer 500,
409 or answer late; promote_canary runs against it with real traffic and Prometheus.
"""

from __future__ import annotations

import uuid

import pytest

from shipflow.adapters.kubernetes import Deployments
from shipflow.deployments.sandbox.cluster import APP, KubeApp
from shipflow.deployments.sandbox.fake_kube import FakeKube, Fault
from shipflow.deployments.sandbox.traffic import canary_share, traffic
from shipflow.flows.promote_canary import promote_canary
from tests.conftest import MetricsApp, Prometheus
from tests.flows.test_promote_canary import NEW_IMAGE, params

pytestmark = [pytest.mark.usefixtures("prefect_server"), pytest.mark.slow]


@pytest.mark.parametrize(
    "fault",
    [
        Fault(status=500, count=2, methods=("PATCH",)),
        Fault(status=409, count=2, methods=("PATCH",)),
        Fault(delay=1.5, count=6),
    ],
    ids=["500", "409", "slow"],
)
def test_a_canary_goes_through_an_api_server_that_fails_for_a_while(
    fault: Fault,
    kube_app: KubeApp,
    fake_kube: FakeKube,
    prometheus: Prometheus,
    metrics_app: MetricsApp,
) -> None:
    """End state: the failed, conflicting or slow requests are retried (all are Transient),
    the canary is promoted, no traffic stays on it, and every injected fault was answered."""
    metrics_label = f"web-{uuid.uuid4().hex[:6]}"
    armed = fake_kube.inject(
        Fault(status=fault.status, delay=fault.delay, count=fault.count, methods=fault.methods)
    )
    try:
        with traffic(fake_kube, metrics_app, kube_app.namespace, "gateway", metrics_label):
            state = promote_canary(
                **params(kube_app, prometheus.url, metrics_label, "gateway"), return_state=True
            )
        left = armed.count
    finally:
        armed.count = 0  # the fake is shared by the session: disarm whatever is left
    assert left == 0  # every injected fault met a request
    assert state.is_completed(), state.message
    assert Deployments(kube_app.api, kube_app.namespace).image_of(APP) == NEW_IMAGE
    assert canary_share(fake_kube, kube_app.namespace, "gateway") == 0
