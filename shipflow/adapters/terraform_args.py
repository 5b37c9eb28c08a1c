"""Terraform's command lines and its machine-readable output, as pure functions.

argv is built here and only here, table-tested, and run by :mod:`shipflow.adapters.terraform`
(the one run point). Every command gets ``-input=false`` and ``-no-color``; ``plan`` and
``apply`` write JSON diagnostics (``-json``) so that errors are read as data.
``plan -detailed-exitcode``: 0 no changes, 2 changes, 1 error. Variables never travel in argv
(argv is visible to every user of the machine): they go in var files or ``TF_VAR_*``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from shipflow.errors import ConfigError


def build_init_args(
    backend_config: Mapping[str, str] | None = None, *, reconfigure: bool = False
) -> list[str]:
    """``terraform init`` for automation: no prompts, no colour, optional partial backend."""
    args = ["init", "-input=false", "-no-color"]
    if reconfigure:
        args.append("-reconfigure")
    for key, value in sorted((backend_config or {}).items()):
        args.append(f"-backend-config={key}={value}")
    return args


def build_plan_args(
    out: Path | str,
    *,
    var_files: Sequence[Path | str] = (),
    refresh_only: bool = False,
    destroy: bool = False,
    lock: bool = True,
    lock_timeout: str = "30s",
) -> list[str]:
    """``terraform plan -detailed-exitcode -out=FILE`` with JSON diagnostics."""
    if refresh_only and destroy:
        raise ConfigError("plan", "refresh_only and destroy cannot be combined")
    args = ["plan", "-input=false", "-no-color", "-json", "-detailed-exitcode"]
    if refresh_only:
        args.append("-refresh-only")
    if destroy:
        args.append("-destroy")
    args.append(f"-lock={'true' if lock else 'false'}")
    args.append(f"-lock-timeout={lock_timeout}")
    args += [f"-var-file={f}" for f in var_files]
    args.append(f"-out={out}")
    return args


def build_apply_args(plan_file: Path | str, *, lock_timeout: str = "30s") -> list[str]:
    """``terraform apply PLANFILE``: a saved plan applies without a prompt and takes no vars."""
    return [
        "apply",
        "-input=false",
        "-no-color",
        "-json",
        f"-lock-timeout={lock_timeout}",
        str(plan_file),
    ]


def build_show_args(plan_file: Path | str) -> list[str]:
    return ["show", "-json", "-no-color", str(plan_file)]


def build_output_args() -> list[str]:
    return ["output", "-json", "-no-color"]


def build_state_pull_args() -> list[str]:
    return ["state", "pull"]


def build_version_args() -> list[str]:
    return ["version", "-json"]


def build_providers_schema_args() -> list[str]:
    """The provider schemas: which attributes are maps or objects, sets or lists."""
    return ["providers", "schema", "-json"]


# --- reading what Terraform wrote ----------------------------------------------------------


@dataclass(frozen=True)
class Diagnostic:
    severity: str
    summary: str
    detail: str


def parse_diagnostics(json_lines: str) -> list[Diagnostic]:
    """Diagnostics from the machine-readable UI stream of ``plan -json``/``apply -json``."""
    found = []
    for line in json_lines.splitlines():
        if not line.startswith("{"):
            continue
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        if message.get("type") != "diagnostic":
            continue
        diag = message.get("diagnostic") or {}
        found.append(
            Diagnostic(
                severity=str(diag.get("severity", "")),
                summary=str(diag.get("summary", "")),
                detail=str(diag.get("detail", "")),
            )
        )
    return found


def parse_lock_info(detail: str) -> dict[str, str]:
    """The ``Lock Info:`` block of a lock diagnostic's detail as a dict (ID, Who, ...)."""
    info: dict[str, str] = {}
    in_block = False
    for line in detail.splitlines():
        if line.strip() == "Lock Info:":
            in_block = True
            continue
        if in_block:
            if not line.startswith("  ") or ":" not in line:
                if info:
                    break
                continue
            key, _, value = line.strip().partition(":")
            info[key.strip()] = value.strip()
    return info
