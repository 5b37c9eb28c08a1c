"""shipflow beyond one machine: a Prefect server on PostgreSQL, several process workers on the
``shipflow-process`` pool and the webhook receiver, started and stopped by PID on one machine
(the tests, ``benchmarks/scale_out.py``) the way they run on several in production; and the
Kubernetes work pool's base job template.

Every process gets its own ``PREFECT_HOME`` and ``PREFECT_API_URL`` (the caller's environment
may point at another server). The database URL, which holds PostgreSQL's password, is given
to the server only; workers and the receiver know the API URL and nothing else of the
database.
"""

from __future__ import annotations

import contextlib
import copy
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from shipflow.deployments import local
from shipflow.errors import ServiceError

POOL = "shipflow-process"
K8S_POOL = "shipflow-k8s"
# A worker and its flow runs retry the API's 500s as they do its 503s: while the server's
# database restarts, Prefect answers 500 to a refused database connection (prefect.yaml sets
# the same for every run; see its header).
RETRY_500 = {"PREFECT_CLIENT_RETRY_EXTRA_CODES": "500"}


@dataclass
class ScaleOut:
    """Prefect on PostgreSQL with ``workers`` process workers, and the webhook receiver.

    ``worker_env`` is added to every worker's environment (and so every flow run's): the
    settings and credentials a worker host would have. ``worker_limit`` caps the flow runs
    one worker runs at once (``prefect worker start --limit``). ``project`` is the directory
    holding ``prefect.yaml`` (deployments are made from it).
    """

    workdir: Path
    project: Path
    workers: int = 2
    worker_limit: int | None = None
    worker_env: Mapping[str, str] = field(default_factory=dict)
    receiver: bool = True
    postgres: local.Postgres | None = None
    server: local.Service | None = None
    worker_services: list[local.Service] = field(default_factory=list)
    receiver_service: local.Service | None = None
    webhook_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    port: int = field(default_factory=local.free_port)
    receiver_port: int = field(default_factory=local.free_port)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def receiver_url(self) -> str:
        return f"http://127.0.0.1:{self.receiver_port}"

    # --- start and stop -----------------------------------------------------------------

    def start(self) -> ScaleOut:
        """PostgreSQL, the Prefect server on it, the work pool, the deployments, the workers
        and the receiver. Anything that fails to start stops what started before it."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self.postgres = local.postgres(local.free_port(), self.workdir)
            self.postgres.service.start()
            self.server = local.prefect_server(
                self.port,
                self.workdir,
                settings={
                    "PREFECT_SERVER_DATABASE_CONNECTION_URL": self.postgres.url,
                    # Workers, flow runs and the receiver all write at once.
                    "PREFECT_SERVER_DATABASE_POOL_SIZE": "20",
                    "PREFECT_SERVER_DATABASE_MAX_OVERFLOW": "20",
                },
            ).start()
            self.deploy()
            for _ in range(self.workers):
                self.start_worker()
            if self.receiver:
                self.receiver_service = self._receiver().start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop everything this started, workers first; remove PostgreSQL's data."""
        for service in [*self.worker_services, self.receiver_service, self.server]:
            if service is not None:
                service.stop()
                for pid in _flow_processes(service):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        if self.postgres is not None:
            self.postgres.service.stop()
            self.postgres.remove()

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a process that talks to this server (not its database)."""
        return {"PREFECT_API_URL": self.api_url, **extra}

    def deploy(self) -> None:
        """The work pool and every deployment of ``prefect.yaml`` on this server."""
        prefect = local.require_binary("prefect")
        env = {**os.environ, **self.env(PREFECT_HOME=str(self.workdir / "deploy-home"))}
        subprocess.run(
            [prefect, "work-pool", "create", POOL, "--type", "process"],
            env=env,
            capture_output=True,
            check=False,
            timeout=120,
        )
        done = subprocess.run(
            [prefect, "--no-prompt", "deploy", "--all"],
            cwd=self.project,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        if done.returncode != 0:
            raise ServiceError(f"prefect deploy failed: {(done.stdout + done.stderr)[-1500:]}")

    def start_worker(self) -> local.Service:
        """One more process worker on the pool (its name: ``worker-N``)."""
        name = f"worker-{len(self.worker_services) + 1}"
        limit = ["--limit", str(self.worker_limit)] if self.worker_limit else []
        worker = local.Service(
            name=name,
            argv=[
                local.require_binary("prefect"),
                "worker",
                "start",
                "--pool",
                POOL,
                "--type",
                "process",
                "--name",
                name,
                *limit,
            ],
            ready=lambda: self.worker_online(name),
            log_path=self.workdir / f"{name}.log",
            env={
                **RETRY_500,
                **self.worker_env,
                **self.env(PREFECT_HOME=str(self.workdir / f"{name}-home")),
            },
            cwd=self.project,
        ).start()
        self.worker_services.append(worker)
        return worker

    def worker_online(self, name: str) -> bool:
        """The worker has sent its first heartbeat to the pool."""
        try:
            found = httpx.post(f"{self.api_url}/work_pools/{POOL}/workers/filter", json={})
        except httpx.HTTPError:
            return False
        return found.status_code == 200 and any(
            w["name"] == name and w.get("status") == "ONLINE" for w in found.json()
        )

    def _receiver(self) -> local.Service:
        return local.Service(
            name="webhook receiver",
            argv=[
                local.require_binary("shipflow"),
                "webhook",
                "serve",
                "--port",
                str(self.receiver_port),
            ],
            ready=local.http_ready(f"{self.receiver_url}/healthz"),
            log_path=self.workdir / "receiver.log",
            env=self.env(
                PREFECT_HOME=str(self.workdir / "receiver-home"),
                SHIPFLOW_WEBHOOK_GITHUB_SECRET=self.webhook_secret,
                SHIPFLOW_WEBHOOK_SEEN_PATH=str(self.workdir / "webhook-outbox.sqlite"),
            ),
        )

    # --- faults -------------------------------------------------------------------------

    def kill_worker(self, worker: local.Service, *, spare: set[int] | None = None) -> list[int]:
        """SIGKILL a worker and the flow processes it started, at once (the worker's host
        or container dying); processes in ``spare`` and those started in sessions of their
        own below the flow processes (an orphaned Terraform) are left. The pids killed."""
        assert worker.proc is not None
        pids = [worker.proc.pid, *_flow_processes(worker)]
        pids = [p for p in pids if p not in (spare or set())]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        worker.proc.wait(10)
        return pids

    def restart_database(self, down_seconds: float = 0.0) -> None:
        """Stop PostgreSQL (fast shutdown: open connections are cut), stay down for
        ``down_seconds``, start it again on the same port and data."""
        assert self.postgres is not None
        self.postgres.service.stop()
        if down_seconds:
            time.sleep(down_seconds)
        self.postgres.service.start()


@contextlib.contextmanager
def scale_out(**options: Any) -> Iterator[ScaleOut]:
    cluster = ScaleOut(**options).start()
    try:
        yield cluster
    finally:
        cluster.stop()


def _flow_processes(service: local.Service) -> list[int]:
    """The processes a worker started (flow runs run in sessions of their own), and theirs,
    except those that left for a session of their own below a flow process."""
    if service.proc is None:
        return []
    children: dict[int, list[int]] = {}
    sessions: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
        sessions[int(entry.name)] = int(fields[3])
    found: list[int] = []
    # The worker's children (flow processes) and everything in their own sessions below.
    for child in children.get(service.proc.pid, []):
        found.append(child)
        frontier = [child]
        while frontier:
            below = [
                c
                for p in frontier
                for c in children.get(p, [])
                if sessions.get(c) == sessions.get(child)
            ]
            found += below
            frontier = below
    return found


# --- the Kubernetes work pool -------------------------------------------------------------


def kubernetes_base_job_template(
    image: str = "ghcr.io/example/shipflow-worker:1.0.0",
    namespace: str = "shipflow",
    service_account: str = "shipflow-runner",
) -> dict[str, Any]:
    """The base job template of a ``kubernetes`` work pool for shipflow (prefect-kubernetes'
    layout: ``job_configuration`` with a ``job_manifest`` whose ``{{ placeholders }}`` the
    ``variables`` schema fills).

    Differences from prefect-kubernetes' default, each for a reason:
    - ``terminationGracePeriodSeconds`` 600: an evicted pod gets SIGTERM and Terraform,
      given time, finishes its apply or stops and releases the state lock; the default 30 s
      would SIGKILL it half-way and leave the lock held.
    - ``backoffLimit`` 0: a crashed flow run is not re-run by Kubernetes (an apply is not
      safe to repeat blindly; shipflow's automations deal with a dead run).
    - requests and limits, a non-root user except for image builds (buildah in a pod needs
      ``--isolation chroot`` and a privileged or user-namespaced pod: a separate pool).
    - heartbeats every 30 s, so a run whose pod is gone is marked Crashed.
    - credentials come from a Secret by reference (``envFrom``), never in the template.
    """
    variables: dict[str, Any] = {
        "type": "object",
        "properties": {
            "image": {"type": "string", "default": image, "title": "Image"},
            "namespace": {"type": "string", "default": namespace, "title": "Namespace"},
            "service_account_name": {"type": "string", "default": service_account},
            "image_pull_policy": {
                "type": "string",
                "enum": ["IfNotPresent", "Always", "Never"],
                "default": "IfNotPresent",
            },
            "credentials_secret": {
                "type": "string",
                "default": "shipflow-worker-credentials",
                "title": "Secret holding the worker's credentials (cloud, registry, cluster)",
            },
            "cpu_request": {"type": "string", "default": "500m"},
            "memory_request": {"type": "string", "default": "512Mi"},
            "memory_limit": {"type": "string", "default": "2Gi"},
            "finished_job_ttl": {"type": "integer", "default": 3600},
            "env": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "default": {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30", **RETRY_500},
            },
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "name": {"type": "string"},
            "command": {"type": "string"},
        },
    }
    manifest: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "generateName": "{{ name }}-",
            "namespace": "{{ namespace }}",
            "labels": "{{ labels }}",
        },
        "spec": {
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": "{{ finished_job_ttl }}",
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "serviceAccountName": "{{ service_account_name }}",
                    "terminationGracePeriodSeconds": 600,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
                    "containers": [
                        {
                            "name": "prefect-job",
                            "image": "{{ image }}",
                            "imagePullPolicy": "{{ image_pull_policy }}",
                            "args": "{{ command }}",
                            "env": "{{ env }}",
                            "envFrom": [{"secretRef": {"name": "{{ credentials_secret }}"}}],
                            "resources": {
                                "requests": {
                                    "cpu": "{{ cpu_request }}",
                                    "memory": "{{ memory_request }}",
                                },
                                "limits": {"memory": "{{ memory_limit }}"},
                            },
                            "securityContext": {"allowPrivilegeEscalation": False},
                        }
                    ],
                }
            },
        },
    }
    return {
        "job_configuration": {
            "command": "{{ command }}",
            "env": "{{ env }}",
            "labels": "{{ labels }}",
            "name": "{{ name }}",
            "namespace": "{{ namespace }}",
            "job_manifest": manifest,
            "cluster_config": None,
            "job_watch_timeout_seconds": None,
            "pod_watch_timeout_seconds": 300,
            "stream_output": True,
        },
        "variables": variables,
    }


def render_job_manifest(
    template: Mapping[str, Any], values: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The Job a worker would submit: the manifest with each placeholder replaced by the
    value given, else the variable's default (what prefect-kubernetes does before it adds
    the flow run's own command, environment and labels)."""
    from prefect.utilities.templating import apply_values

    defaults = {
        name: spec["default"]
        for name, spec in template["variables"]["properties"].items()
        if "default" in spec
    }
    filled = {
        "name": "shipflow-run",
        "command": ["prefect", "flow-run", "execute"],
        "labels": {"app.kubernetes.io/name": "shipflow"},
        **defaults,
        **(values or {}),
    }
    # A container's env is a list of name/value pairs (prefect-kubernetes converts it too).
    filled["env"] = [{"name": k, "value": v} for k, v in dict(filled.get("env") or {}).items()]
    manifest = copy.deepcopy(template["job_configuration"]["job_manifest"])
    rendered: dict[str, Any] = apply_values(manifest, filled)
    return rendered
