"""Terraform stacks for tests: built-in `terraform_data` resources, state in S3 on moto."""

from __future__ import annotations

import json
import textwrap
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3


@dataclass(frozen=True)
class S3Stack:
    path: Path
    bucket: str
    key: str
    endpoint: str
    lock_table: str | None = None

    @property
    def name(self) -> str:
        return self.path.name

    def s3(self) -> Any:
        return boto3.client("s3", endpoint_url=self.endpoint)

    def state(self) -> dict[str, Any] | None:
        try:
            body = self.s3().get_object(Bucket=self.bucket, Key=self.key)["Body"].read()
        except self.s3().exceptions.NoSuchKey:
            return None
        state: dict[str, Any] = json.loads(body)
        return state

    def serial(self) -> int | None:
        state = self.state()
        return None if state is None else int(state["serial"])

    def write_lock(self, who: str = "alice@laptop", lock_id: str = "0f0f-1234") -> dict[str, str]:
        lock = {
            "ID": lock_id,
            "Operation": "OperationTypeApply",
            "Info": "",
            "Who": who,
            "Version": "1.11.4",
            "Created": "2026-11-26T10:00:00Z",
            "Path": f"{self.bucket}/{self.key}",
        }
        self.s3().put_object(Bucket=self.bucket, Key=f"{self.key}.tflock", Body=json.dumps(lock))
        return lock

    def lock_exists(self) -> bool:
        listed = self.s3().list_objects_v2(Bucket=self.bucket, Prefix=f"{self.key}.tflock")
        return bool(listed.get("Contents"))

    def write_resources(self, count: int, value: str = "v1", extra: str = "") -> None:
        (self.path / "resources.tf").write_text(
            textwrap.dedent(
                f"""\
                resource "terraform_data" "item" {{
                  count = {count}
                  input = "{value}-${{count.index}}"
                }}
                output "items" {{ value = length(terraform_data.item) }}
                """
            )
            + extra
        )


def make_s3_stack(root: Path, endpoint: str, *, count: int = 3, dynamodb: bool = False) -> S3Stack:
    """A new stack folder under ``root`` with its own bucket (and lock table if asked)."""
    suffix = uuid.uuid4().hex[:10]
    path = root / f"stack-{suffix}"
    path.mkdir(parents=True)
    bucket = f"tfstate-{suffix}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    table = None
    if dynamodb:
        table = f"tflocks-{suffix}"
        boto3.client("dynamodb", endpoint_url=endpoint).create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    locking = (
        f'dynamodb_table = "{table}"\n'
        f'    endpoints = {{ s3 = "{endpoint}", dynamodb = "{endpoint}" }}'
        if table
        else f'use_lockfile = true\n    endpoints = {{ s3 = "{endpoint}" }}'
    )
    (path / "backend.tf").write_text(
        textwrap.dedent(
            f"""\
            terraform {{
              backend "s3" {{
                bucket                      = "{bucket}"
                key                         = "app/terraform.tfstate"
                region                      = "us-east-1"
                use_path_style              = true
                skip_credentials_validation = true
                skip_requesting_account_id  = true
                skip_metadata_api_check     = true
                skip_region_validation      = true
                {{locking}}
              }}
            }}
            """
        ).replace("{locking}", locking)
    )
    stack = S3Stack(
        path=path, bucket=bucket, key="app/terraform.tfstate", endpoint=endpoint, lock_table=table
    )
    stack.write_resources(count)
    return stack
