"""Finding the executables shipflow runs: one rule for every tool."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def find_binary(name: str) -> str | None:
    """``name`` on PATH, else beside this Python (a wheel's script in the same venv, e.g.
    ``hadolint``, ``shipflow-terraform``, ``prefect``); None when neither has it."""
    found = shutil.which(name)
    if found:
        return found
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else None
