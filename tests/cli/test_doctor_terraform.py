"""`shipflow doctor` checks the Terraform it found against what the stacks need."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SHIPFLOW = str(Path(sys.executable).with_name("shipflow"))


def doctor(root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SHIPFLOW, "doctor", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SHIPFLOW_STACKS_ROOT": str(root), **env},
    )


def test_a_stack_that_needs_a_newer_terraform_is_named_and_exits_1(tmp_path: Path) -> None:
    stack = tmp_path / "infra" / "web"
    stack.mkdir(parents=True)
    (stack / "backend.tf").write_text(
        'terraform {\n  required_version = ">= 99.0"\n  backend "local" {}\n}\n'
    )
    done = doctor(tmp_path, TF_CLI_ARGS_plan="-destroy")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)["terraform"]
    [problem] = report["stack_problems"]["infra/web"]
    assert problem == f'required_version ">= 99.0" excludes Terraform {report["version"]}'
    assert report["ignored_environment"] == ["TF_CLI_ARGS_plan"]


def test_stacks_terraform_can_run_are_fine(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text('terraform {\n  backend "local" {}\n}\n')
    done = doctor(tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["terraform"]["stack_problems"] == {}
