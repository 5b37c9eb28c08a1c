"""Capture real Terraform plans into ``plans/<case>/``: Terraform's own human ``plan`` output
(``plan.txt``), ``show -json`` (``plan.json``) and ``meta.json`` (version, exit code).

Run from the repository root::

    SHIPFLOW_TERRAFORM_BIN=.venv/bin/shipflow-terraform .venv/bin/python \
        tests/core/data/capture_plans.py [local|aws|CASE ...]

``plan`` cases (``plan_*.json`` beside this script, JSON only) and ``local`` cases use
built-in ``terraform_data`` and the `shipflow/localfile` test provider and run anywhere.
``aws`` cases plan a realistic stack with the real AWS provider against ``moto_server`` on
127.0.0.1; they need the provider in a filesystem mirror (``SHIPFLOW_AWS_PROVIDER_MIRROR``,
default ``/opt/tf-plugins``, e.g. filled once with ``terraform providers mirror``) and are
skipped without it. ``schemas.json`` keeps the part of ``terraform providers schema -json``
that the captured plans use.

Each AWS case starts from one applied base stack and plans a variant of it, so the captured
plans are what a team would see: an import of a bucket made by hand, a ``moved`` refactor, a
``removed`` block that keeps the object, a failing ``check``, tags from a sensitive variable,
one rule of a lifecycle configuration (a list) and one security-group rule (a set) changed,
and a plan that fails part-way on a precondition.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).parent
PLANS = HERE / "plans"
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT))

from shipflow.adapters.terraform import find_terraform  # noqa: E402
from tests.harness.tfprovider.install import PROVIDER_BLOCK, install  # noqa: E402

TF = find_terraform(os.environ.get("SHIPFLOW_TERRAFORM_BIN")).path
AWS_MIRROR = Path(os.environ.get("SHIPFLOW_AWS_PROVIDER_MIRROR", "/opt/tf-plugins"))


def run(workdir: Path, env: dict[str, str], *args: str, ok: tuple[int, ...] = (0,)) -> str:
    done = subprocess.run(
        [TF, *args], cwd=workdir, env=env, capture_output=True, text=True, timeout=900
    )
    if done.returncode not in ok:
        raise SystemExit(
            f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
        )
    return done.stdout


def capture(name: str, workdir: Path, env: dict[str, str]) -> None:
    """Plan ``workdir`` as it is now and store the plan's three files under plans/<name>."""
    plan_file = workdir / f"{name}.tfplan"
    done = subprocess.run(
        [TF, "plan", "-input=false", "-no-color", "-detailed-exitcode", f"-out={plan_file}"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if not plan_file.exists():
        raise SystemExit(f"{name}: no plan written ({done.returncode}):\n{done.stderr}")
    doc = json.loads(run(workdir, env, "show", "-json", "-no-color", str(plan_file)))
    out = PLANS / name
    out.mkdir(parents=True, exist_ok=True)
    (out / "plan.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    human = (done.stdout + done.stderr).replace(str(workdir), "<stack>")
    (out / "plan.txt").write_text(human)
    meta = {"terraform_version": doc.get("terraform_version"), "exit_code": done.returncode}
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    plan_file.unlink()
    line = next((x for x in human.splitlines() if x.startswith("Plan:")), "(no Plan: line)")
    print(f"{name}: exit {done.returncode}, {line}")


# --- local cases: terraform_data and the localfile provider ------------------------------


def local_stack(root: Path, files: Path, extra: str = "", *, content: str = "v1") -> str:
    return (
        PROVIDER_BLOCK
        + f"""
variable "team_secrets" {{
  type      = map(string)
  sensitive = true
  default   = {{ "secret-name" = "s3cr3t-value-1", owner = "platform" }}
}}
resource "localfile_file" "config" {{
  path    = "{files}/config.json"
  content = "{content}"
  tags    = {{ env = "prod", team = "web" }}
}}
resource "localfile_file" "motd" {{
  path    = "{files}/motd.json"
  content = "hello"
}}
resource "localfile_file" "keys" {{
  path = "{files}/keys.json"
  content = "k"
  tags = var.team_secrets
}}
resource "localfile_file" "old" {{
  path    = "{files}/old.json"
  content = "legacy"
}}
resource "terraform_data" "web" {{ input = {{ size = "small" }} }}
"""
        + extra
    )


def local_cases(selected: Callable[[str], bool]) -> None:
    with tempfile.TemporaryDirectory(prefix="capture-") as tmp:
        root = Path(tmp)
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(root),
            "TF_IN_AUTOMATION": "1",
            "CHECKPOINT_DISABLE": "1",
            "TF_CLI_CONFIG_FILE": str(install(root)),
        }
        files = root / "files"
        files.mkdir()
        work = root / "stack"
        work.mkdir()
        base = local_stack(root, files)
        (work / "main.tf").write_text(base)
        run(work, env, "init", "-input=false", "-no-color")
        run(work, env, "apply", "-input=false", "-no-color", "-auto-approve")

        def case(name: str, text: str, *, before: Callable[[], None] | None = None) -> None:
            if not selected(name):
                return
            if before is not None:
                before()
            (work / "main.tf").write_text(text)
            capture(name, work, env)
            (work / "main.tf").write_text(base)

        def hand_made() -> None:
            (files / "legacy.json").write_text(json.dumps({"content": "by hand", "tags": None}))

        legacy = f"""
resource "localfile_file" "legacy" {{
  path    = "{files}/legacy.json"
  content = "by hand"
}}
import {{
  to = localfile_file.legacy
  id = "{files}/legacy.json"
}}
"""
        case("local_import", base + legacy, before=hand_made)
        moved = base.replace('"motd"', '"banner"') + (
            "moved {\n  from = localfile_file.motd\n  to   = localfile_file.banner\n}\n"
        )
        case("local_moved", moved)
        old = f'resource "localfile_file" "old" {{\n  path    = "{files}/old.json"\n'
        old += '  content = "legacy"\n}\n'
        removed = "removed {\n  from = localfile_file.old\n"
        removed += "  lifecycle {\n    destroy = false\n  }\n}\n"
        forget = base.replace(old, removed)
        case("local_forget", forget)
        check = (
            local_stack(root, files, content="v2")
            + """
check "config_is_current" {
  assert {
    condition     = localfile_file.config.content == "v3"
    error_message = "config.json is not at v3"
  }
}
"""
        )
        case("local_check_fails", check)
        secret = base.replace('"s3cr3t-value-1"', '"s3cr3t-value-2"')
        case("local_sensitive_map", secret)
        errored = base + (
            'resource "terraform_data" "gate" {\n  input = "x"\n  lifecycle {\n'
            '    precondition {\n      condition     = terraform_data.web.input.size == "large"\n'
            '      error_message = "web must be large before the gate opens"\n    }\n  }\n}\n'
            'resource "terraform_data" "extra" { input = "y" }\n'
        )
        case("local_errored", errored)
        everything = (
            moved.replace(old, removed).replace('content = "v1"', 'content = "v2"')
            + legacy
            + ('resource "terraform_data" "new" { input = "fresh" }\n')
        )
        case("local_everything", everything, before=hand_made)


# --- basic cases: plan_create/plan_mixed/plan_nochange.json (show -json only) -------------

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


def basic_cases(selected: Callable[[str], bool]) -> None:
    """A first configuration applied to local state, then a second one planned."""
    for name, first, second in (
        ("plan_create", None, BASE),
        ("plan_mixed", BASE, CHANGED),
        ("plan_nochange", BASE, BASE),
    ):
        if not selected(name):
            continue
        with tempfile.TemporaryDirectory(prefix="capture-") as tmp:
            work = Path(tmp)
            env = {"PATH": os.environ["PATH"], "HOME": tmp, "CHECKPOINT_DISABLE": "1"}
            run(work, env, "init", "-input=false", "-no-color")
            if first is not None:
                (work / "main.tf").write_text(first)
                run(work, env, "apply", "-input=false", "-no-color", "-auto-approve")
            (work / "main.tf").write_text(second)
            run(work, env, "plan", "-input=false", "-no-color", "-out=p.tfplan", ok=(0, 2))
            doc = json.loads(run(work, env, "show", "-json", "-no-color", "p.tfplan"))
        (HERE / f"{name}.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
        print(f"{name}.json written")


# --- AWS cases: the real AWS provider against moto ------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


AWS_PROVIDER = """
terraform {{
  required_providers {{
    aws = {{ source = "hashicorp/aws", version = "5.100.0" }}
  }}
}}
provider "aws" {{
  region                      = "eu-west-1"
  access_key                  = "testing"
  secret_key                  = "testing"
  s3_use_path_style           = true
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  endpoints {{
    s3  = "{endpoint}"
    ec2 = "{endpoint}"
    sts = "{endpoint}"
  }}
}}
"""

AWS_BASE = """
variable "cost_tags" {
  description = "Tags naming the cost centre; sensitive because they name a client."
  type        = map(string)
  sensitive   = true
  default     = { client = "acme-bank", cost-centre = "cc-1042" }
}

resource "aws_s3_bucket" "assets" {
  bucket = "shop-assets"
  tags   = { Name = "assets", team = "web" }
}

resource "aws_s3_bucket_lifecycle_configuration" "assets" {
  bucket = aws_s3_bucket.assets.id
  rule {
    id     = "expire-logs"
    status = "Enabled"
    filter { prefix = "logs/" }
    expiration { days = 30 }
  }
  rule {
    id     = "expire-tmp"
    status = "Enabled"
    filter { prefix = "tmp/" }
    expiration { days = 1 }
  }
}

resource "aws_s3_bucket" "logs" {
  bucket = "shop-logs"
}

resource "aws_s3_bucket" "billing" {
  bucket = "shop-billing"
  tags   = var.cost_tags
}

resource "aws_s3_bucket" "old_exports" {
  bucket = "shop-old-exports"
}

resource "aws_security_group" "web" {
  name        = "web"
  description = "web tier"
  ingress {
    description = "https"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
  ingress {
    description = "http from the office"
    from_port   = 80
    to_port     = 80
    protocol    = "tcp"
    cidr_blocks = ["10.0.0.0/8"]
  }
}
"""

AWS_IMPORT = """
resource "aws_s3_bucket" "legacy" {
  bucket = "shop-legacy-made-by-hand"
}
import {
  to = aws_s3_bucket.legacy
  id = "shop-legacy-made-by-hand"
}
"""

AWS_MOVED = """
moved {
  from = aws_s3_bucket.logs
  to   = aws_s3_bucket.access_logs
}
"""

AWS_REMOVED = """
removed {
  from = aws_s3_bucket.old_exports
  lifecycle {
    destroy = false
  }
}
"""

AWS_CHECK = """
check "assets_have_an_owner" {
  assert {
    condition     = contains(keys(aws_s3_bucket.assets.tags), "owner")
    error_message = "The assets bucket has no owner tag."
  }
}
"""

AWS_ERRORED = """
resource "aws_s3_bucket" "reports" {
  bucket = "shop-reports"
  lifecycle {
    precondition {
      condition     = aws_security_group.web.name == "web-v2"
      error_message = "reports need the web-v2 security group."
    }
  }
}
resource "aws_s3_bucket" "uploads" {
  bucket = "shop-uploads"
}
"""

OLD_EXPORTS = 'resource "aws_s3_bucket" "old_exports" {\n  bucket = "shop-old-exports"\n}\n'


def aws_cases(selected: Callable[[str], bool]) -> None:
    provider = AWS_MIRROR / "registry.terraform.io" / "hashicorp" / "aws"
    if not provider.is_dir():
        print(f"aws: skipped, no AWS provider in {AWS_MIRROR} (SHIPFLOW_AWS_PROVIDER_MIRROR)")
        return
    import boto3

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="capture-aws-") as tmp:
        root = Path(tmp)
        moto = subprocess.Popen(
            [shutil.which("moto_server") or "moto_server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for(port)
            rc = root / "terraformrc"
            rc.write_text(
                "provider_installation {\n  filesystem_mirror {\n"
                f'    path    = "{AWS_MIRROR}"\n'
                '    include = ["registry.terraform.io/hashicorp/aws"]\n  }\n'
                '  direct {\n    exclude = ["registry.terraform.io/hashicorp/aws"]\n  }\n}\n'
            )
            env = {
                "PATH": os.environ["PATH"],
                "HOME": str(root),
                "TF_IN_AUTOMATION": "1",
                "CHECKPOINT_DISABLE": "1",
                "TF_CLI_CONFIG_FILE": str(rc),
            }
            work = root / "shop"
            work.mkdir()
            (work / "providers.tf").write_text(AWS_PROVIDER.format(endpoint=endpoint))
            (work / "main.tf").write_text(AWS_BASE)
            run(work, env, "init", "-input=false", "-no-color")
            run(work, env, "apply", "-input=false", "-no-color", "-auto-approve")
            s3 = boto3.client(
                "s3",
                endpoint_url=endpoint,
                region_name="eu-west-1",
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
            s3.create_bucket(
                Bucket="shop-legacy-made-by-hand",
                CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
            )

            def case(name: str, text: str) -> None:
                if selected(name):
                    (work / "main.tf").write_text(text)
                    capture(name, work, env)
                    (work / "main.tf").write_text(AWS_BASE)

            case("aws_import", AWS_BASE + AWS_IMPORT)
            case("aws_moved", AWS_BASE.replace('"logs"', '"access_logs"') + AWS_MOVED)
            case("aws_forget", AWS_BASE.replace(OLD_EXPORTS, "") + AWS_REMOVED)
            case("aws_check_fails", AWS_BASE + AWS_CHECK)
            case("aws_sensitive_map", AWS_BASE.replace('"cc-1042"', '"cc-2077"'))
            case(
                "aws_list_and_set",
                AWS_BASE.replace("expiration { days = 1 }", "expiration { days = 7 }").replace(
                    '"10.0.0.0/8"', '"10.20.0.0/16"'
                ),
            )
            case("aws_errored", AWS_BASE + AWS_ERRORED)
            everything = (
                AWS_BASE.replace(OLD_EXPORTS, "")
                .replace('"logs"', '"access_logs"')
                .replace('team = "web"', 'team = "storefront"')
                + AWS_IMPORT
                + AWS_MOVED
                + AWS_REMOVED
                + 'resource "aws_s3_bucket" "media" {\n  bucket = "shop-media"\n}\n'
            )
            case("aws_everything", everything)
            if selected("schemas"):
                keep_schemas(run(work, env, "providers", "schema", "-json"))
        finally:
            moto.terminate()
            moto.wait(timeout=30)


def keep_schemas(text: str) -> None:
    """The resource schemas the captured AWS plans use (the whole AWS schema is ~30 MB)."""
    schemas = json.loads(text)
    used = {"aws_s3_bucket", "aws_s3_bucket_lifecycle_configuration", "aws_security_group"}
    for schema in schemas["provider_schemas"].values():
        schema["resource_schemas"] = {
            k: v for k, v in schema.get("resource_schemas", {}).items() if k in used
        }
        schema["data_source_schemas"] = {}
        schema.pop("functions", None)
        schema.pop("ephemeral_resource_schemas", None)
        schema.pop("resource_identity_schemas", None)
        schema.pop("list_resource_schemas", None)
        schema.pop("action_schemas", None)
    (HERE / "schemas.json").write_text(json.dumps(schemas, indent=1, sort_keys=True) + "\n")
    print("schemas.json written")


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit("moto_server did not start")


def main(argv: list[str]) -> None:
    wanted = set(argv)

    def selected(name: str) -> bool:
        group = name.split("_")[0]
        return not wanted or name in wanted or group in wanted

    basic_cases(selected)
    local_cases(selected)
    aws_cases(selected)


if __name__ == "__main__":
    main(sys.argv[1:])
