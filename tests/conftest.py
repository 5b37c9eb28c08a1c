"""Session-wide real services. Each starts on first use, on 127.0.0.1 and a free port.

Prefect reads its settings when it is imported, so the API URL and PREFECT_HOME are fixed in
``pytest_configure`` (before any test module imports Prefect); the server itself is started by
the ``prefect_server`` fixture the first time a test needs it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from shipflow.deployments import local
from shipflow.deployments.local import Service
from shipflow.deployments.sandbox.cluster import KubeApp, create_app
from shipflow.deployments.sandbox.fake_kube import FakeKube
from shipflow.deployments.sandbox.traffic import MetricsAppClient
from tests.harness.scale import Cluster
from tests.harness.stacks import S3Stack, make_s3_stack

ROOT = Path(__file__).resolve().parent.parent
SESSION_DIR = Path(tempfile.mkdtemp(prefix="shipflow-tests-"))
PREFECT_PORT = local.free_port()


def pytest_configure(config: pytest.Config) -> None:
    prefect_home = SESSION_DIR / "prefect-home"
    prefect_home.mkdir(exist_ok=True)
    empty_tfrc = SESSION_DIR / "terraformrc"
    empty_tfrc.write_text("")
    os.environ.update(
        {
            "PREFECT_HOME": str(prefect_home),
            "PREFECT_API_URL": f"http://127.0.0.1:{PREFECT_PORT}/api",
            "PREFECT_UI_URL": f"http://127.0.0.1:{PREFECT_PORT}",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_TO_API_BATCH_INTERVAL": "0.3",
            "PREFECT_SERVER_API_HOST": "127.0.0.1",
            # moto takes any credentials; real ones must never reach a test.
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing-secret-key",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "TF_CLI_CONFIG_FILE": str(empty_tfrc),
            "CHECKPOINT_DISABLE": "1",
            # Short waits so that lock and retry paths finish in seconds.
            "SHIPFLOW_TERRAFORM_LOCK_TIMEOUT": "1s",
            "SHIPFLOW_RETRY_DELAY_SECONDS": "0.5",
            # overlay needs kernel support a VM may lack; vfs always works.
            "SHIPFLOW_BUILDAH_STORAGE_DRIVER": "vfs",
            "SHIPFLOW_REGISTRY_TLS": "false",
        }
    )
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(var, None)


@dataclass(frozen=True)
class PrefectServer:
    api_url: str
    service: Service


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[PrefectServer]:
    """A real ``prefect server start`` on SQLite, with its UI (the browser tests), for the
    whole session."""
    service = local.prefect_server(PREFECT_PORT, SESSION_DIR, ui=True)
    with local.running(service):
        yield PrefectServer(api_url=os.environ["PREFECT_API_URL"], service=service)


@dataclass(frozen=True)
class Moto:
    endpoint: str
    service: Service


@pytest.fixture(scope="session")
def moto() -> Iterator[Moto]:
    """``moto_server`` serving S3 and DynamoDB on 127.0.0.1."""
    port = local.free_port()
    with local.running(local.moto_server(port, SESSION_DIR)) as service:
        yield Moto(endpoint=f"http://127.0.0.1:{port}", service=service)


@dataclass(frozen=True)
class MetricsApp:
    url: str
    port: int

    def control(self, app: str, version: str, **settings: float) -> object:
        """Change what one version of one app serves: rps, error_rate, latency_ms."""
        return MetricsAppClient(self.url).control(app, version, **settings)


@pytest.fixture(scope="session")
def metrics_app() -> Iterator[MetricsApp]:
    """The test app (stable + canary traffic, prometheus_client metrics)."""
    port = local.free_port()
    with local.running(local.metrics_app(port, SESSION_DIR)):
        yield MetricsApp(url=f"http://127.0.0.1:{port}", port=port)


@dataclass(frozen=True)
class Prometheus:
    url: str
    scrape_interval: float
    service: Service


@pytest.fixture(scope="session")
def prometheus(metrics_app: MetricsApp) -> Iterator[Prometheus]:
    """Debian's Prometheus, scraping the test app every second (targets fixed at start)."""
    port = local.free_port()
    service = local.prometheus(port, SESSION_DIR, [f"127.0.0.1:{metrics_app.port}"])
    with local.running(service):
        yield Prometheus(url=f"http://127.0.0.1:{port}", scrape_interval=1.0, service=service)


@dataclass(frozen=True)
class Registry:
    host: str  # 127.0.0.1:PORT, as used in image references
    service: Service

    def tags(self, repository: str) -> list[str]:
        """The tags the registry holds for ``repository`` (v2 tags list; none when unknown)."""
        response = httpx.get(f"http://{self.host}/v2/{repository}/tags/list")
        if response.status_code == 404:
            return []
        response.raise_for_status()
        return sorted(response.json().get("tags") or [])


@pytest.fixture(scope="session")
def registry() -> Iterator[Registry]:
    """Debian's docker-registry (distribution v2) with filesystem storage."""
    port = local.free_port()
    with local.running(local.registry(port, SESSION_DIR)) as service:
        yield Registry(host=f"127.0.0.1:{port}", service=service)


@dataclass(frozen=True)
class HAProxy:
    frontend_port: int
    runtime_port: int
    service: Service


@pytest.fixture(scope="session")
def haproxy(metrics_app: MetricsApp) -> Iterator[HAProxy]:
    """Debian's HAProxy with a runtime API (admin level) on 127.0.0.1."""
    frontend, runtime = local.free_port(), local.free_port()
    address = f"127.0.0.1:{metrics_app.port}"
    servers = {"stable": address, "canary": address}
    service = local.haproxy(frontend, f"127.0.0.1:{runtime}", SESSION_DIR, servers)
    with local.running(service):
        yield HAProxy(frontend_port=frontend, runtime_port=runtime, service=service)


@pytest.fixture
def s3_stack(moto: Moto, tmp_path: Path) -> S3Stack:
    """A fresh stack of 3 `terraform_data` resources with its state in its own S3 bucket."""
    return make_s3_stack(tmp_path, moto.endpoint)


@pytest.fixture(scope="session")
def fake_kube() -> Iterator[FakeKube]:
    """The fake Kubernetes API server (real HTTP), with a kubeconfig pointing at it."""
    fake = FakeKube(rollout_delay=0.3).start()
    kubeconfig = SESSION_DIR / "kubeconfig"
    kubeconfig.write_text(json.dumps(fake.kubeconfig()))
    os.environ["KUBECONFIG"] = str(kubeconfig)
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def kube_app(fake_kube: FakeKube) -> KubeApp:
    """A fresh namespace holding the app `web`: stable Deployment, Services, route objects."""
    from kubernetes import config as k8s_config

    return create_app(k8s_config.new_client_from_config(config_file=os.environ["KUBECONFIG"]))


@pytest.fixture(scope="session")
def base_image() -> str:
    """A base image made locally from busybox-static (no public registry is reachable)."""
    from shipflow.deployments.sandbox.images import make_base_image

    return make_base_image(local.require_binary("buildah"), local.require_binary("busybox"))


@pytest.fixture(scope="session")
def node_image() -> str:
    """A Node.js toolchain image made from this machine's own node, npm and busybox."""
    from tests.harness.images import make_node_image

    return make_node_image(local.require_binary("buildah"), local.require_binary("busybox"))


@pytest.fixture(scope="session")
def cluster(
    moto: Moto, prometheus: Prometheus, fake_kube: FakeKube, registry: Registry
) -> Iterator[Cluster]:
    """shipflow scaled out (tests/faults, tests/scale): Prefect on PostgreSQL, two process
    workers on shipflow-process, the webhook receiver; one for the whole session."""
    from shipflow.deployments.scale import scale_out
    from tests.harness.scale import PLANTED, ClusterApi, cluster_env

    work = SESSION_DIR / "cluster"
    root = work / "checkout"
    root.mkdir(parents=True)
    kubeconfig = fake_kube.kubeconfig()
    kubeconfig["users"][0]["user"]["token"] = PLANTED["kube token"]
    (work / "kubeconfig").write_text(json.dumps(kubeconfig))
    env = cluster_env(prometheus.url, str(work / "kubeconfig"), root)
    with scale_out(workdir=work, project=ROOT, workers=2, worker_limit=8, worker_env=env) as scale:
        yield Cluster(scale=scale, api=ClusterApi(scale.api_url), root=root, moto=moto.endpoint)


# Under ``pytest -n 2`` (scripts/test) these run one after another on one worker, beside the
# rest of the suite on the other: each starts a whole release path (a scaled-out cluster, a
# sandbox, a browser), and two at once would slow both past their own waits.
HEAVY = (
    "tests/scale/",
    "tests/faults/",
    "tests/browser/",
    "tests/deployments/test_sandbox_demo.py",
    "tests/deployments/test_demo_interrupt.py",
    "tests/deployments/test_production.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        where = Path(item.path).relative_to(ROOT).as_posix()
        if where.startswith(HEAVY) or item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.xdist_group("heavy"))
