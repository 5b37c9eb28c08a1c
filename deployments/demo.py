"""``shipflow demo``: the most complete release path that runs end to end on this machine.

It starts what it needs on 127.0.0.1 (a Prefect server unless PREFECT_API_URL answers, and
moto_server for S3 state), writes an example Terraform stack, runs ``terraform_release``, and
approves the paused run through the Prefect API exactly as a person would with the UI's form.
Everything it started is stopped at the end (``--keep`` leaves it running to look around).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx

from deployments import local

DEMO_STACK = """\
terraform {{
  backend "s3" {{
    bucket                      = "{bucket}"
    key                         = "demo/network/terraform.tfstate"
    region                      = "us-east-1"
    endpoints                   = {{ s3 = "{endpoint}" }}
    use_path_style              = true
    use_lockfile                = true
    skip_credentials_validation = true
    skip_requesting_account_id  = true
    skip_metadata_api_check     = true
    skip_region_validation      = true
  }}
}}

variable "environment" {{
  type    = string
  default = "demo"
}}

resource "terraform_data" "vpc" {{
  input = {{ cidr = "10.42.0.0/16", env = var.environment }}
}}

resource "terraform_data" "subnet" {{
  count = 3
  input = {{ cidr = cidrsubnet("10.42.0.0/16", 8, count.index), vpc = terraform_data.vpc.id }}
}}

output "vpc_id" {{ value = terraform_data.vpc.id }}
output "subnets" {{ value = length(terraform_data.subnet) }}
"""


@dataclass
class DemoResult:
    """What the demo did, for the console or ``--json``."""

    api_url: str
    flow_run_id: str = ""
    state: str = ""
    message: str = ""
    state_serial: int | None = None
    artifacts: list[str] = field(default_factory=list)
    workdir: str = ""

    def ok(self) -> bool:
        return self.state == "COMPLETED"


def _api_alive(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def _services(workdir: Path, say: Callable[[str], None]) -> Iterator[tuple[str, str]]:
    """(Prefect API URL, S3 endpoint), starting what is not already there."""
    with ExitStack() as stack:
        api_url = os.environ.get("PREFECT_API_URL", "")
        if not api_url or not _api_alive(api_url):
            port = local.free_port()
            say(f"starting a Prefect server on 127.0.0.1:{port} (SQLite in {workdir})")
            stack.enter_context(local.running(local.prefect_server(port, workdir)))
            api_url = f"http://127.0.0.1:{port}/api"
        s3_port = local.free_port()
        say(f"starting moto_server (S3 for Terraform state) on 127.0.0.1:{s3_port}")
        stack.enter_context(local.running(local.moto_server(s3_port, workdir)))
        yield api_url, f"http://127.0.0.1:{s3_port}"


def run_demo(say: Callable[[str], None], keep: bool = False) -> DemoResult:
    """Run terraform_release on the example stack, approving it through the Prefect API."""
    workdir = Path(tempfile.mkdtemp(prefix="shipflow-demo-"))
    # moto accepts any credentials; the demo must never touch a real AWS account.
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "demo",
            "AWS_SECRET_ACCESS_KEY": "demo-secret",
            "AWS_DEFAULT_REGION": "us-east-1",
            "TF_IN_AUTOMATION": "1",
        }
    )
    os.environ.pop("AWS_PROFILE", None)
    rc = workdir / "terraformrc"
    rc.write_text("")
    os.environ.setdefault("TF_CLI_CONFIG_FILE", str(rc))
    with ExitStack() as stack:
        api_url, s3 = stack.enter_context(_services(workdir, say))
        if keep:
            stack.pop_all()
        result = DemoResult(api_url=api_url, workdir=str(workdir))
        bucket = f"shipflow-demo-{uuid.uuid4().hex[:8]}"
        boto3.client("s3", endpoint_url=s3).create_bucket(Bucket=bucket)
        stack_dir = workdir / "stacks" / "network"
        stack_dir.mkdir(parents=True)
        (stack_dir / "main.tf").write_text(DEMO_STACK.format(bucket=bucket, endpoint=s3))
        say(f"example stack written to {stack_dir}")
        _release(api_url, stack_dir, result, say)
        state = boto3.client("s3", endpoint_url=s3).get_object(
            Bucket=bucket, Key="demo/network/terraform.tfstate"
        )
        result.state_serial = int(json.loads(state["Body"].read())["serial"])
        return result


def _release(api_url: str, stack_dir: Path, result: DemoResult, say: Callable[[str], None]) -> None:
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings

    run_name = f"demo-{uuid.uuid4().hex[:8]}"
    approver = threading.Thread(
        target=_approve_when_paused, args=(api_url, run_name, result, say), daemon=True
    )
    with temporary_settings(
        updates={PREFECT_API_URL: api_url, PREFECT_HOME: Path(result.workdir) / "prefect-home"}
    ):
        from flows.terraform_release import terraform_release

        approver.start()
        state = terraform_release.with_options(flow_run_name=run_name)(
            stack=str(stack_dir), approval_timeout=300, return_state=True
        )
        approver.join(timeout=5)
        result.state = state.type.value
        result.message = state.message or ""
        result.flow_run_id = str(state.state_details.flow_run_id)
        listed = httpx.post(
            f"{api_url}/artifacts/filter",
            json={"artifacts": {"flow_run_id": {"any_": [result.flow_run_id]}}},
        ).json()
        result.artifacts = sorted(a["key"] for a in listed if a.get("key"))


def _approve_when_paused(
    api_url: str, run_name: str, result: DemoResult, say: Callable[[str], None]
) -> None:
    """Play the reviewer: wait for the pause, read the form's description, approve."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        runs: list[dict[str, Any]] = httpx.post(
            f"{api_url}/flow_runs/filter",
            json={"flow_runs": {"name": {"any_": [run_name]}}},
        ).json()
        if runs and runs[0]["state"]["type"] == "PAUSED":
            run_id = runs[0]["id"]
            say(f"flow run {run_name} is paused for approval; approving it as 'shipflow-demo'")
            for _ in range(20):
                response = httpx.post(
                    f"{api_url}/flow_runs/{run_id}/resume",
                    json={
                        "run_input": {
                            "approve": True,
                            "approver": "shipflow-demo",
                            "comment": "approved by the demo, as a reviewer would in the UI",
                        }
                    },
                    timeout=30,
                )
                if response.status_code != 503:  # SQLite busy: the UI user would click again
                    break
                time.sleep(0.5)
            return
        if runs and runs[0]["state"]["type"] in ("COMPLETED", "FAILED", "CANCELLED", "CRASHED"):
            return
        time.sleep(0.5)
