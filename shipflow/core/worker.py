"""What a worker needs, as findings: each check says what it found, and when something is
missing, how to fix it. The checks themselves (I/O) live in ``shipflow.deployments.doctor``."""

from __future__ import annotations

import re
from dataclasses import dataclass

# S3 state locking without DynamoDB (``use_lockfile = true``) needs Terraform or OpenTofu 1.10.
MIN_TERRAFORM = (1, 10)


@dataclass(frozen=True)
class Check:
    """One thing a worker needs: ``ok``, what was found, and the fix when it is missing."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def terraform_version_problem(version: str, minimum: tuple[int, int] = MIN_TERRAFORM) -> str | None:
    """Why ``version`` (``1.11.4``, ``v1.9.8``, ``1.10.0-beta1``) will not do; None when it
    will. Older than ``minimum``: S3 state cannot be locked without DynamoDB."""
    found = re.match(r"v?(\d+)\.(\d+)", version.strip())
    if not found:
        return f"cannot read a version from {version!r}"
    have = (int(found.group(1)), int(found.group(2)))
    if have < minimum:
        want = ".".join(map(str, minimum))
        return f"{version} is older than {want} (S3 state locking with use_lockfile needs {want})"
    return None
