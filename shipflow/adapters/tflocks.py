"""Reading a stack's Terraform state lock where the backend keeps it, without Terraform and
without taking the lock (``shipflow diagnose`` is read-only).

The backend's settings are read from what ``terraform init`` resolved
(``.terraform/terraform.tfstate``: partial ``-backend-config`` values included) and the
selected workspace from ``.terraform/environment``. S3 keeps the lock as the object
``<key>.tflock`` (``use_lockfile``), older setups as the DynamoDB item ``<bucket>/<key>``;
both hold the same JSON record.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from shipflow.errors import AdapterError, ConfigError


def backend_of(stack: Path) -> dict[str, Any]:
    """The backend ``terraform init`` configured for ``stack`` (``type`` and ``config``).

    Raises:
        ConfigError: the stack was never initialised.
    """
    marker = stack / ".terraform" / "terraform.tfstate"
    if not marker.is_file():
        raise ConfigError("stack", f"{stack} is not initialised (run terraform init first)")
    backend: dict[str, Any] = json.loads(marker.read_text()).get("backend") or {}
    return backend


def _workspace(stack: Path) -> str:
    selected = stack / ".terraform" / "environment"
    return selected.read_text().strip() if selected.is_file() else "default"


def read_lock_record(stack: Path) -> tuple[str | None, str]:
    """(the raw lock record or None when unlocked, where it was looked for).

    Raises:
        ConfigError: not initialised, or a backend whose lock this cannot read.
        AdapterError: the backend did not answer.
    """
    backend = backend_of(stack)
    kind = backend.get("type")
    config: dict[str, Any] = backend.get("config") or {}
    if kind != "s3":
        raise ConfigError("stack", f"the {kind or 'local'} backend's lock is not read here")
    bucket, key = str(config["bucket"]), str(config["key"])
    workspace = _workspace(stack)
    if workspace != "default":
        key = f"{config.get('workspace_key_prefix') or 'env:'}/{workspace}/{key}"
    endpoints = config.get("endpoints") or {}
    session = boto3.session.Session(region_name=config.get("region") or None)
    path_style = Config(s3={"addressing_style": "path"}) if config.get("use_path_style") else None
    try:
        table = config.get("dynamodb_table")
        if config.get("use_lockfile") or not table:
            s3 = session.client(
                "s3", endpoint_url=endpoints.get("s3") or config.get("endpoint"), config=path_style
            )
            where = f"s3://{bucket}/{key}.tflock"
            try:
                body = s3.get_object(Bucket=bucket, Key=f"{key}.tflock")["Body"].read()
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    body = None
                else:
                    raise
            if body is not None or not table:
                return (body.decode() if body is not None else None), where
        dynamodb = session.client(
            "dynamodb", endpoint_url=endpoints.get("dynamodb") or config.get("dynamodb_endpoint")
        )
        where = f"dynamodb://{table}/{bucket}/{key}"
        item = dynamodb.get_item(TableName=table, Key={"LockID": {"S": f"{bucket}/{key}"}})
        info = (item.get("Item") or {}).get("Info", {}).get("S")
        return (str(info) if info else None), where
    except (ClientError, BotoCoreError) as exc:
        raise AdapterError(f"state lock of {stack}: the backend did not answer: {exc}") from exc
