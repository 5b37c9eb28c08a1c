"""Local services (Prefect server, moto, Prometheus, registry, the sandbox metrics app) started
on 127.0.0.1 and free ports, and stopped by PID. Used by ``shipflow demo`` and the test suite.

Nothing here installs anything: a missing binary fails with the apt package that provides it
(``.ci/run`` and ``scripts/bootstrap`` install them on a fresh machine).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from shipflow.adapters.binaries import find_binary
from shipflow.adapters.ports import free_port as free_port
from shipflow.adapters.waiting import Timeout, poll_until
from shipflow.errors import ServiceError

APT_PACKAGES = {
    "prometheus": "prometheus",
    "docker-registry": "docker-registry",
    "haproxy": "haproxy",
    "buildah": "buildah",
    "skopeo": "skopeo",
    "busybox": "busybox-static",
    "chromium": "chromium",
    "postgres": "postgresql",
    "initdb": "postgresql",
    "openssl": "openssl",
}
# Debian keeps PostgreSQL's server programs out of PATH, under its major version.
POSTGRES_BIN_GLOB = "/usr/lib/postgresql/*/bin"


def require_binary(name: str) -> str:
    """The path of ``name``; if missing, an error naming the package that provides it."""
    path = find_binary(name)
    if path is None and APT_PACKAGES.get(name) == "postgresql":
        found = sorted(Path("/").glob(POSTGRES_BIN_GLOB.lstrip("/") + f"/{name}"), reverse=True)
        path = str(found[0]) if found else None
    if path is None:
        package = APT_PACKAGES.get(name)
        hint = (
            f"apt-get install -y --no-install-recommends {package}"
            if package
            else "pip install -e '.[dev]'"
        )
        raise ServiceError(f"{name} is not installed: {hint} (or run bash scripts/bootstrap)")
    return path


def http_ready(
    url: str, expect: Callable[[httpx.Response], bool] | None = None
) -> Callable[[], bool]:
    def check() -> bool:
        try:
            response = httpx.get(url, timeout=1.0)
        except httpx.HTTPError:
            return False
        return expect(response) if expect else response.status_code < 500

    return check


def tcp_ready(port: int) -> Callable[[], bool]:
    def check() -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return True
        return False

    return check


@dataclass
class Service:
    """One process the tests own."""

    name: str
    argv: Sequence[str]
    ready: Callable[[], bool]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    timeout: float = 60.0
    # Run as this user (PostgreSQL refuses to run as root); None: as the caller.
    user: str | None = None
    # What asks it to stop (PostgreSQL's fast shutdown is SIGINT; SIGTERM waits for clients).
    stop_signal: int = signal.SIGTERM
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            list(self.argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **self.env},
            cwd=self.cwd,
            start_new_session=True,
            user=self.user,
            group=self.user,
            extra_groups=[] if self.user else None,
        )
        proc = self.proc

        def started() -> bool:
            if proc.poll() is not None:
                raise ServiceError(
                    f"{self.name} exited with {proc.returncode} during start-up; "
                    f"its log ({self.log_path}) ends with:\n{self.log_tail()}"
                )
            return self.ready()

        try:
            poll_until(started, timeout=self.timeout, interval=0.1)
        except Timeout:
            self.stop()
            raise ServiceError(
                f"{self.name} was not ready after {self.timeout:.0f}s; log tail:\n{self.log_tail()}"
            ) from None
        return self

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def kill(self) -> None:
        """SIGKILL the whole process group: a crash, not a shutdown."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, self.stop_signal)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()


@contextlib.contextmanager
def running(service: Service) -> Iterator[Service]:
    service.start()
    try:
        yield service
    finally:
        service.stop()


# --- the services, as the demo and the tests start them ----------------------------------


def _write_yaml(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def prefect_server(
    port: int, workdir: Path, *, ui: bool = False, settings: dict[str, str] | None = None
) -> Service:
    """``prefect server start`` on SQLite in ``workdir``; with ``ui`` it also serves the
    Prefect UI at ``http://127.0.0.1:PORT`` (the sandbox, where a person approves a plan),
    otherwise the API only (the tests: no UI assets copied, a faster start). ``settings``
    adds server settings (e.g. ``PREFECT_SERVER_API_AUTH_STRING``).

    The UI's own idea of the API address (``PREFECT_UI_API_URL``) is set to this server, and
    its static files are copied into ``workdir`` (the installed package may be read-only).
    """
    database = f"sqlite+aiosqlite:///{workdir / 'prefect.db'}"
    api_url = f"http://127.0.0.1:{port}/api"
    env = {
        "PREFECT_HOME": str(workdir / "prefect-home"),
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": database,
        # Its own address, whatever the caller's environment points at.
        "PREFECT_API_URL": api_url,
    }
    if ui:
        env |= {
            "PREFECT_UI_API_URL": api_url,
            "PREFECT_UI_URL": api_url.removesuffix("/api"),
            "PREFECT_UI_STATIC_DIRECTORY": str(workdir / "prefect-ui"),
        }
    return Service(
        name="prefect server",
        argv=[
            require_binary("prefect"),
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *([] if ui else ["--no-ui"]),
            "--analytics-off",
        ],
        ready=http_ready(f"{api_url}/health", lambda r: r.status_code == 200),
        log_path=workdir / "prefect-server.log",
        env=env | (settings or {}),
        timeout=120,
    )


def metrics_app(port: int, workdir: Path) -> Service:
    """The sandbox's metrics app: stable and canary traffic as ``prometheus_client`` metrics
    (``shipflow.deployments.sandbox.metrics_app``), controlled over ``POST /control``."""
    return Service(
        name="metrics app",
        argv=[sys.executable, "-m", "shipflow.deployments.sandbox.metrics_app", str(port)],
        ready=http_ready(f"http://127.0.0.1:{port}/metrics", lambda r: r.status_code == 200),
        log_path=workdir / "metrics-app.log",
    )


def moto_server(port: int, workdir: Path) -> Service:
    """``moto_server`` serving S3 and DynamoDB."""
    return Service(
        name="moto_server",
        argv=[require_binary("moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        ready=http_ready(f"http://127.0.0.1:{port}/moto-api/", lambda r: r.status_code == 200),
        log_path=workdir / "moto.log",
    )


def prometheus(
    port: int,
    workdir: Path,
    targets: list[str],
    scrape_interval: str = "1s",
    file_sd: list[str] | None = None,
    rule_files: Sequence[Path] = (),
) -> Service:
    """Debian's Prometheus scraping fixed ``targets`` (it applies new targets only after ~5s),
    and, with ``file_sd``, the target lists in those files (globs; rewritten files are read
    again at once), for processes that come and go (the ``local`` target's app versions).
    ``rule_files`` are loaded and evaluated at the scrape interval (``shipflow monitor``)."""
    scrape: list[dict[str, Any]] = [{"job_name": "app", "static_configs": [{"targets": targets}]}]
    if file_sd:
        scrape.append(
            {"job_name": "local", "file_sd_configs": [{"files": file_sd, "refresh_interval": "1s"}]}
        )
    document: dict[str, Any] = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "scrape_configs": scrape,
    }
    if rule_files:
        document["rule_files"] = [str(path) for path in rule_files]
    config = _write_yaml(workdir / "prometheus.yml", document)
    return Service(
        name="prometheus",
        argv=[
            require_binary("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=1h",
        ],
        ready=http_ready(f"http://127.0.0.1:{port}/-/ready", lambda r: r.status_code == 200),
        log_path=workdir / "prometheus.log",
    )


def registry(port: int, workdir: Path) -> Service:
    """Debian's docker-registry (distribution v2), filesystem storage, no auth."""
    config = _write_yaml(
        workdir / "registry.yml",
        {
            "version": "0.1",
            "log": {"level": "warn"},
            "storage": {
                "filesystem": {"rootdirectory": str(workdir / "registry-data")},
                "delete": {"enabled": True},
            },
            "http": {"addr": f"127.0.0.1:{port}"},
        },
    )
    return Service(
        name="docker-registry",
        argv=[require_binary("docker-registry"), "serve", str(config)],
        ready=http_ready(f"http://127.0.0.1:{port}/v2/", lambda r: r.status_code == 200),
        log_path=workdir / "registry.log",
    )


def haproxy(
    frontend: int,
    runtime: str,
    workdir: Path,
    servers: dict[str, str],
    backend: str = "app",
    health: str | None = None,
) -> Service:
    """Debian's HAProxy: one HTTP frontend on ``frontend``, one round-robin ``backend`` and
    the admin runtime API at ``runtime`` (``unix:/path`` or ``127.0.0.1:PORT``).

    ``servers`` maps a server name to ``host:port``; the first starts with weight 100, the
    others with 0 (the runtime API moves them). An empty address starts the server disabled,
    pointing nowhere, until the runtime API gives it one. With ``health`` (an HTTP path)
    servers are checked every second and a dead one takes no requests.
    """
    if runtime.startswith("unix:"):
        socket_line = f"  stats socket {runtime.removeprefix('unix:')} mode 600 level admin"
    else:
        socket_line = f"  stats socket ipv4@{runtime} level admin"
    lines = [
        "global",
        socket_line,
        "defaults",
        "  mode http",
        "  timeout connect 1s",
        "  timeout client 10s",
        "  timeout server 10s",
        # A request that cannot reach a server (one just stopped) goes to another.
        "  option redispatch",
        "  retries 2",
        "  retry-on conn-failure empty-response response-timeout",
        "frontend web",
        f"  bind 127.0.0.1:{frontend}",
        f"  default_backend {backend}",
        f"backend {backend}",
        "  balance roundrobin",
    ]
    if health:
        lines += [f"  option httpchk GET {health}", "  default-server inter 1s fall 2 rise 1"]
    for i, (name, address) in enumerate(servers.items()):
        weight = 100 if i == 0 else 0
        check = " check" if health else ""
        where = address or "127.0.0.1:1"
        state = "" if address else " disabled"
        lines.append(f"  server {name} {where} weight {weight}{check}{state}")
    config = workdir / "haproxy.cfg"
    config.write_text("\n".join(lines) + "\n")
    if runtime.startswith("unix:"):
        path = Path(runtime.removeprefix("unix:"))
        ready = path.exists
    else:
        ready = tcp_ready(int(runtime.rsplit(":", 1)[1]))
    return Service(
        name="haproxy",
        argv=[require_binary("haproxy"), "-db", "-f", str(config)],
        ready=lambda: bool(ready()) and tcp_ready(frontend)(),
        log_path=workdir / "haproxy.log",
    )


@dataclass(frozen=True)
class Postgres:
    """A PostgreSQL server of its own: data directory, port, and the one database Prefect
    uses. ``url`` holds the password: give it to the Prefect server only."""

    service: Service
    data_dir: Path
    port: int
    user: str
    password: str
    database: str = "prefect"

    @property
    def url(self) -> str:
        """The SQLAlchemy URL Prefect's server takes (asyncpg driver)."""
        return (
            f"postgresql+asyncpg://{self.user}:{self.password}@127.0.0.1:{self.port}"
            f"/{self.database}"
        )

    def remove(self) -> None:
        """Delete the data directory (the server must be stopped)."""
        shutil.rmtree(self.data_dir, ignore_errors=True)


def postgres(port: int, workdir: Path, *, database: str = "prefect") -> Postgres:
    """Debian's PostgreSQL with a fresh data directory (``initdb``, password auth over TCP on
    127.0.0.1 only, a generated password) and an empty ``database``; not started yet.

    PostgreSQL refuses to run as root: run as root, the server and ``initdb`` run as the
    ``postgres`` user, and the data directory lives in a folder of its own under the system's
    temporary directory (``workdir`` may not be readable by that user). Durability settings
    are relaxed (``fsync=off``): this server is for tests, the sandbox and benchmarks.
    """
    initdb, server = require_binary("initdb"), require_binary("postgres")
    user = "postgres" if os.geteuid() == 0 else None
    base = Path(tempfile.mkdtemp(prefix="shipflow-postgres-")) if user else workdir / "postgres"
    base.mkdir(parents=True, exist_ok=True)
    data = base / "data"
    password = secrets.token_urlsafe(18)
    pwfile = base / "pwfile"
    pwfile.write_text(password + "\n")
    if user:
        shutil.chown(base, user)
        shutil.chown(pwfile, user)
    prepare: dict[str, Any] = {"user": user, "group": user, "extra_groups": []} if user else {}
    done = subprocess.run(
        [
            initdb,
            "-D",
            str(data),
            "-U",
            "shipflow",
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
            "--no-locale",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=base,
        **prepare,
    )
    pwfile.unlink()
    if done.returncode != 0:
        raise ServiceError(f"initdb failed: {done.stderr.strip()[-500:]}")
    created = subprocess.run(
        [server, "--single", "-D", str(data), "postgres"],
        input=f"CREATE DATABASE {database};\n",
        capture_output=True,
        text=True,
        check=False,
        cwd=base,
        **prepare,
    )
    if created.returncode != 0:
        raise ServiceError(f"could not create database {database}: {created.stderr[-500:]}")
    service = Service(
        name="postgresql",
        argv=[
            server,
            "-D",
            str(data),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-k",
            str(base),
            "-c",
            "fsync=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "max_connections=200",
        ],
        ready=tcp_ready(port),
        log_path=base / "postgresql.log",
        cwd=base,
        user=user,
        stop_signal=signal.SIGINT,
    )
    return Postgres(service, base, port, "shipflow", password, database)
