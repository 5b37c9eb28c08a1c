"""A flow run in a process of its own, as a worker runs one, to be killed outright."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def start_killable(script: Path, code: str) -> subprocess.Popen[bytes]:
    """``code`` (a flow call with its imports) run by ``script`` in a session of its own: a
    SIGKILL of it (:func:`kill`) leaves no hook to run, as when a worker's node dies."""
    script.write_text(code)
    return subprocess.Popen(
        [sys.executable, str(script)],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def kill(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    """``sig`` to the run's whole session, then wait for it."""
    os.killpg(proc.pid, sig)
    proc.wait(timeout=60)
