"""What terraform_release adds on top of plain Terraform, for stacks of N resources.

For each N, two fresh copies of the same stack (N `terraform_data` resources, local state):
one goes through a shell script running `init`, `plan -out` and `apply PLANFILE`, the other
through the `terraform_release` flow (auto-approved) against a local Prefect server. Prints
wall times, the time the flow adds, and flow/shell as a ratio.

Goal: the added time does not grow with N, and is under 20 % of the shell's time at N = 500.

Run: .venv/bin/python benchmarks/terraform_overhead.py [N ...]   (default 10 100 500)
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _common import prefect_server  # noqa: E402

STACK = """\
resource "terraform_data" "item" {{
  count = {n}
  input = {{ index = count.index, name = "item-${{count.index}}" }}
}}
output "count" {{ value = length(terraform_data.item) }}
"""

SHELL = """\
set -e
cd "$1"
terraform init -input=false -no-color >/dev/null
terraform plan -input=false -no-color -out=plan.tfplan >/dev/null
terraform apply -input=false -no-color plan.tfplan >/dev/null
"""


def make_stack(root: Path, name: str, n: int) -> Path:
    path = root / name
    path.mkdir()
    (path / "main.tf").write_text(STACK.format(n=n))
    return path


def main(sizes: list[int]) -> None:
    with prefect_server() as workdir:
        from shipflow.adapters.terraform import find_terraform
        from shipflow.flows.terraform_release import terraform_release

        terraform = find_terraform()
        shell_env = {**os.environ, "PATH": f"{Path(terraform.path).parent}:{os.environ['PATH']}"}
        # Warm-up: the first flow run pays for imports and the server's first writes.
        warm = make_stack(workdir, "warmup", 1)
        terraform_release(stack=str(warm), auto_approve=True, return_state=True)

        print(f"terraform: {terraform.path} ({terraform.origin})")
        print(f"{'N':>5} {'shell s':>9} {'flow s':>9} {'added s':>9} {'flow/shell':>11}")
        for i, n in enumerate(sizes):
            shell_stack = make_stack(workdir, f"shell-{i}-{n}", n)
            started = time.perf_counter()
            subprocess.run(
                ["bash", "-c", SHELL, "bash", str(shell_stack)], env=shell_env, check=True
            )
            shell = time.perf_counter() - started

            flow_stack = make_stack(workdir, f"flow-{i}-{n}", n)
            started = time.perf_counter()
            state = terraform_release(stack=str(flow_stack), auto_approve=True, return_state=True)
            flow = time.perf_counter() - started
            assert state.is_completed(), state.message
            print(f"{n:>5} {shell:>9.2f} {flow:>9.2f} {flow - shell:>9.2f} {flow / shell:>11.2f}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [10, 100, 500])
