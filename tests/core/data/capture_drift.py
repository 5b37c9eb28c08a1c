"""Regenerate the captured drift plans in this folder (real Terraform, real refresh).

Run: ``python tests/core/data/capture_drift.py``. Uses the `shipflow/localfile` test provider,
whose read returns a file's current content, so an edit made outside Terraform is drift.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from shipflow.adapters.terraform import Terraform, find_terraform
from tests.harness.tfprovider.install import PROVIDER_BLOCK, install

HERE = Path(__file__).parent


def stack(files: Path, b_content: str) -> str:
    return (
        PROVIDER_BLOCK
        + f"""
resource "localfile_file" "a" {{
  path            = "{files}/a.json"
  content         = "hello"
  tags            = {{ env = "prod", team = "web" }}
  sensitive_token = "tok-SECRET-1234"
}}
resource "localfile_file" "b" {{
  path    = "{files}/b.json"
  content = "{b_content}"
}}
"""
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["TF_CLI_CONFIG_FILE"] = str(install(root))
        os.environ["HOME"] = str(root)
        work = root / "stack"
        work.mkdir()
        (work / "main.tf").write_text(stack(root, "bee"))
        tf = Terraform(workdir=work, binary=find_terraform())
        tf.init()
        tf.apply(tf.plan(root / "0.tfplan").plan_file)

        def capture(name: str, refresh_only: bool = False) -> None:
            plan = tf.plan(root / f"{name}.tfplan", refresh_only=refresh_only)
            doc = tf.show_plan(plan.plan_file)
            (HERE / f"{name}.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")

        capture("drift_clean")
        (work / "main.tf").write_text(stack(root, "bee2"))
        capture("drift_pending")
        a = json.loads((root / "a.json").read_text())
        a["tags"]["env"] = "staging"
        a["sensitive_token"] = "tok-CHANGED-5678"
        (root / "a.json").write_text(json.dumps(a))
        capture("drift_drifted_and_pending")
        capture("drift_refresh_only", refresh_only=True)
        (work / "main.tf").write_text(stack(root, "bee"))
        (root / "b.json").unlink()
        capture("drift_deleted_outside")


if __name__ == "__main__":
    main()
