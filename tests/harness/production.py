"""The production shape on one machine: shipflow installed from its wheel into a venv of its
own, processes started from an empty directory with an environment of their own, a Prefect API
spoken to with its auth string, and SIGKILL of a process and everything it started."""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from shipflow.adapters.waiting import Timeout, poll_until

# What a worker's environment must not inherit from the test run: the checkout on sys.path,
# the test venv, and the session's own Prefect server.
NOT_INHERITED = ("PYTHONPATH", "VIRTUAL_ENV", "PREFECT_API_URL", "PREFECT_HOME", "KUBECONFIG")


@dataclass(frozen=True)
class InstalledShipflow:
    """A venv holding shipflow's wheel, not the checkout."""

    venv: Path

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    @property
    def python(self) -> Path:
        return self.bin / "python"


def install_wheel(root: Path, work: Path) -> InstalledShipflow:
    """Build shipflow's wheel from a copy of the checkout and install it into a new venv.

    The wheel is installed without its dependencies; those come from the test venv's
    site-packages through a ``.pth`` line (a path line adds that folder to ``sys.path`` but,
    unlike a site directory, runs none of its ``.pth`` files: the test venv's editable
    install of shipflow stays out). Installing Prefect's hundred dependencies again would
    cost a minute and prove nothing more. Console scripts of the dependencies a worker runs
    (hadolint) are linked beside the venv's Python, where pip would have put them.
    """
    source = work / "source"
    shutil.copytree(
        root,
        source,
        symlinks=True,
        ignore=shutil.ignore_patterns(
            ".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", ".*_cache"
        ),
    )
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    # The build backend comes from the wheels scripts/bootstrap keeps, when there are some.
    wheels = root / ".venv" / "wheels"
    offline = ["--no-index", "--find-links", str(wheels)] if any(wheels.glob("*.whl")) else []
    built = subprocess.run(
        [*pip, "wheel", "--no-deps", *offline, "-w", str(work / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (work / "dist").glob("shipflow-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    installed = InstalledShipflow(venv)
    done = subprocess.run(
        [str(installed.python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    site = Path(done.stdout.strip())
    (site / "shipflow-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run(
        [*pip, "--python", str(installed.python), "install", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    for tool in ("hadolint",):
        (installed.bin / tool).symlink_to(Path(sys.executable).with_name(tool))
    shutil.rmtree(source)
    return installed


@dataclass
class Proc:
    """A process started in a directory of its own with a given environment."""

    name: str
    argv: Sequence[str | Path]
    env: Mapping[str, str]
    cwd: Path
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def environment(self) -> dict[str, str]:
        inherited = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
        return {**inherited, **self.env}

    def run(self, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run to the end; stdout and stderr captured apart."""
        return subprocess.run(
            [str(a) for a in self.argv],
            cwd=self.cwd,
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self, ready: Callable[[], bool], timeout: float = 90) -> Proc:
        self.popen = subprocess.Popen(
            [str(a) for a in self.argv],
            cwd=self.cwd,
            env=self.environment(),
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        popen = self.popen

        def up() -> bool:
            if popen.poll() is not None:
                raise AssertionError(f"{self.name} exited {popen.returncode}:\n{self.tail()}")
            return ready()

        try:
            poll_until(up, timeout=timeout, interval=0.3)
        except Timeout:
            self.stop()
            raise AssertionError(
                f"{self.name} not ready after {timeout}s:\n{self.tail()}"
            ) from None
        return self

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def kill_tree(self) -> list[int]:
        """SIGKILL this process and every process below it at once (a node dying); the pids."""
        assert self.popen is not None
        pids = [self.popen.pid, *descendants(self.popen.pid)]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.popen.wait(10)
        return pids

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        below = descendants(self.popen.pid)
        os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(5)
        for pid in below:  # flow processes run in sessions of their own
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (from /proc), children first."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    frontier = [pid]
    while frontier:
        children = [c for p in frontier for c in parents.get(p, [])]
        found += children
        frontier = children
    return found


@dataclass
class Api:
    """The Prefect REST API, with the auth string (or without, to see it refused)."""

    url: str
    auth: str | None = None
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        headers = (
            {"Authorization": "Basic " + base64.b64encode(self.auth.encode()).decode()}
            if self.auth
            else {}
        )
        self.client = httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def post(self, path: str, body: Any = None) -> httpx.Response:
        for _ in range(20):  # SQLite busy: 503, sent again as Prefect's client does
            response = self.client.post(path, json=body if body is not None else {})
            if response.status_code != 503:
                return response
            time.sleep(0.5)
        return response

    def get(self, path: str) -> httpx.Response:
        return self.client.get(path)

    def runs(self, **where: Any) -> list[dict[str, Any]]:
        response = self.post("/flow_runs/filter", {"flow_runs": where, "sort": "START_TIME_ASC"})
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()
        return found

    def run(self, run_id: str) -> dict[str, Any]:
        response = self.get(f"/flow_runs/{run_id}")
        response.raise_for_status()
        found: dict[str, Any] = response.json()
        return found

    def children(self, run_id: str) -> list[dict[str, Any]]:
        return self.runs(parent_flow_run_id={"any_": [run_id]})

    def deployment_runs(self, deployment: str) -> list[dict[str, Any]]:
        response = self.post(
            "/flow_runs/filter",
            {"deployments": {"name": {"any_": [deployment]}}, "sort": "START_TIME_ASC"},
        )
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()
        return found
