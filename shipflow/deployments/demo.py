"""``shipflow demo --prefect-url URL``: a whole release on services of the demo's own.

(Without ``--prefect-url``, ``shipflow demo`` runs on the sandbox: :mod:`.sandbox_demo`.)

It starts what it needs on 127.0.0.1 — moto_server (S3 for Terraform state), docker-registry,
the sandbox metrics app with Prometheus scraping it every second, and the sandbox Kubernetes
API — writes an example repository (``shipflow.toml``, a service with a Dockerfile, a
Terraform stack), and runs ``release`` for a merge: build_and_push → terraform_release (the
demo plays the reviewer and approves the plan through the Prefect API, exactly as the UI's
form does) → promote_canary 5 → 25 → 50 → 100 % with live analysis. Everything it started is
stopped at the end.

The Prefect server is the one ``prefect_url`` names (``PREFECT_API_URL`` alone is never used:
it may point at a team's server). There the demo approves only the pauses of its own runs,
found by flow run id from its release run down; anyone else's paused run stays as it is. Its
names (service ``shipflow-demo-web``, stack ``shipflow-demo-network``) keep its release
records apart from a real service's.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx

from shipflow.adapters.git import Git
from shipflow.deployments import local
from shipflow.deployments.reviewer import api_filter, approve_own_plans
from shipflow.deployments.sandbox.images import make_base_image
from shipflow.errors import ServiceError

SERVICE = "shipflow-demo-web"
STACK_DIR = "infra/shipflow-demo-network"
STATE_KEY = "demo/network/terraform.tfstate"

STACK = """\
terraform {{
  backend "s3" {{
    bucket                      = "{bucket}"
    key                         = "{key}"
    region                      = "us-east-1"
    endpoints                   = {{ s3 = "{endpoint}" }}
    use_path_style              = true
    use_lockfile                = true
    skip_credentials_validation = true
    skip_requesting_account_id  = true
    skip_metadata_api_check     = true
    skip_region_validation      = true
  }}
}}

resource "terraform_data" "vpc" {{
  input = {{ cidr = "10.42.0.0/16", env = "demo" }}
}}

resource "terraform_data" "subnet" {{
  count = 3
  input = {{ cidr = cidrsubnet("10.42.0.0/16", 8, count.index), vpc = terraform_data.vpc.id }}
}}

output "vpc_id" {{ value = terraform_data.vpc.id }}
"""

DOCKERFILE = """\
FROM {base}
COPY index.html /srv/www/index.html
USER 1000:1000
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD ["/bin/busybox", "wget", "-q", "-O", "/dev/null", \
"http://127.0.0.1:8080/"]
ENTRYPOINT ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/srv/www"]
"""

# A short ladder (a demo takes about a minute); the sandbox's demo uses it too.
POLICY = """\
[services.{service}.policy]
steps = [
  {{ weight = 5, hold_seconds = 4 }},
  {{ weight = 25, hold_seconds = 4 }},
  {{ weight = 50, hold_seconds = 4 }},
]
check_interval_seconds = 1
min_requests = 20
inconclusive_limit = 2
progress_deadline_seconds = 30
"""

CONFIG = (
    """\
[services.{service}]
app = "{app}"
image = {{ context = "services/web", repository = "{registry}/shop/web" }}
stack = "{stack}"
namespace = "{namespace}"

"""
    + POLICY
)


@dataclass
class DemoResult:
    """What the demo did, for the console or ``--json``."""

    api_url: str
    flow_run_id: str = ""
    state: str = ""
    message: str = ""
    stages: list[str] = field(default_factory=list)
    deployed_image: str = ""
    state_serial: int | None = None
    artifacts: list[str] = field(default_factory=list)
    workdir: str = ""

    def ok(self) -> bool:
        return self.state == "COMPLETED"


def _api_alive(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class Sandbox:
    api_url: str
    s3: str
    registry: str
    prometheus: str
    metrics: str
    kube: Any  # FakeKube


@contextmanager
def _services(workdir: Path, say: Callable[[str], None], prefect_url: str) -> Iterator[Sandbox]:
    from shipflow.deployments.sandbox.fake_kube import FakeKube

    with ExitStack() as stack:
        say(f"using the Prefect server at {prefect_url}; only this demo's own runs are resumed")
        s3, registry, app, prom = (local.free_port() for _ in range(4))
        say(
            "starting moto_server (S3), docker-registry, the metrics app, Prometheus, "
            "and the sandbox Kubernetes API"
        )
        stack.enter_context(local.running(local.moto_server(s3, workdir)))
        stack.enter_context(local.running(local.registry(registry, workdir)))
        stack.enter_context(local.running(local.metrics_app(app, workdir)))
        stack.enter_context(local.running(local.prometheus(prom, workdir, [f"127.0.0.1:{app}"])))
        kube = FakeKube(rollout_delay=0.5).start()
        stack.callback(kube.stop)
        yield Sandbox(
            api_url=prefect_url,
            s3=f"http://127.0.0.1:{s3}",
            registry=f"127.0.0.1:{registry}",
            prometheus=f"http://127.0.0.1:{prom}",
            metrics=f"http://127.0.0.1:{app}",
            kube=kube,
        )


def _environment(workdir: Path, sandbox: Sandbox) -> None:
    kubeconfig = workdir / "kubeconfig"
    kubeconfig.write_text(json.dumps(sandbox.kube.kubeconfig()))
    rc = workdir / "terraformrc"
    rc.write_text("")
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(
        {
            # moto accepts any credentials; the demo must never touch a real AWS account.
            "AWS_ACCESS_KEY_ID": "demo",
            "AWS_SECRET_ACCESS_KEY": "demo-secret",
            "AWS_DEFAULT_REGION": "us-east-1",
            "TF_CLI_CONFIG_FILE": os.environ.get("TF_CLI_CONFIG_FILE") or str(rc),
            "KUBECONFIG": str(kubeconfig),
            "SHIPFLOW_PROMETHEUS_URL": sandbox.prometheus,
            "SHIPFLOW_BUILDAH_STORAGE_DRIVER": os.environ.get(
                "SHIPFLOW_BUILDAH_STORAGE_DRIVER", "vfs"
            ),
            "SHIPFLOW_REGISTRY_TLS": "false",
        }
    )


def _repository(root: Path, sandbox: Sandbox, namespace: str, base: str) -> tuple[Path, str, str]:
    """The example repository, committed: its path, the merge's commit (a merge of its own,
    never "already released": the tree holds a new bucket name) and the state bucket."""
    from shipflow.deployments.sandbox.cluster import APP

    repo = root / "repo"
    web = repo / "services" / "web"
    web.mkdir(parents=True)
    (web / "index.html").write_text("<h1>shop, version 2</h1>\n")
    (web / "Dockerfile").write_text(DOCKERFILE.format(base=base))
    bucket = f"shipflow-demo-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=sandbox.s3).create_bucket(Bucket=bucket)
    infra = repo / STACK_DIR
    infra.mkdir(parents=True)
    (infra / "main.tf").write_text(STACK.format(bucket=bucket, endpoint=sandbox.s3, key=STATE_KEY))
    (repo / "shipflow.toml").write_text(
        CONFIG.format(
            service=SERVICE,
            app=APP,
            stack=STACK_DIR,
            registry=sandbox.registry,
            namespace=namespace,
        )
    )
    sha = Git().commit_all(repo, "web: version 2")
    return repo, sha, bucket


def run_demo(say: Callable[[str], None], prefect_url: str) -> DemoResult:
    """Release the example repository's merge on services of the demo's own and the Prefect
    server at ``prefect_url``, approving the plan as a reviewer would."""
    from kubernetes import config as k8s_config

    from shipflow.adapters.kubernetes import Deployments
    from shipflow.deployments.sandbox.cluster import APP, create_app
    from shipflow.deployments.sandbox.traffic import MetricsAppClient, traffic

    if not _api_alive(prefect_url):  # before anything starts
        raise ServiceError(f"no Prefect server answers at {prefect_url} (GET /health)")
    workdir = Path(tempfile.mkdtemp(prefix="shipflow-demo-"))
    with ExitStack() as stack:
        # The work folder goes last, on every way out (Ctrl-C included).
        stack.callback(shutil.rmtree, workdir, True)
        sandbox = stack.enter_context(_services(workdir, say, prefect_url))
        _environment(workdir, sandbox)
        result = DemoResult(api_url=sandbox.api_url, workdir=str(workdir))
        base = make_base_image(
            local.require_binary("buildah"),
            local.require_binary("busybox"),
            os.environ["SHIPFLOW_BUILDAH_STORAGE_DRIVER"],
        )
        api = k8s_config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=os.environ["KUBECONFIG"]
        )
        cluster = create_app(api, image="registry.local/web:1.0.0")
        repo, sha, bucket = _repository(workdir, sandbox, cluster.namespace, base)
        say(
            f"example repository written to {repo}; the cluster runs web 1.0.0 in "
            f"namespace {cluster.namespace}"
        )
        users = MetricsAppClient(sandbox.metrics)
        users.control(APP, "stable", error_rate=0.01)
        users.control(APP, "canary", error_rate=0.01)
        with traffic(sandbox.kube, users, cluster.namespace, "gateway", APP):
            _release(sandbox.api_url, repo, sha, result, say)
        result.deployed_image = Deployments(api, cluster.namespace).image_of(APP)
        s3 = boto3.client("s3", endpoint_url=sandbox.s3)
        with contextlib.suppress(s3.exceptions.NoSuchKey):
            body = s3.get_object(Bucket=bucket, Key=STATE_KEY)["Body"]
            result.state_serial = int(json.loads(body.read())["serial"])
        return result


def _release(
    api_url: str, repo: Path, sha: str, result: DemoResult, say: Callable[[str], None]
) -> None:
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings

    run_name = f"shipflow-demo-{uuid.uuid4().hex[:12]}"
    stop = threading.Event()
    approver = threading.Thread(
        target=approve_own_plans, args=(api_url, run_name, stop, say), daemon=True
    )
    with temporary_settings(
        updates={PREFECT_API_URL: api_url, PREFECT_HOME: Path(result.workdir) / "prefect-home"}
    ):
        from shipflow.flows.release import release

        approver.start()
        say(f"merge {sha[:12]} of shop/web landed on main: releasing (flow run {run_name})")
        state = release.with_options(flow_run_name=run_name)(
            repo="shop/web",
            sha=sha,
            clone_url=repo.as_uri(),
            changed_paths=["services/web/index.html"],
            approval_timeout=300,
            return_state=True,
        )
        stop.set()
        approver.join(timeout=5)
        result.state = state.type.value
        result.message = state.message or ""
        result.flow_run_id = str(state.state_details.flow_run_id)
        below = {"parent_flow_run_id": {"any_": [result.flow_run_id]}}
        runs = api_filter(api_url, "flow_runs", below)
        flow_names = {f["id"]: f["name"] for f in api_filter(api_url, "flows", {})}
        result.stages = [
            f"{flow_names.get(r['flow_id'], '?')}: {r['state']['type']}"
            for r in sorted(runs, key=lambda r: r["start_time"] or "")
        ]
        run_ids = [result.flow_run_id, *(r["id"] for r in runs)]
        listed = api_filter(api_url, "artifacts", {"flow_run_id": {"any_": run_ids}})
        result.artifacts = sorted({a["key"] for a in listed if a.get("key")})
        # Send what Prefect still holds (logs, events) while the server is up: afterwards
        # its workers would retry against a stopped server for a long time at exit.
        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=10)
        EventsWorker.drain_all(timeout=10)
