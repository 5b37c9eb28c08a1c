"""The scale-out cluster the tests share: Prefect on PostgreSQL, two process workers, the
receiver; a small REST client for it; and the repositories and stacks its runs release.

Every worker's environment carries planted secrets (``PLANTED``): the stacks use them, and
tests/scale/test_secrets_on_the_server.py proves afterwards that none reached the server.
"""

from __future__ import annotations

import json
import textwrap
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx

from shipflow.adapters.waiting import Timeout, poll_until
from shipflow.deployments.scale import ScaleOut

FINAL = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}

# Values that must never reach the Prefect server: each is given to the workers the way a
# team gives it (environment, Secret block, kubeconfig), and the flows really use it.
PLANTED = {
    "TF_VAR_db_password": "planted-tfvar-7c1e5a9d40",
    "AWS_SECRET_ACCESS_KEY": "planted-aws-2b8f61c0de",
    "kube token": "planted-kube-token-93ad0c17",
}


@dataclass
class ClusterApi:
    """The cluster's Prefect REST API (503s, which a busy server may answer, sent again)."""

    url: str
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def post(self, path: str, body: Any = None) -> Any:
        for _ in range(40):
            try:
                response = self.client.post(path, json=body if body is not None else {})
            except httpx.TransportError:  # the server restarting its database connections
                time.sleep(0.5)
                continue
            if response.status_code != 503:
                response.raise_for_status()
                return response.json() if response.content else None
            time.sleep(0.5)
        raise AssertionError(f"POST {path}: the server kept answering 503 or nothing")

    def get(self, path: str) -> Any:
        response = self.client.get(path)
        response.raise_for_status()
        return response.json()

    def deployment_id(self, flow: str, deployment: str) -> str:
        return str(self.get(f"/deployments/name/{flow}/{deployment}")["id"])

    def start(self, flow: str, deployment: str, name: str | None = None, **parameters: Any) -> str:
        """A run of the deployment, scheduled now; its id."""
        body: dict[str, Any] = {"parameters": parameters}
        if name:
            body["name"] = name
        run = self.post(
            f"/deployments/{self.deployment_id(flow, deployment)}/create_flow_run", body
        )
        return str(run["id"])

    def run(self, run_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.get(f"/flow_runs/{run_id}")
        return found

    def runs(self, **where: Any) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.post(
            "/flow_runs/filter", {"flow_runs": where, "sort": "START_TIME_ASC", "limit": 200}
        )
        return found

    def wait_final(self, run_ids: list[str], timeout: float) -> list[dict[str, Any]]:
        """The runs once every one is in a final state (in the order asked)."""

        def done() -> list[dict[str, Any]] | None:
            found = {r["id"]: r for r in self.runs(id={"any_": run_ids})}
            if len(found) == len(run_ids) and all(r["state_type"] in FINAL for r in found.values()):
                return [found[i] for i in run_ids]
            return None

        try:
            return poll_until(done, timeout=timeout, interval=1.0)
        except Timeout:
            found = self.runs(id={"any_": run_ids})
            states = sorted(f"{r['name']}: {r['state_type']}" for r in found)
            raise AssertionError(f"runs not final after {timeout}s: {states}") from None

    def wait_state(self, run_id: str, states: set[str], timeout: float) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            run = self.run(run_id)
            return run if run["state_type"] in states else None

        try:
            return poll_until(reached, timeout=timeout, interval=0.5)
        except Timeout:
            raise AssertionError(
                f"run {run_id} not in {states} after {timeout}s: {self.run(run_id)['state']}"
            ) from None

    def task_runs(self, run_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.post(
            "/task_runs/filter",
            {"flow_runs": {"id": {"any_": [run_id]}}, "sort": "EXPECTED_START_TIME_ASC"},
        )
        return found

    def logs(self, run_id: str) -> list[str]:
        found = self.post(
            "/logs/filter", {"logs": {"flow_run_id": {"any_": [run_id]}}, "limit": 200}
        )
        return [entry["message"] for entry in found]

    def children(self, run_id: str) -> list[dict[str, Any]]:
        return self.runs(parent_flow_run_id={"any_": [run_id]})


def cluster_env(prometheus_url: str, kubeconfig: str, stacks_root: Path) -> dict[str, str]:
    """What every worker host has: settings, credentials (planted secrets among them)."""
    return {
        **{k: v for k, v in PLANTED.items() if " " not in k},  # the variables, not the token
        "AWS_ACCESS_KEY_ID": "testing",
        "SHIPFLOW_PROMETHEUS_URL": prometheus_url,
        "SHIPFLOW_STACKS_ROOT": str(stacks_root),
        "KUBECONFIG": kubeconfig,
        "PREFECT_LOGGING_TO_API_BATCH_INTERVAL": "0.3",
    }


@dataclass(frozen=True)
class Cluster:
    scale: ScaleOut
    api: ClusterApi
    root: Path  # SHIPFLOW_STACKS_ROOT of every worker: the checkout a triggered release reads
    moto: str

    @property
    def workers(self) -> list[Any]:
        """The workers alive now (a fault test kills one and starts another)."""
        return [w for w in self.scale.worker_services if w.proc and w.proc.poll() is None]

    def worker_of(self, run_id: str) -> Any:
        """The live worker that started the flow run ``run_id``."""
        for worker in self.workers:
            if f"submitting flow run '{run_id}'" in worker.log_path.read_text():
                return worker
        raise AssertionError(f"no live worker started run {run_id}")

    def kill_worker_of(self, run_id: str) -> float:
        """SIGKILL the worker running ``run_id`` with its flow processes (not Terraform, in a
        session of its own), start a replacement so two workers stay; the time of the kill."""
        worker = self.worker_of(run_id)
        self.scale.kill_worker(worker)
        killed = time.time()
        self.scale.start_worker()
        return killed


# --- stacks and repositories -----------------------------------------------------------


def s3_backend(bucket: str, endpoint: str, key: str = "app/terraform.tfstate") -> str:
    return textwrap.dedent(f"""\
        terraform {{
          backend "s3" {{
            bucket                      = "{bucket}"
            key                         = "{key}"
            region                      = "us-east-1"
            use_path_style              = true
            skip_credentials_validation = true
            skip_requesting_account_id  = true
            skip_metadata_api_check     = true
            skip_region_validation      = true
            use_lockfile                = true
            endpoints                   = {{ s3 = "{endpoint}" }}
          }}
        }}
        """)


def new_bucket(endpoint: str) -> str:
    bucket = f"tfstate-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    return bucket


def timed_stack(path: Path, bucket: str, endpoint: str, label: str, log: Path, hold: float) -> Path:
    """A stack whose apply writes ``begin``/``end`` lines with timestamps to ``log`` around a
    ``hold`` (an apply that takes time), and uses the planted TF_VAR_db_password."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "backend.tf").write_text(s3_backend(bucket, endpoint))

    def record(what: str) -> str:
        return f"echo {what} {label} $(date +%s.%N) >> {log}"

    (path / "main.tf").write_text(
        textwrap.dedent(f"""\
        variable "db_password" {{
          type      = string
          sensitive = true
        }}
        resource "terraform_data" "db" {{
          input = var.db_password
        }}
        resource "terraform_data" "release" {{
          triggers_replace = "{label}"
          provisioner "local-exec" {{
            command = "{record("begin")}; sleep {hold}; {record("end")}"
          }}
        }}
        """)
    )
    return path


def gated_stack(path: Path, bucket: str, endpoint: str, label: str, log: Path, gate: Path) -> Path:
    """A stack whose apply writes ``begin`` to ``log``, then waits until the file ``gate``
    exists (at most 10 minutes) and writes ``end``: an apply the test ends when it chooses."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "backend.tf").write_text(s3_backend(bucket, endpoint))
    wait = f"n=0; while [ ! -e {gate} ] && [ $n -lt 3000 ]; do sleep 0.2; n=$((n+1)); done"
    (path / "main.tf").write_text(
        textwrap.dedent(f"""\
        resource "terraform_data" "release" {{
          triggers_replace = "{label}"
          provisioner "local-exec" {{
            command = "echo begin {label} >> {log}; {wait}; echo end {label} >> {log}"
          }}
        }}
        """)
    )
    return path


def apply_intervals(log: Path) -> dict[str, tuple[float, float]]:
    """label → (begin, end) from a timed stack's apply log."""
    begins: dict[str, float] = {}
    spans: dict[str, tuple[float, float]] = {}
    for line in log.read_text().splitlines():
        what, label, at = line.split()
        if what == "begin":
            begins[label] = float(at)
        else:
            spans[label] = (begins[label], float(at))
    return spans


def service_repo(
    root: Path,
    *,
    base_image: str,
    registry: str,
    namespace: str,
    content: str,
    stack: str | None = None,
    service: str = "web",
    repository: str = "shop/web-scale",
) -> Path:
    """A checkout with one service: a Dockerfile on the local base image, an optional stack
    and a quick canary policy."""
    (root / "services" / service).mkdir(parents=True, exist_ok=True)
    (root / "services" / service / "app.txt").write_text(content + "\n")
    (root / "services" / service / "Dockerfile").write_text(
        f"FROM {base_image}\nCOPY app.txt /app/app.txt\nUSER 1000\n"
    )
    stack_line = f'stack = "{stack}"\n' if stack else ""
    (root / "shipflow.toml").write_text(
        textwrap.dedent(f"""\
        [services.{service}]
        image = {{ context = "services/{service}", repository = "{registry}/{repository}" }}
        {stack_line}namespace = "{namespace}"
        app = "web"
        paths = ["services/{service}/", "infra/"]

        [services.{service}.policy]
        steps = [{{ weight = 25, hold_seconds = 2 }}]
        check_interval_seconds = 1
        min_requests = 20
        min_baseline_requests = 20
        max_sample_age_seconds = 5
        progress_deadline_seconds = 30
        """)
    )
    return root


def everything_on_the_server(api: ClusterApi) -> str:
    """Every run, task run, state, log line, artifact, event and variable on the server, as
    one JSON text to search."""
    seen: dict[str, Any] = {}

    def paged(path: str, key: str, body: dict[str, Any]) -> list[Any]:
        found: list[Any] = []
        offset = 0
        while True:
            page = api.post(path, {**body, "offset": offset, "limit": 200})
            found += page
            if len(page) < 200:
                return found
            offset += 200

    seen["flow_runs"] = paged("/flow_runs/filter", "flow_runs", {})
    seen["task_runs"] = paged("/task_runs/filter", "task_runs", {})
    seen["logs"] = paged("/logs/filter", "logs", {})
    seen["artifacts"] = paged("/artifacts/filter", "artifacts", {})
    seen["variables"] = paged("/variables/filter", "variables", {})
    states = []
    for run in seen["flow_runs"]:
        states += api.get(f"/flow_run_states/?flow_run_id={run['id']}")
    seen["states"] = states
    events: list[Any] = []
    page = api.post(
        "/events/filter", {"limit": 50, "filter": {"occurred": {"since": "2000-01-01T00:00:00Z"}}}
    )
    while True:
        events += page["events"]
        if not page.get("next_page"):
            break
        response = api.client.get(page["next_page"])
        response.raise_for_status()
        page = response.json()
    seen["events"] = events
    return json.dumps(seen)
