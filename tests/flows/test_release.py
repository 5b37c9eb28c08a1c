"""release end to end: a real image build and push, Terraform on S3 state, a canary rollout."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from shipflow.adapters.images import Registry
from shipflow.adapters.kubernetes import Deployments
from shipflow.deployments.sandbox.cluster import APP, KubeApp
from shipflow.deployments.sandbox.fake_kube import FakeKube
from shipflow.deployments.sandbox.traffic import traffic
from shipflow.flows.release import release
from tests.conftest import MetricsApp, Moto, Prometheus
from tests.conftest import Registry as RegistryService
from tests.harness.prefect_api import artifacts
from tests.harness.stacks import make_s3_stack

pytestmark = pytest.mark.usefixtures("prefect_server")

SHA = "9c1d4b5e6f708192a3b4c5d6e7f809a1b2c3d4e5"


def checkout(root: Path, base: str, registry: RegistryService, moto: Moto, namespace: str) -> Path:
    repo = root / "repo"
    (repo / "services" / "web").mkdir(parents=True)
    (repo / "services" / "web" / "app.txt").write_text("v2\n")
    (repo / "services" / "web" / "Dockerfile").write_text(
        f"FROM {base}\nCOPY app.txt /app/app.txt\nUSER 1000\n"
    )
    stack = make_s3_stack(repo / "infra", moto.endpoint, count=2)
    (repo / "shipflow.toml").write_text(
        textwrap.dedent(f"""\
        [services.web]
        image = {{ context = "services/web", repository = "{registry.host}/shop/web" }}
        stack = "infra/{stack.name}"
        namespace = "{namespace}"
        paths = ["services/web/", "infra/"]

        [services.web.policy]
        steps = [{{ weight = 25, hold_seconds = 2 }}]
        check_interval_seconds = 1
                min_requests = 20
        inconclusive_limit = 2
        progress_deadline_seconds = 20
        """)
    )
    return repo


def test_a_merge_is_released_once_image_then_infrastructure_then_canary(
    tmp_path: Path,
    base_image: str,
    registry: RegistryService,
    moto: Moto,
    kube_app: KubeApp,
    fake_kube: FakeKube,
    prometheus: Prometheus,
    metrics_app: MetricsApp,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHIPFLOW_PROMETHEUS_URL", prometheus.url)
    repo = checkout(tmp_path, base_image, registry, moto, kube_app.namespace)
    with traffic(fake_kube, metrics_app, kube_app.namespace, "gateway", APP):
        state = release(
            repo="shop/web",
            sha=SHA,
            checkout=str(repo),
            auto_approve=True,
            changed_paths=["services/web/app.txt"],
            return_state=True,
        )
    assert state.is_completed(), state.message
    assert state.message == f"released {SHA[:12]} of shop/web: web"
    digest = Registry(registry.host, tls=False).manifest_digest("shop/web", SHA)
    assert digest is not None
    image = Deployments(kube_app.api, kube_app.namespace).image_of(APP)
    assert image == f"{registry.host}/shop/web@{digest}"  # deployed by digest, not by tag
    summary = next(
        a for a in artifacts(state.state_details.flow_run_id) if a["key"] == "release-summary"
    )
    for stage in ("build_and_push", "terraform_release", "canary"):
        assert stage in summary["data"]

    # The same merge delivered again does not release again.
    again = release(
        repo="shop/web", sha=SHA, checkout=str(repo), auto_approve=True, return_state=True
    )
    assert again.is_completed()
    summary = next(
        a for a in artifacts(again.state_details.flow_run_id) if a["key"] == "release-summary"
    )
    assert f"{SHA} is already released for web" in summary["data"]


def test_a_failing_stage_stops_the_chain_with_its_reason(
    tmp_path: Path,
    base_image: str,
    registry: RegistryService,
    moto: Moto,
    kube_app: KubeApp,
) -> None:
    repo = checkout(tmp_path, base_image, registry, moto, kube_app.namespace)
    (repo / "services" / "web" / "Dockerfile").write_text(
        f"FROM {base_image}\nENV API_TOKEN=abcdef123456\nUSER 1000\n"
    )
    state = release(
        repo="shop/web", sha=SHA[::-1], checkout=str(repo), auto_approve=True, return_state=True
    )
    assert state.is_failed()
    assert state.message.startswith("web: build_and_push failed:")
    deployments = Deployments(kube_app.api, kube_app.namespace)
    assert deployments.image_of(APP) == kube_app.stable_image
    assert not deployments.exists(f"{APP}-canary")


def test_unknown_services_and_bad_config_are_named(tmp_path: Path) -> None:
    (tmp_path / "shipflow.toml").write_text('[services.web]\nstrategy = "yolo"\n')
    state = release(repo="a/b", sha=SHA, checkout=str(tmp_path), return_state=True)
    assert state.is_failed()
    assert "services.web.image" in state.message
