"""README's first command, unattended: `shipflow demo --yes` on a sandbox of its own promotes a
good version, rolls a faulty one back with the failed measurement in its reason, and with
--down leaves no sandbox and no temporary folder behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CLI = str(Path(sys.executable).with_name("shipflow"))


def test_demo_yes_promotes_then_rolls_back_and_down_leaves_nothing(tmp_path: Path) -> None:
    root, tmp = tmp_path / "sandbox", tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "SHIPFLOW_SANDBOX_DIR": str(root), "TMPDIR": str(tmp)}
    env.pop("KUBECONFIG", None)
    done = subprocess.run(
        [CLI, "demo", "--yes", "--down", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    try:
        assert done.returncode == 0, done.stderr[-3000:]
        result = json.loads(done.stdout)
        good, faulty = result["releases"]
        assert good["state"] == "COMPLETED", good
        assert [s["name"] for s in good["stages"]] == [
            "build_and_push",
            "terraform_release",
            "promote_canary",
        ]
        assert "approved by shipflow-demo (--yes)" in good["stages"][1]["message"]
        assert "@sha256:" in good["image"]
        assert faulty["state"] == "FAILED"
        assert "rolled back at" in faulty["message"]
        assert "canary error rate" in faulty["message"]  # the failed measurement
        assert faulty["image"] == good["image"]  # stable still runs the good version
        # The users' own counts agree with Prometheus, and both with each step's weight.
        assert [s["weight"] for s in good["shares"]] == [5, 25, 50]
        for share in good["shares"]:
            assert abs(share["users"] - share["weight"]) <= 6, share
            assert abs(share["prometheus"] - share["users"]) <= 5, share
        assert result["sandbox_left_up"] is False
        assert "waits for approval: http://127.0.0.1:" in done.stderr
        assert not root.exists()
        assert not list(tmp.iterdir())
    finally:
        if root.exists():
            subprocess.run([CLI, "sandbox", "down"], env=env, check=False, timeout=120)
