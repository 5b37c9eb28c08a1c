"""The README's first command: `shipflow demo` releases a merge end to end."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, PrefectServer


def test_shipflow_demo_releases_image_infrastructure_and_canary(
    prefect_server: PrefectServer, tmp_path: Path
) -> None:
    cli = Path(sys.executable).with_name("shipflow")
    env = {**os.environ, "PREFECT_API_URL": prefect_server.api_url, "TMPDIR": str(tmp_path)}
    env.pop("KUBECONFIG", None)  # the demo brings its own cluster
    done = subprocess.run(
        [cli, "demo", "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["state"] == "COMPLETED"
    # The example repository is a git repository; its commit is released, fetched by id.
    assert re.fullmatch(r"released [0-9a-f]{12} of shop/web: web", result["message"])
    assert result["stages"] == [
        "build_and_push: COMPLETED",
        "terraform_release: COMPLETED",
        "promote_canary: COMPLETED",
    ]
    assert "/shop/web@sha256:" in result["deployed_image"]
    assert result["state_serial"] == 1
    assert "release-summary" in result["artifacts"]
