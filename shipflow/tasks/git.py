"""The commit a run works on: fetched into a directory of its own, removed when the run ends."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prefect import get_run_logger
from prefect.runtime import flow_run
from pydantic import SecretStr

from shipflow.adapters.git import Git, GitCredentials
from shipflow.core.commits import display_url, parse_sha
from shipflow.core.releases import LIVE_STATES
from shipflow.errors import ConfigError
from shipflow.settings import load_settings
from shipflow.tasks.common import load_secret, shipflow_task
from shipflow.tasks.release import run_state_type


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


_RUN_DIR = "shipflow-run-"


def sweep_checkouts(parent: Path) -> list[Path]:
    """Remove the checkouts left by runs that are over; the ones removed.

    A run removes its own checkout when it ends, unless its process was killed (SIGKILL, a
    lost node): the next run on the machine removes it once the Prefect server says that run
    is over (crashed, cancelled, failed, completed). A run the server does not know is left
    alone (the folder may be shared by the workers of another server), as is a run still live
    (a paused run waiting for approval keeps its checkout). Never fails the run."""
    removed = []
    for path in parent.glob(f"{_RUN_DIR}*"):
        try:
            state = run_state_type(path.name.removeprefix(_RUN_DIR)[:36])
        except Exception as exc:  # housekeeping: never the reason a release fails
            get_run_logger().warning("Left checkouts not swept: %s", type(exc).__name__)
            break
        if path.is_dir() and state is not None and state not in LIVE_STATES:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    if removed:
        get_run_logger().info(
            "Removed %s checkout(s) left by runs that died: %s",
            len(removed),
            ", ".join(p.name for p in removed),
        )
    return removed


@contextmanager
def commit_worktree(clone_url: str, sha: str) -> Iterator[Path]:
    """A new private directory holding commit ``sha`` only, removed when the block ends
    (also when the run fails or crashes). The directory is named after the run, under
    ``SHIPFLOW_WORK_DIR`` (default: the temporary folder), so that one a killed process left
    behind is removed by the next run (:func:`sweep_checkouts`)."""
    sha = parse_sha(sha)
    parent = load_settings().work_dir or Path(tempfile.gettempdir())
    parent.mkdir(parents=True, exist_ok=True)
    run_id = flow_run.get_id()
    if run_id:
        sweep_checkouts(parent)
    prefix = f"{_RUN_DIR}{run_id}-" if run_id else f"shipflow-{sha[:12]}-"
    root = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        checkout_commit(clone_url, sha, root / "repo")
        yield root / "repo"
    finally:
        shutil.rmtree(root, ignore_errors=True)
