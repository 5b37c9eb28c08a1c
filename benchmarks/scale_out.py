"""Drift scans and releases queued at once on Prefect with PostgreSQL, over 1, 2 and 4 workers.

For each worker count W, starts shipflow scaled out (shipflow.deployments.scale: PostgreSQL,
the Prefect server on it, W process workers on shipflow-process, each taking up to 4 runs at
once), queues SCANS detect_drift runs (one stack each) and RELEASES auto-approved
terraform_release runs spread over 3 stacks (so releases of one stack queue on its apply
slot) at the same moment, and prints:

- wall: seconds from queueing to the last run final;
- runs/min;
- waited: the share of the releases' run time spent waiting for their stack's apply slot
  (from the ``shipflow.slot.acquired`` events' ``waited_seconds``);
- failed: runs that did not complete (should be 0).

Stacks use local state and ``terraform_data`` (each release's apply sleeps 2 s in a
provisioner), so the figures are shipflow + Prefect + Terraform's own cost, not a cloud's.

Run: .venv/bin/python benchmarks/scale_out.py [W ...]   (default 1 2 4; SCANS=50 RELEASES=10)
About 3 to 6 minutes per worker count on 2 cores.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shipflow.deployments.scale import scale_out  # noqa: E402

SCANS = int(os.environ.get("SCANS", "50"))
RELEASES = int(os.environ.get("RELEASES", "10"))
FINAL = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}


def scan_stack(path: Path) -> str:
    path.mkdir(parents=True)
    (path / "main.tf").write_text(
        'resource "terraform_data" "item" {\n  count = 5\n  input = count.index\n}\n'
    )
    return str(path)


def release_stack(path: Path, label: str) -> str:
    path.mkdir(parents=True, exist_ok=True)
    (path / "main.tf").write_text(
        'resource "terraform_data" "release" {\n'
        f'  triggers_replace = "{label}"\n'
        '  provisioner "local-exec" {\n    command = "sleep 2"\n  }\n}\n'
    )
    return str(path)


class Api:
    def __init__(self, url: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=60)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        for _ in range(60):
            response = self.client.post(path, json=body)
            if response.status_code != 503:
                response.raise_for_status()
                return response.json()
            time.sleep(0.5)
        raise RuntimeError(f"{path}: 503 for 30 s")

    def start(self, flow: str, deployment: str, **parameters: Any) -> str:
        found = self.client.get(f"/deployments/name/{flow}/{deployment}").json()
        run = self.post(f"/deployments/{found['id']}/create_flow_run", {"parameters": parameters})
        return str(run["id"])

    def runs(self, ids: list[str]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for i in range(0, len(ids), 100):
            found += self.post(
                "/flow_runs/filter", {"flow_runs": {"id": {"any_": ids[i : i + 100]}}}
            )
        return found

    def waited(self) -> float:
        page = self.post(
            "/events/filter",
            {
                "limit": 50,
                "filter": {
                    "event": {"name": ["shipflow.slot.acquired"]},
                    "occurred": {"since": "2000-01-01T00:00:00Z"},
                },
            },
        )
        total = 0.0
        while True:
            total += sum(
                float(e["payload"].get("waited_seconds", 0))
                for e in page["events"]
                if e["resource"]["prefect.resource.id"].startswith(
                    "shipflow.slot.shipflow-terraform-apply-"
                )
            )
            if not page.get("next_page"):
                return total
            page = self.client.get(page["next_page"]).json()


def measure(workers: int) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix=f"shipflow-bench-scale-{workers}-"))
    rc = work / "terraformrc"
    rc.write_text("")
    env = {
        "TF_CLI_CONFIG_FILE": str(rc),
        "SHIPFLOW_STACKS_ROOT": str(work),
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    with scale_out(
        workdir=work / "cluster",
        project=ROOT,
        workers=workers,
        worker_limit=4,
        worker_env=env,
        receiver=False,
    ) as cluster:
        api = Api(cluster.api_url)
        scans = [scan_stack(work / "scans" / f"s{i:03d}") for i in range(SCANS)]
        releases = [
            release_stack(work / "releases" / f"r{i:03d}" / f"stack-{i % 3}", uuid.uuid4().hex)
            for i in range(RELEASES)
        ]
        started = time.monotonic()
        ids = [api.start("detect_drift", "detect-drift", stacks=[s]) for s in scans]
        release_ids = [
            api.start("terraform_release", "terraform-release", stack=s, auto_approve=True)
            for s in releases
        ]
        ids += release_ids
        while True:
            runs = api.runs(ids)
            if len(runs) == len(ids) and all(r["state_type"] in FINAL for r in runs):
                break
            time.sleep(1)
        wall = time.monotonic() - started
        release_time = sum(r["total_run_time"] for r in runs if r["id"] in set(release_ids))
        return {
            "wall": wall,
            "per_min": len(ids) / wall * 60,
            "waited": api.waited() / release_time if release_time else 0.0,
            "failed": sum(r["state_type"] != "COMPLETED" for r in runs),
        }


def main() -> None:
    counts = [int(a) for a in sys.argv[1:]] or [1, 2, 4]
    print(f"{SCANS} drift scans + {RELEASES} releases over 3 stacks, queued at once")
    print(f"{'workers':>7} {'wall s':>8} {'runs/min':>9} {'waited':>7} {'failed':>6}")
    for workers in counts:
        m = measure(workers)
        print(
            f"{workers:>7} {m['wall']:>8.1f} {m['per_min']:>9.1f} "
            f"{m['waited']:>6.0%} {m['failed']:>6.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
