"""Regenerate the captured ``terraform show -json`` plans in this folder.

Run: ``python tests/core/data/capture_plans.py`` (needs terraform on PATH or shipflow-terraform).
Each scenario applies a first configuration to a local state, then plans a second one.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from shipflow.adapters.terraform import Terraform, find_terraform

HERE = Path(__file__).parent

BASE = """
variable "db_password" {
  type      = string
  sensitive = true
  default   = "hunter2-hunter2"
}
resource "terraform_data" "keep" { input = "same" }
resource "terraform_data" "web" { input = { size = "small", tags = { env = "prod" } } }
resource "terraform_data" "db" {
  input            = var.db_password
  triggers_replace = ["v1"]
}
resource "terraform_data" "old" { input = "legacy" }
output "web_size" { value = terraform_data.web.output.size }
output "db_secret" {
  value     = terraform_data.db.output
  sensitive = true
}
"""

CHANGED = """
variable "db_password" {
  type      = string
  sensitive = true
  default   = "hunter2-hunter2"
}
resource "terraform_data" "keep" { input = "same" }
resource "terraform_data" "web" { input = { size = "large", tags = { env = "prod" } } }
resource "terraform_data" "db" {
  input            = var.db_password
  triggers_replace = ["v2"]
}
resource "terraform_data" "new" { input = "fresh" }
output "web_size" { value = terraform_data.web.output.size }
output "db_secret" {
  value     = terraform_data.db.output
  sensitive = true
}
"""


def capture(name: str, first: str | None, second: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tf = Terraform(workdir=Path(tmp), binary=find_terraform())
        tf.init()
        if first is not None:
            (Path(tmp) / "main.tf").write_text(first)
            tf.apply(tf.plan(Path(tmp) / "first.tfplan").plan_file)
        (Path(tmp) / "main.tf").write_text(second)
        plan = tf.plan(Path(tmp) / "second.tfplan")
        doc = tf.show_plan(plan.plan_file)
    (HERE / f"{name}.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    capture("plan_create", None, BASE)
    capture("plan_mixed", BASE, CHANGED)
    capture("plan_nochange", BASE, BASE)
