"""Ctrl-C during `shipflow demo`, while its canary takes real traffic: within seconds the demo
says "interrupted: rolled back …", with no traceback; the canary is rolled back, the sandbox
the demo started is stopped (no process, no port) and nothing is left in the temp folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from shipflow.adapters.processes import alive
from shipflow.adapters.waiting import poll_until
from shipflow.deployments.sandbox.services import listening

CLI = str(Path(sys.executable).with_name("shipflow"))


def canary_answers(root: Path) -> int | None:
    """How many answers the sandbox's users got from the canary so far (None: none yet)."""
    try:
        load = json.loads((root / "sandbox.json").read_text())["load"]
        counts: dict[str, int] = httpx.get(f"{load}/counts", timeout=2).json()
    except (OSError, ValueError, KeyError, httpx.HTTPError):
        return None
    n = sum(v for k, v in counts.items() if k.startswith("canary/"))
    return n if n >= 5 else None


def test_ctrl_c_while_the_canary_takes_traffic_rolls_back_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    root, tmp = tmp_path / "sandbox", tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "SHIPFLOW_SANDBOX_DIR": str(root), "TMPDIR": str(tmp)}
    env.pop("KUBECONFIG", None)
    demo = subprocess.Popen(
        [CLI, "demo", "--yes"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a terminal's foreground group: Ctrl-C reaches all of it
    )
    processes: list[dict[str, Any]] = []
    try:
        poll_until(lambda: canary_answers(root), timeout=300, interval=0.5)
        processes = json.loads((root / "sandbox.json").read_text())["processes"]
        for record in (root / "apps" / "web").glob("*.json"):
            if record.name != "app.json" and not record.name.endswith(".watch.json"):
                processes.append({"name": record.stem, "port": 0, **json.loads(record.read_text())})
        began = time.monotonic()
        os.killpg(demo.pid, signal.SIGINT)
        out, err = demo.communicate(timeout=60)
        took = time.monotonic() - began
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
        if root.exists():
            subprocess.run([CLI, "sandbox", "down"], env=env, check=False, timeout=120)
    assert demo.returncode == 130, err[-3000:]
    assert "interrupted: rolled back the canary of web from " in err, err[-3000:]
    assert "Traceback" not in err + out, err[-3000:]
    assert took < 30, f"Ctrl-C took {took:.1f}s to end the demo"
    print(f"Ctrl-C ended the demo in {took:.1f}s")
    left = [p["name"] for p in processes if alive(p["pid"], p["ticks"])]
    assert not left, left
    assert not [p["port"] for p in processes if p["port"] and listening(p["port"])]
    assert not root.exists()
    assert not list(tmp.iterdir())
