"""The ``local`` deploy target: an app's versions run as local processes behind HAProxy.

Where no container can run (this machine, a VM fleet without a runtime), each version of an app
is a process started from the app's command, with the image's reference and the image
config's ``ENV`` in its environment (read from the registry: what a container of that image
would start with). There are two slots per app, as in HAProxy's backend: ``stable`` and
``canary``, each one server of the backend named after the app.

Everything lives under one directory (``root``), so that any process (the flow run, the
sandbox's ``down``) finds what runs:

- ``<app>/app.json`` — how to start a version: ``command`` (argv; ``{port}``, ``{version}``,
  ``{image}`` and ``{app}`` are filled in), ``health`` (an HTTP path), ``backend``, and where
  HAProxy's runtime API and the registry holding the app's images are;
- ``<app>/<slot>.json`` — the running process: pid, its start time (so a reused PID is never
  taken for it), port, image;
- ``<app>/<slot>.watch.json`` — the run that watches the slot's traffic (see
  :mod:`shipflow.core.watch`), kept apart so that a new process does not reset it;
- ``targets/<app>-<slot>.json`` — a Prometheus file_sd target list, so Prometheus scrapes the
  app itself.

Processes start in a session of their own and outlive the run that started them, as a
Deployment's pods outlive ``kubectl``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from shipflow.adapters.haproxy import HAProxyRouter, HAProxyRuntime
from shipflow.adapters.images import Registry
from shipflow.adapters.ports import free_port
from shipflow.adapters.waiting import Timeout, poll_until
from shipflow.core.watch import Watch
from shipflow.errors import ConfigError, ServiceError

SLOTS = ("stable", "canary")


def start_ticks(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, ``/proc/<pid>/stat`` field 22);
    None when there is no such process. A PID and its start time name one process for good."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ")".
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19])


def alive(pid: int, ticks: int | None) -> bool:
    """True when ``pid`` still is the process that started at ``ticks`` (not a zombie)."""
    if ticks is None or start_ticks(pid) != ticks:
        return False
    with contextlib.suppress(OSError):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    return False


def stop_group(
    pid: int, ticks: int | None, timeout: float = 10.0, signum: int = signal.SIGTERM
) -> bool:
    """Send ``signum`` to the process group led by ``pid`` (if it still is that process), then
    SIGKILL after ``timeout``. Returns whether anything was stopped."""
    if not alive(pid, ticks):
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)
    try:
        poll_until(lambda: not alive(pid, ticks), timeout=timeout, interval=0.05)
    except Timeout:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        poll_until(lambda: not alive(pid, ticks), timeout=5, interval=0.05)
    # A child of ours is reaped here; anyone else's is reaped by its parent or init.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    return True


@dataclass(frozen=True)
class Instance:
    """One running version of an app."""

    app: str
    slot: str
    pid: int
    ticks: int | None
    port: int
    image: str
    watch: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "ticks": self.ticks,
            "port": self.port,
            "image": self.image,
            "watch": self.watch,
        }


ImageEnv = Callable[[str], Mapping[str, str]]


class LocalTarget(BaseModel):
    """The ``local`` deploy target (a flow parameter, beside the Kubernetes ``ClusterTarget``):
    the folder where an app's versions are defined and recorded (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    root: str | None = Field(
        default=None, description="The apps' folder; default: SHIPFLOW_LOCAL_ROOT."
    )


def registry_env(registry: str | None, tls: bool) -> ImageEnv:
    """The ``ENV`` of an image held by ``registry`` (host:port, as in image references); none
    for an image from anywhere else (a seed version that never was pushed). Reading the
    registry's own image fails loudly: a version started without its ENV would not be it."""

    def read(image: str) -> dict[str, str]:
        host, _, rest = image.partition("/")
        if registry is None or host != registry:
            return {}
        repository, sep, digest = rest.partition("@")
        if not sep:
            repository, _, digest = rest.rpartition(":")
        return Registry(registry, tls=tls).image_env(repository, digest)

    return read


class LocalWorkloads:
    """The stable and canary processes of apps under ``root``, behind HAProxy's backend.

    Names follow the Kubernetes target's: ``<app>`` is the stable slot, ``<app>-canary`` the
    canary slot, so the canary flow drives both targets the same way.
    """

    def __init__(
        self,
        root: Path,
        runtime: HAProxyRuntime,
        image_env: ImageEnv | None = None,
    ) -> None:
        self.root = root
        self.runtime = runtime
        self.image_env = image_env or (lambda image: {})

    # --- the app's definition and its records ----------------------------------------------

    @classmethod
    def at(cls, root: Path, app: str, tls: bool = False) -> LocalWorkloads:
        """The workloads of ``app`` under ``root``, with the HAProxy runtime API and the
        registry its definition names."""
        path = root / app / "app.json"
        if not path.is_file():
            raise ConfigError("local.root", f"no local app {app!r} under {root} ({path})")
        spec = json.loads(path.read_text())
        if not spec.get("runtime"):
            raise ConfigError("local.root", f"{path} names no HAProxy runtime API")
        runtime = HAProxyRuntime(spec["runtime"])
        return cls(root, runtime, registry_env(spec.get("registry"), tls))

    def router(self, app: str) -> HAProxyRouter:
        """The router between ``app``'s stable and canary servers in its HAProxy backend."""
        return HAProxyRouter(self.runtime, self._spec(app)["backend"])

    @staticmethod
    def define(
        root: Path,
        app: str,
        command: list[str],
        health: str = "/healthz",
        backend: str = "",
        runtime: str = "",
        registry: str = "",
    ) -> None:
        """Write how ``app``'s versions start (the sandbox does this once), and where its
        HAProxy runtime API (``unix:/path`` or ``host:port``) and image registry are."""
        folder = root / app
        folder.mkdir(parents=True, exist_ok=True)
        (root / "targets").mkdir(exist_ok=True)
        spec = {
            "command": command,
            "health": health,
            "backend": backend or app,
            "runtime": runtime,
            "registry": registry,
        }
        _write_json(folder / "app.json", spec)

    def _spec(self, app: str) -> dict[str, Any]:
        path = self.root / app / "app.json"
        if not path.is_file():
            raise ConfigError("target.app", f"no local app {app!r} under {self.root}")
        spec: dict[str, Any] = json.loads(path.read_text())
        return spec

    def _slot(self, name: str) -> tuple[str, str]:
        """``web`` → (web, stable); ``web-canary`` → (web, canary)."""
        if name.endswith("-canary"):
            return name.removesuffix("-canary"), "canary"
        return name, "stable"

    def instance(self, name: str) -> Instance | None:
        """The running process of ``name``; None when nothing (alive) runs there."""
        app, slot = self._slot(name)
        path = self.root / app / f"{slot}.json"
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        found = Instance(app=app, slot=slot, **record)
        return found if alive(found.pid, found.ticks) else None

    def instances(self) -> list[Instance]:
        """Every running process of every app under ``root``."""
        found = []
        for spec in sorted(self.root.glob("*/app.json")):
            for slot in SLOTS:
                name = spec.parent.name + ("-canary" if slot == "canary" else "")
                if (inst := self.instance(name)) is not None:
                    found.append(inst)
        return found

    def _record(self, inst: Instance) -> None:
        _write_json(self.root / inst.app / f"{inst.slot}.json", inst.to_json())
        target = [
            {
                "targets": [f"127.0.0.1:{inst.port}"],
                "labels": {"slot": inst.slot, "image": inst.image},
            }
        ]
        _write_json(self.root / "targets" / f"{inst.app}-{inst.slot}.json", target)

    def _forget(self, app: str, slot: str) -> None:
        for path in (
            self.root / app / f"{slot}.json",
            self.root / "targets" / f"{app}-{slot}.json",
        ):
            path.unlink(missing_ok=True)

    # --- what the canary flow asks of a workload target ------------------------------------

    def exists(self, name: str) -> bool:
        return self.instance(name) is not None

    def image_of(self, name: str, container: str | None = None) -> str:
        inst = self.instance(name)
        if inst is None:
            raise ServiceError(f"{name} is not running under {self.root}")
        return inst.image

    def replicas(self, name: str) -> int:
        return 1 if self.exists(name) else 0

    def start(self, name: str, image: str, timeout: float = 30.0) -> Instance:
        """Start ``image`` in ``name``'s slot on a fresh port, wait until it answers its health
        check, and put it behind HAProxy; the process it replaces is drained, then stopped."""
        app, slot = self._slot(name)
        spec = self._spec(app)
        old = self.instance(name)
        port = free_port()
        argv = [
            part.format(port=port, version=slot, image=image, app=app) for part in spec["command"]
        ]
        env = {**os.environ, **self.image_env(image), "SHIPFLOW_IMAGE": image}
        log = (self.root / app / f"{slot}.log").open("ab")
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        log.close()
        inst = Instance(app, slot, proc.pid, start_ticks(proc.pid), port, image)
        health = f"http://127.0.0.1:{port}{spec['health']}"

        def healthy() -> bool:
            if proc.poll() is not None:
                raise ServiceError(f"{name} ({image}) exited with {proc.returncode} at start")
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(health, timeout=1).status_code == 200
            return False

        try:
            poll_until(healthy, timeout=timeout, interval=0.1)
        except Timeout:
            stop_group(proc.pid, inst.ticks)
            raise ServiceError(
                f"{name} ({image}) did not answer {health} in {timeout:g}s"
            ) from None
        backend = spec["backend"]
        self.runtime.set_address(backend, slot, "127.0.0.1", port)
        self.runtime.set_state(backend, slot, "ready")
        self._record(inst)
        if old is not None:
            # HAProxy sends no new request to the old address; let its last answers go out.
            time.sleep(0.2)
            stop_group(old.pid, old.ticks)
        return inst

    def ensure_canary(
        self,
        app: str,
        canary_name: str,
        image: str,
        /,
        *,
        container: str | None = None,
        version_label: str = "version",
        canary_version: str = "canary",
        replicas: int | None = None,
    ) -> None:
        """The canary slot runs ``image`` (with no traffic until the router gives it some).
        A process has no containers, labels or replicas: the rest is the Kubernetes target's."""
        current = self.instance(canary_name)
        if current is None or current.image != image:
            self.start(canary_name, image)

    def set_image(self, name: str, image: str, container: str | None = None) -> None:
        """``name`` runs ``image`` from now on: a new process takes over without a gap."""
        self.start(name, image)

    def wait_ready(self, name: str, timeout: float, *, poll: float = 0.25) -> None:
        """A started process is ready (its health check passed); HAProxy must see it UP too."""
        app, slot = self._slot(name)
        backend = self._spec(app)["backend"]
        try:
            poll_until(
                lambda: (
                    self.exists(name) and self.runtime.server(backend, slot).status.startswith("UP")
                ),
                timeout=timeout,
                interval=poll,
            )
        except Timeout:
            raise ServiceError(f"{name} is not up behind HAProxy after {timeout:g}s") from None

    def scale(self, name: str, replicas: int) -> None:
        """0 drains the slot's server in HAProxy, then stops the process; 1 starts the slot's
        last image again if it is not running."""
        app, slot = self._slot(name)
        inst = self.instance(name)
        if replicas > 0:
            if inst is None:
                raise ServiceError(f"{name} has no image to start: deploy it first")
            return
        backend = self._spec(app)["backend"]
        if inst is not None:
            with contextlib.suppress(ServiceError):
                self.runtime.drain(backend, slot, timeout=10)
            stop_group(inst.pid, inst.ticks)
        self.runtime.set_state(backend, slot, "maint")
        self._forget(app, slot)

    def wait_scaled_down(self, name: str, timeout: float, *, poll: float = 0.25) -> None:
        try:
            poll_until(lambda: not self.exists(name), timeout=timeout, interval=poll)
        except Timeout:
            raise ServiceError(f"{name} still runs after {timeout:g}s") from None

    # --- the watch record (see shipflow.core.watch) ---------------------------------------

    def _watch_file(self, name: str) -> Path:
        app, slot = self._slot(name)
        return self.root / app / f"{slot}.watch.json"

    @contextlib.contextmanager
    def _locked(self, name: str) -> Iterator[Path]:
        """The watch file of ``name``, read and written by one process at a time."""
        path = self._watch_file(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.with_suffix(".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield path
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def read_watch(self, name: str) -> Watch | None:
        """The watch record of ``name``'s slot (None: none, or one nobody can read)."""
        try:
            return Watch.model_validate_json(self._watch_file(name).read_text())
        except (OSError, ValueError):
            return None

    def claim_watch(self, name: str, watch: Watch) -> None:
        """Write ``watch`` as the record, whoever held it before (the caller holds the slot)."""
        with self._locked(name) as path:
            _write_json(path, watch.model_dump(mode="json"))

    def renew_watch(self, name: str, watch: Watch) -> bool:
        """Renew the record if ``watch.run`` still holds it; False when another run took it
        over (or it is gone). The lock makes read-and-renew one step."""
        with self._locked(name) as path:
            current = self.read_watch(name)
            if current is None or current.run != watch.run:
                return False
            _write_json(path, watch.model_dump(mode="json"))
            return True

    def release_watch(self, name: str, run: str) -> None:
        """Remove the record if ``run`` still holds it (nothing to do otherwise)."""
        with self._locked(name) as path:
            current = self.read_watch(name)
            if current is not None and current.run == run:
                path.unlink(missing_ok=True)

    def stop_all(self) -> list[str]:
        """Stop every process under ``root`` (the sandbox's ``down``); their names."""
        stopped = []
        for inst in self.instances():
            stop_group(inst.pid, inst.ticks)
            self._forget(inst.app, inst.slot)
            stopped.append(f"{inst.app}-{inst.slot}")
        return stopped


def _write_json(path: Path, value: Any) -> None:
    """Write whole or not at all: readers (Prometheus, another run) never see half a file."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(value, indent=1))
    partial.replace(path)
