"""The commit a run works on: fetched into a directory of its own, removed when the run ends."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prefect import get_run_logger
from pydantic import SecretStr

from shipflow.adapters.git import Git, GitCredentials
from shipflow.core.commits import display_url, parse_sha
from shipflow.errors import ConfigError
from shipflow.settings import load_settings
from shipflow.tasks.common import load_secret, shipflow_task


def git_credentials(block: str | None) -> GitCredentials | None:
    """HTTPS credentials from a Prefect Secret block: a token (the user name then is
    ``x-access-token``, which GitHub expects and GitLab ignores) or ``{"username", "password"}``.
    None: git uses the worker's own configuration (credential helpers, SSH keys)."""
    if not block:
        return None
    value: Any = load_secret(block, field="SHIPFLOW_GIT_CREDENTIALS_BLOCK")
    if isinstance(value, str) and value:
        return GitCredentials("x-access-token", SecretStr(value))
    if isinstance(value, dict) and {"username", "password"} <= set(value):
        return GitCredentials(str(value["username"]), SecretStr(str(value["password"])))
    raise ConfigError(
        "SHIPFLOW_GIT_CREDENTIALS_BLOCK",
        f"block {block!r} must hold a token or {{'username', 'password'}}",
    )


def worker_git() -> Git:
    settings = load_settings()
    return Git(
        timeout=settings.git_timeout,
        credentials=git_credentials(settings.git_credentials_block),
    )


@shipflow_task(name="checkout_commit")
def checkout_commit(clone_url: str, sha: str, dest: Path) -> str:
    """Fetch exactly ``sha`` of ``clone_url`` into ``dest`` and check it out; the verified
    HEAD. A commit the repository lacks fails ``commit … not found in …``."""
    head = worker_git().checkout(clone_url, sha, dest)
    get_run_logger().info("Checked out %s of %s (HEAD verified)", head, display_url(clone_url))
    return head


@contextmanager
def commit_worktree(clone_url: str, sha: str) -> Iterator[Path]:
    """A new private directory holding commit ``sha`` only, removed when the block ends
    (also when the run fails or crashes; a SIGKILLed process leaves it in the temporary
    folder, under ``SHIPFLOW_WORK_DIR`` if set)."""
    sha = parse_sha(sha)
    parent = load_settings().work_dir
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix=f"shipflow-{sha[:12]}-", dir=parent))
    try:
        checkout_commit(clone_url, sha, root / "repo")
        yield root / "repo"
    finally:
        shutil.rmtree(root, ignore_errors=True)
