"""Command-line conventions every command shares: usage mistakes exit 64, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SHIPFLOW = str(Path(sys.executable).with_name("shipflow"))


@pytest.mark.parametrize(
    "argv",
    [
        ["no-such-command"],
        ["drift"],  # a required argument missing
        ["drift", "--max-parallel", "many", "stacks/a"],  # a bad option value
        [],  # no command at all
    ],
)
def test_usage_mistakes_exit_64_without_a_traceback(argv: list[str]) -> None:
    done = subprocess.run([SHIPFLOW, *argv], capture_output=True, text=True, timeout=60)
    assert done.returncode == 64, done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_help_exits_0() -> None:
    done = subprocess.run([SHIPFLOW, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert "Exit codes: 0 ok, 1 error, 2 changes or drift found, 64 usage" in done.stdout
