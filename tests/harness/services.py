"""Real services for the tests, started on 127.0.0.1 and free ports, stopped by PID.

Nothing here installs anything: a missing binary fails with the apt package that provides it
(``.ci/run`` installs them on a fresh machine).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

APT_PACKAGES = {
    "prometheus": "prometheus",
    "docker-registry": "docker-registry",
    "haproxy": "haproxy",
    "buildah": "buildah",
    "skopeo": "skopeo",
    "busybox": "busybox-static",
}


class ServiceError(RuntimeError):
    """A test service could not be started."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_binary(name: str) -> str:
    """The path of ``name``; if missing, an error naming the package that provides it."""
    path = shutil.which(name) or (
        str(Path(sys.executable).with_name(name))
        if Path(sys.executable).with_name(name).exists()
        else None
    )
    if path is None:
        package = APT_PACKAGES.get(name)
        hint = (
            f"apt-get install -y --no-install-recommends {package}"
            if package
            else "pip install -e '.[dev]'"
        )
        raise ServiceError(f"{name} is not installed: {hint} (or run bash .ci/run once)")
    return path


def http_ready(url: str, expect: Callable[[httpx.Response], bool] | None = None) -> Callable[[], bool]:
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
        )
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServiceError(
                    f"{self.name} exited with {self.proc.returncode} during start-up; "
                    f"its log ({self.log_path}) ends with:\n{self.log_tail()}"
                )
            if self.ready():
                return self
            time.sleep(0.1)
        self.stop()
        raise ServiceError(
            f"{self.name} was not ready after {self.timeout:.0f}s; log tail:\n{self.log_tail()}"
        )

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
            os.killpg(self.proc.pid, signal.SIGTERM)
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
