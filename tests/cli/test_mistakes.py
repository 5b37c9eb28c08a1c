"""Every input mistake is answered before anything starts: one line, the documented exit code,
no traceback, and no Prefect server started for a bad path (with no API URL, a flow run would
start a temporary one, whose database lands in PREFECT_HOME)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SHIPFLOW = str(Path(sys.executable).with_name("shipflow"))


def run(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    done = subprocess.run(
        [SHIPFLOW, *argv], capture_output=True, text=True, timeout=60, env=env, check=False
    )
    return done.returncode, done.stdout + done.stderr


def without_server(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An environment with no Prefect API, and the PREFECT_HOME a temporary server would use."""
    home = tmp_path / "prefect-home"
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    return env | {"PREFECT_HOME": str(home)}, home


@pytest.mark.parametrize(
    ("argv", "code", "says"),
    [
        (["drift", "/nonexistent/stack"], 64, "stack: /nonexistent/stack does not exist"),
        (["drift", "/etc/hostname"], 64, "stack: /etc/hostname is not a directory"),
        (["drift", "/"], 64, "holds no *.tf files: not a Terraform root module"),
        (["drift"], 64, "Missing argument"),
        (["terraform", "release", "/nonexistent"], 64, "stack: /nonexistent does not exist"),
        (["terraform", "release", "/"], 64, "holds no *.tf files"),
        (["demo", "--prefect-url", "prefect:4200"], 64, "is not an http(s) URL"),
    ],
)
def test_a_mistake_is_one_line_with_its_exit_code_and_starts_nothing(
    argv: list[str], code: int, says: str, tmp_path: Path
) -> None:
    env, home = without_server(tmp_path)
    returncode, output = run(argv, env)
    assert returncode == code, output
    assert says in output
    assert "Traceback" not in output
    assert not home.exists(), sorted(p.name for p in home.iterdir())


def test_a_bad_var_file_is_refused_before_anything_starts(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text('resource "terraform_data" "x" {}\n')
    env, home = without_server(tmp_path)
    returncode, output = run(
        ["terraform", "release", str(tmp_path), "--var-file", "no.tfvars"], env
    )
    assert returncode == 64, output
    assert "--var-file: no.tfvars is not a file" in output
    assert not home.exists()


def test_terraform_release_with_no_ui_refuses_to_pause(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text('resource "terraform_data" "x" {}\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {"SHIPFLOW_SANDBOX_DIR": str(tmp_path / "no-sandbox"), "PREFECT_HOME": str(tmp_path)}
    returncode, output = run(["terraform", "release", str(tmp_path)], env)
    assert returncode == 1, output
    assert "no Prefect UI: set PREFECT_API_URL or run `shipflow sandbox up`" in output
    assert "Traceback" not in output
    assert not (tmp_path / "terraform.tfstate").exists()
