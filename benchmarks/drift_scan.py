"""detect_drift against a sequential shell loop of `terraform plan -detailed-exitcode`.

For N = 1, 10, 50 stacks (each 20 `terraform_data` resources, local state, applied and
initialised beforehand, as on a worker that scans them every day), prints the wall time per
stack of both, and flow/loop as a ratio.

Goal: cost grows linearly with N, and with max_parallel=2 on 2 cores the scan takes at most
0.65 x the sequential loop at N = 50. For reference it also prints the floor that two bare
`terraform plan` processes at a time reach on this machine (no Prefect, no parsing): two
Terraform processes do not run twice as fast on 2 cores, and a Prefect flow run has a fixed
cost of its own (about 1 s here, mostly its heartbeat thread's exit).

Run: .venv/bin/python benchmarks/drift_scan.py [N ...]   (default 1 10 50)
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _common import prefect_server  # noqa: E402

STACK = """\
resource "terraform_data" "item" {
  count = 20
  input = { index = count.index }
}
"""

LOOP = """\
for d in "$@"; do
  (cd "$d" && terraform plan -detailed-exitcode -input=false -no-color -lock-timeout=30s \
     >/dev/null; test $? -ne 1)
done
"""


def make_stacks(root: Path, n: int, terraform: str) -> list[Path]:
    paths = []
    for i in range(n):
        path = root / f"stack-{i:03d}"
        path.mkdir(parents=True)
        (path / "main.tf").write_text(STACK)
        for args in (
            ["init", "-input=false", "-no-color"],
            ["apply", "-auto-approve", "-input=false", "-no-color"],
        ):
            subprocess.run([terraform, *args], cwd=path, check=True, capture_output=True)
        paths.append(path)
    return paths


def bare_plan(terraform: str, path: Path, env: dict[str, str]) -> None:
    args = [terraform, "plan", "-detailed-exitcode", "-input=false", "-no-color"]
    subprocess.run(args, cwd=path, env=env, capture_output=True, check=False)


def main(sizes: list[int]) -> None:
    with prefect_server() as workdir:
        from shipflow.adapters.terraform import find_terraform
        from shipflow.flows.detect_drift import detect_drift

        terraform = find_terraform().path
        env = {**os.environ, "PATH": f"{Path(terraform).parent}:{os.environ['PATH']}"}
        warm = make_stacks(workdir / "warm", 1, terraform)
        detect_drift(stacks=[str(p) for p in warm], max_parallel=2)

        print(f"terraform: {terraform}, {os.cpu_count()} cores, max_parallel=2")
        print(
            f"{'N':>4} {'loop s':>8} {'flow s':>8} {'loop s/stack':>13} {'flow s/stack':>13} "
            f"{'flow/loop':>10} {'bare x2/loop':>13}"
        )
        for n in sizes:
            stacks = make_stacks(workdir / f"n{n}", n, terraform)
            started = time.perf_counter()
            subprocess.run(["bash", "-c", LOOP, "loop", *map(str, stacks)], env=env, check=True)
            loop = time.perf_counter() - started
            started = time.perf_counter()
            state = detect_drift(stacks=[str(p) for p in stacks], max_parallel=2, return_state=True)
            flow = time.perf_counter() - started
            assert state.is_completed(), state.message
            assert state.message == f"{n} clean", state.message
            started = time.perf_counter()
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(lambda p: bare_plan(terraform, p, env), stacks))
            bare = time.perf_counter() - started
            print(
                f"{n:>4} {loop:>8.2f} {flow:>8.2f} {loop / n:>13.3f} {flow / n:>13.3f} "
                f"{flow / loop:>10.2f} {bare / loop:>13.2f}"
            )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1, 10, 50])
