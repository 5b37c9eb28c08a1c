"""``shipflow sandbox up|down|status``: everything a release needs, on 127.0.0.1, until ``down``.

``up`` starts, each on a free port: the Prefect server **with its UI**, a worker serving
shipflow's deployments (:mod:`.worker`), Prometheus, docker-registry, moto_server (S3 for
Terraform state), HAProxy (its runtime API on a unix socket), the webhook receiver, the
sandbox Kubernetes API, the demo app's stable version as a local process behind HAProxy (the
``local`` target, :mod:`shipflow.adapters.processes`), and a steady load generator through
HAProxy. Every process is recorded in ``sandbox.json`` in the sandbox's folder with its PID and
start time; ``down`` stops exactly those (and the app versions the target started since),
checks that no port is left bound, and removes the folder. A second ``up`` finds the sandbox
running and says so.

The folder is ``SHIPFLOW_SANDBOX_DIR`` (default ``~/.local/state/shipflow/sandbox``).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from shipflow.adapters.haproxy import HAProxyRuntime
from shipflow.adapters.processes import LocalWorkloads, alive, start_ticks, stop_group
from shipflow.deployments import local
from shipflow.deployments.sandbox import web_app
from shipflow.errors import ServiceError

APP = "web"
STABLE_IMAGE = "registry.local/shop/web:1.0.0"
LOAD_RPS = 100.0
KUBE_NAMESPACE = "shop"
STATE_FILE = "sandbox.json"
# The tools the sandbox needs that are not Python packages, and where they come from.
SYSTEM_TOOLS = ("prometheus", "docker-registry", "haproxy", "buildah", "busybox")


def sandbox_dir() -> Path:
    """Where the sandbox keeps its state, data and logs."""
    configured = os.environ.get("SHIPFLOW_SANDBOX_DIR")
    if configured:
        return Path(configured).expanduser().resolve()
    state_home = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return state_home / "shipflow" / "sandbox"


@dataclass
class Process:
    """One process the sandbox started: enough to find it again, and only it."""

    name: str
    pid: int
    ticks: int | None
    port: int
    log: str
    # serve() ends on SIGINT (as on Ctrl-C), stopping its flow runs, whose hooks roll back.
    signum: int = signal.SIGTERM

    def stop(self) -> bool:
        return stop_group(self.pid, self.ticks, signum=self.signum)

    def alive(self) -> bool:
        return alive(self.pid, self.ticks)


@dataclass
class Sandbox:
    """What ``up`` started and where to reach it (``sandbox.json``)."""

    root: str
    prefect_api: str
    prefect_ui: str
    prometheus: str
    registry: str  # host:port, as in image references
    s3: str
    kube: str
    haproxy: str  # the app's address through HAProxy
    haproxy_runtime: str
    webhook: str
    load: str
    started: float
    processes: list[Process] = field(default_factory=list)

    @property
    def path(self) -> Path:
        return Path(self.root)

    @property
    def apps(self) -> Path:
        return self.path / "apps"

    def webhook_secret(self) -> str:
        return (self.path / "webhook-secret").read_text().strip()

    def workloads(self) -> LocalWorkloads:
        """The ``local`` target's app versions (what ``promote_canary`` drives here)."""
        return LocalWorkloads.at(self.apps, APP)

    def save(self) -> None:
        state = self.path / STATE_FILE
        partial = state.with_suffix(".partial")
        partial.write_text(json.dumps(asdict(self), indent=1))
        partial.replace(state)


def load() -> Sandbox | None:
    """The sandbox recorded in the sandbox folder, if any (running or not)."""
    state = sandbox_dir() / STATE_FILE
    try:
        raw = json.loads(state.read_text())
    except (OSError, ValueError):
        return None
    raw["processes"] = [Process(**p) for p in raw.get("processes", [])]
    return Sandbox(**raw)


def flow_environment(sandbox: Sandbox) -> dict[str, str]:
    """What a flow run needs to use the sandbox (the worker runs with it)."""
    root = sandbox.path
    return {
        "PREFECT_API_URL": sandbox.prefect_api,
        "PREFECT_UI_URL": sandbox.prefect_ui,
        "PREFECT_HOME": str(root / "prefect-client"),
        # moto takes any credentials; the sandbox must never touch a real AWS account.
        "AWS_ACCESS_KEY_ID": "sandbox",
        "AWS_SECRET_ACCESS_KEY": "sandbox-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "TF_CLI_CONFIG_FILE": str(root / "terraformrc"),
        "CHECKPOINT_DISABLE": "1",
        "KUBECONFIG": str(root / "kubeconfig"),
        "SHIPFLOW_PROMETHEUS_URL": sandbox.prometheus,
        "SHIPFLOW_REGISTRY_TLS": "false",
        "SHIPFLOW_BUILDAH_STORAGE_DRIVER": os.environ.get("SHIPFLOW_BUILDAH_STORAGE_DRIVER", "vfs"),
        "SHIPFLOW_SANDBOX_DIR": str(root),
        # The demo's example repository: a release run of the sandbox reads it from here.
        "SHIPFLOW_STACKS_ROOT": str(root / "repo"),
        # The local target: the app's versions as processes behind the sandbox's HAProxy.
        "SHIPFLOW_LOCAL_ROOT": str(sandbox.apps),
    }


def missing_tools() -> list[str]:
    """One line per system tool the sandbox needs and this machine lacks, with the command
    that installs it."""
    lines = []
    for tool in (*SYSTEM_TOOLS, "prefect", "moto_server"):
        try:
            local.require_binary(tool)
        except ServiceError as exc:
            lines.append(str(exc))
    return lines


def _ticks(service: local.Service) -> int | None:
    assert service.proc is not None
    return start_ticks(service.proc.pid)


def up(say: Callable[[str], None]) -> tuple[Sandbox, bool]:
    """Start the sandbox, or find it running. Returns it and whether this call started it.

    Anything that fails (or Ctrl-C) on the way stops what was started, so there is never half
    a sandbox.
    """
    current = load()
    if current is not None:
        dead = [p.name for p in current.processes if not p.alive()]
        if not dead:
            return current, False
        raise ServiceError(
            f"the sandbox in {current.root} is broken ({', '.join(dead)} not running): "
            "run `shipflow sandbox down`, then `shipflow sandbox up`"
        )
    missing = missing_tools()
    if missing:
        raise ServiceError("; ".join(missing))
    root = sandbox_dir()
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()):
        raise ServiceError(f"{root} is not empty and holds no sandbox: remove it first")
    started: list[Process] = []
    try:
        sandbox = _start(root, started, say)
    except BaseException:
        say("stopping what was started")
        for process in reversed(started):
            process.stop()
        LocalWorkloads(root / "apps", HAProxyRuntime("unix:/nonexistent")).stop_all()
        shutil.rmtree(root, ignore_errors=True)
        raise
    return sandbox, True


def _start(root: Path, started: list[Process], say: Callable[[str], None]) -> Sandbox:
    ports = {
        name: local.free_port()
        for name in (
            "prefect",
            "prometheus",
            "registry",
            "moto",
            "kube",
            "haproxy",
            "webhook",
            "load",
        )
    }
    runtime = f"unix:{root / 'haproxy.sock'}"
    apps = root / "apps"
    LocalWorkloads.define(
        apps,
        APP,
        web_app.command(),
        runtime=runtime,
        registry=f"127.0.0.1:{ports['registry']}",
    )
    sandbox = Sandbox(
        root=str(root),
        prefect_api=f"http://127.0.0.1:{ports['prefect']}/api",
        prefect_ui=f"http://127.0.0.1:{ports['prefect']}",
        prometheus=f"http://127.0.0.1:{ports['prometheus']}",
        registry=f"127.0.0.1:{ports['registry']}",
        s3=f"http://127.0.0.1:{ports['moto']}",
        kube=f"http://127.0.0.1:{ports['kube']}",
        haproxy=f"http://127.0.0.1:{ports['haproxy']}",
        haproxy_runtime=runtime,
        webhook=f"http://127.0.0.1:{ports['webhook']}",
        load=f"http://127.0.0.1:{ports['load']}",
        started=time.time(),
        processes=started,
    )
    (root / "terraformrc").write_text("")
    secret = root / "webhook-secret"
    secret.touch(mode=0o600)
    secret.write_text(secrets.token_hex(32))
    env = flow_environment(sandbox)
    from shipflow.deployments.sandbox.fake_kube import FakeKube

    (root / "kubeconfig").write_text(json.dumps(FakeKube.kubeconfig_for(sandbox.kube)))
    python = sys.executable
    first = {
        "prefect": local.prefect_server(ports["prefect"], root, ui=True),
        "moto": local.moto_server(ports["moto"], root),
        "registry": local.registry(ports["registry"], root),
        "prometheus": local.prometheus(
            ports["prometheus"],
            root,
            [f"127.0.0.1:{ports['load']}"],
            file_sd=[str(apps / "targets" / "*.json")],
        ),
        "kube": local.Service(
            name="sandbox kubernetes API",
            argv=[python, "-m", "shipflow.deployments.sandbox.fake_kube", str(ports["kube"])],
            ready=local.http_ready(f"{sandbox.kube}/api", lambda r: r.status_code == 200),
            log_path=root / "kube.log",
        ),
        "haproxy": local.haproxy(
            ports["haproxy"], runtime, root, {"stable": "", "canary": ""}, APP, "/healthz"
        ),
    }
    say(
        "starting the Prefect server with its UI, moto (S3), docker-registry, Prometheus, "
        "HAProxy and the sandbox Kubernetes API"
    )
    _start_all(first, ports, started)
    say(f"starting {APP} {STABLE_IMAGE} as a local process behind HAProxy (stable)")
    sandbox.workloads().start(APP, STABLE_IMAGE)
    tmp = root / "tmp"
    tmp.mkdir()
    second = {
        "worker": local.Service(
            name="worker",
            argv=[python, "-m", "shipflow.deployments.sandbox.worker"],
            ready=_deployment_ready(sandbox.prefect_api),
            log_path=root / "worker.log",
            # Its temporary files (Prefect's runner_storage, plans, builds) stay in the sandbox
            # folder, which `down` removes: nothing is left in the machine's temp folder.
            env={**env, "TMPDIR": str(tmp)},
            cwd=root,
            timeout=120,
        ),
        "webhook": local.Service(
            name="webhook receiver",
            argv=[
                python,
                "-m",
                "shipflow.cli",
                "webhook",
                "serve",
                "--port",
                str(ports["webhook"]),
            ],
            ready=local.http_ready(f"{sandbox.webhook}/healthz", lambda r: r.status_code == 200),
            log_path=root / "webhook.log",
            env={
                "PREFECT_API_URL": sandbox.prefect_api,
                "PREFECT_HOME": str(root / "prefect-client"),
                "SHIPFLOW_WEBHOOK_GITHUB_SECRET": secret.read_text(),
                "SHIPFLOW_WEBHOOK_SEEN_PATH": str(root / "webhook-seen.sqlite"),
            },
        ),
        "load": local.Service(
            name="load generator",
            argv=[
                python,
                "-m",
                "shipflow.deployments.sandbox.load",
                "--target",
                f"{sandbox.haproxy}/",
                "--rps",
                str(LOAD_RPS),
                "--users",
                "8",
                "--port",
                str(ports["load"]),
            ],
            ready=local.http_ready(f"{sandbox.load}/counts", lambda r: r.status_code == 200),
            log_path=root / "load.log",
        ),
    }
    # The Kubernetes target's app (namespace shop), for flows run on that target by hand; the
    # demo releases to the local target, where real requests reach real processes.
    from kubernetes import config as k8s_config

    from shipflow.deployments.sandbox.cluster import create_app

    api = k8s_config.new_client_from_config(config_file=str(root / "kubeconfig"))  # type: ignore[no-untyped-call]
    create_app(api, image=STABLE_IMAGE, namespace=KUBE_NAMESPACE)
    say("starting the worker (shipflow's deployments), the webhook receiver, the load generator")
    _start_all(second, ports, started)
    sandbox.save()
    return sandbox


def _start_all(
    services: dict[str, local.Service], ports: dict[str, int], started: list[Process]
) -> None:
    """Start ``services`` at once and wait for all; each is recorded as soon as it runs,
    with the port it listens on (``ports``, by the same name)."""

    def one(item: tuple[str, local.Service]) -> None:
        name, service = item
        original = service.ready
        recorded = False

        def ready() -> bool:
            nonlocal recorded
            if not recorded and service.proc is not None:
                started.append(
                    Process(
                        name,
                        service.proc.pid,
                        _ticks(service),
                        ports.get(name, 0),
                        str(service.log_path),
                        signal.SIGINT if name == "worker" else signal.SIGTERM,
                    )
                )
                recorded = True
            return original()

        service.ready = ready
        service.start()

    with ThreadPoolExecutor(max_workers=len(services)) as pool:
        for future in [pool.submit(one, item) for item in services.items()]:
            future.result()


def _deployment_ready(api: str) -> Callable[[], bool]:
    """Release is deployed *and* its trigger exists: serving creates the deployment first and
    its automation a moment later, and a merge posted in between would start nothing."""

    def ready() -> bool:
        with contextlib.suppress(httpx.HTTPError):
            found = httpx.get(f"{api}/deployments/name/release/release", timeout=2)
            if not found.is_success:
                return False
            resource = f"prefect.deployment.{found.json()['id']}"
            automations = httpx.get(f"{api}/automations/related-to/{resource}", timeout=2)
            return automations.is_success and bool(automations.json())
        return False

    return ready


def down(say: Callable[[str], None]) -> list[str]:
    """Stop everything the sandbox started (its processes, and the app versions it runs),
    make sure their ports are free, and remove its folder. Returns what was stopped."""
    sandbox = load()
    root = sandbox_dir()
    if sandbox is None:
        if root.exists() and not any(root.iterdir()):
            root.rmdir()
        return []
    stopped: list[str] = []
    # The users, the receiver and the worker first (no new requests, no new runs), then the
    # app versions, then the services they used.
    first = [p for p in sandbox.processes if p.name in ("load", "webhook", "worker")]
    rest = [p for p in sandbox.processes if p not in first]
    for process in first:
        if process.stop():
            stopped.append(process.name)
    stopped += LocalWorkloads(sandbox.apps, HAProxyRuntime(sandbox.haproxy_runtime)).stop_all()
    for process in rest:
        if process.stop():
            stopped.append(process.name)
    bound = [p for p in sandbox.processes if p.port and listening(p.port)]
    if bound:
        names = ", ".join(f"{p.name} ({p.port})" for p in bound)
        raise ServiceError(f"ports still bound after stopping the sandbox: {names}")
    shutil.rmtree(root, ignore_errors=True)
    say(f"stopped {len(stopped)} processes; removed {root}")
    return stopped


def listening(port: int) -> bool:
    """True when a socket listens on TCP ``port`` (IPv4 or IPv6), as ``/proc/net/tcp`` says.
    (Connections closed a moment ago wait in TIME_WAIT; they bind nothing.)"""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                if local_port == port and fields[3] == "0A":  # 0A: LISTEN
                    return True
    return False


def status() -> dict[str, Any] | None:
    """Each recorded process (alive or not), the app versions running, and the addresses."""
    sandbox = load()
    if sandbox is None:
        return None
    versions = sandbox.workloads().instances()
    return {
        "root": sandbox.root,
        "ui": sandbox.prefect_ui,
        "urls": {
            "Prefect UI": sandbox.prefect_ui,
            "Prefect API": sandbox.prefect_api,
            "app through HAProxy": sandbox.haproxy,
            "Prometheus": sandbox.prometheus,
            "registry": sandbox.registry,
            "S3 (moto)": sandbox.s3,
            "Kubernetes API": sandbox.kube,
            "webhook receiver": sandbox.webhook,
            "load generator": sandbox.load,
        },
        "processes": [
            {"name": p.name, "pid": p.pid, "port": p.port, "running": p.alive()}
            for p in sandbox.processes
        ]
        + [
            {"name": f"{v.app}-{v.slot}", "pid": v.pid, "port": v.port, "running": True}
            for v in versions
        ],
        "versions": {f"{v.app}-{v.slot}": v.image for v in versions},
    }


@contextlib.contextmanager
def environment(sandbox: Sandbox) -> Iterator[None]:
    """The sandbox's flow environment in this process for a while (the demo's own calls)."""
    saved = {k: os.environ.get(k) for k in flow_environment(sandbox)}
    os.environ.update(flow_environment(sandbox))
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
