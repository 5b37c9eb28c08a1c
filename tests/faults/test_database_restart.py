"""PostgreSQL restarted under the scaled-out cluster while runs are in flight."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from shipflow.adapters.waiting import poll_until
from tests.harness.scale import Cluster, apply_intervals, new_bucket, timed_stack
from tests.scale.test_scale_out import drift_stack

pytestmark = pytest.mark.slow


def test_the_database_restarted_mid_run(cluster: Cluster, tmp_path: Path) -> None:
    """End state: with PostgreSQL down for 5 s in the middle of an apply and four drift
    scans, every run completes (none fails on the outage, none stays Running: the server
    answers 500 while its database is down, and shipflow's runs retry it), the stack was
    applied exactly once, and the server takes new runs."""
    bucket = new_bucket(cluster.moto)
    log = tmp_path / "apply.log"
    label = uuid.uuid4().hex[:12]
    stack = timed_stack(tmp_path / f"dbrestart-{label}", bucket, cluster.moto, label, log, 10)
    scans = [str(drift_stack(tmp_path / f"drift-{i}")) for i in range(4)]
    runs = [
        cluster.api.start(
            "terraform_release", "terraform-release", stack=str(stack), auto_approve=True
        ),
        *(cluster.api.start("detect_drift", "detect-drift", stacks=[s]) for s in scans),
    ]
    poll_until(lambda: log.exists() and "begin" in log.read_text(), timeout=240, interval=0.5)
    cluster.scale.restart_database(down_seconds=5)

    finished = cluster.api.wait_final(runs, timeout=400)
    not_completed = {
        r["name"]: r["state"]["message"] for r in finished if r["state_type"] != "COMPLETED"
    }
    assert not not_completed, not_completed
    assert list(apply_intervals(log)) == [label]  # applied once, not twice
    assert log.read_text().count("begin") == 1

    after = cluster.api.start("detect_drift", "detect-drift", stacks=[scans[0]])
    (run,) = cluster.api.wait_final([after], timeout=240)
    assert run["state_type"] == "COMPLETED", run["state"]["message"]
