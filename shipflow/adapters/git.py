"""git, run as a subprocess with an argv (never a shell), from one place.

A release works on exactly one commit: :meth:`Git.checkout` fetches that commit from the
repository into a new, empty directory and checks it out detached, then verifies ``HEAD``.
A commit the repository does not have is :class:`CommitNotFound` — nothing else is tried.

Credentials: the worker's own git configuration (credential helpers, SSH keys, ``insteadOf``)
always applies; a user name and password (a token) can be given as well, and then reach git
only through ``GIT_ASKPASS`` and the environment of the git process — never its command line,
never a URL that could be logged, never an error message.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from shipflow.adapters.binaries import find_binary
from shipflow.core.commits import display_url, parse_clone_url, parse_sha
from shipflow.core.secrets import redact
from shipflow.errors import CommitNotFound, ConfigError, GitError

_USERINFO = re.compile(r"://[^/@\s]+@")

# GIT_ASKPASS is called with the prompt ("Username for 'https://…': ", "Password for …");
# it answers from the environment of the git process, so the script itself holds no secret.
_ASKPASS = """#!/bin/sh
case "$1" in
  Username*) printf '%s\\n' "$SHIPFLOW_GIT_USERNAME" ;;
  *) printf '%s\\n' "$SHIPFLOW_GIT_PASSWORD" ;;
esac
"""


@dataclass(frozen=True)
class GitCredentials:
    """An HTTPS user name and password or token (GitHub: any user name and a token)."""

    username: str
    password: SecretStr


def build_fetch_args(url: str, sha: str, depth: int | None = 1) -> list[str]:
    """``git fetch`` of one commit by id (forges and git ≥ 2.5 over protocol v2 serve any
    reachable commit, advertised or not)."""
    args = ["fetch", "--no-tags", "--no-recurse-submodules", "--quiet"]
    if depth:
        args.append(f"--depth={depth}")
    return [*args, "--end-of-options", url, sha]


def build_fetch_branches_args(url: str) -> list[str]:
    """``git fetch`` of every branch, for servers that refuse to serve a commit by id."""
    return [
        "fetch",
        "--no-tags",
        "--no-recurse-submodules",
        "--quiet",
        "--end-of-options",
        url,
        "+refs/heads/*:refs/remotes/origin/*",
    ]


class Git:
    """The git executable, with a timeout and optional HTTPS credentials."""

    def __init__(
        self,
        binary: str | None = None,
        timeout: float = 600.0,
        credentials: GitCredentials | None = None,
    ) -> None:
        found = binary or find_binary("git")
        if found is None:
            raise ConfigError("git", "git is not installed: apt-get install -y git")
        self.binary = found
        self.timeout = timeout
        self.credentials = credentials

    def run(self, args: Sequence[str], cwd: Path | None = None) -> str:
        """Run ``git ARGS`` in ``cwd``; stdout, or :class:`GitError` with stderr's tail."""
        with self._environment() as env:
            try:
                done = subprocess.run(
                    [self.binary, "-c", "advice.detachedHead=false", *args],
                    cwd=cwd,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=self.timeout,
                    stdin=subprocess.DEVNULL,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise GitError(args[0], -1, f"timed out after {self.timeout:g}s") from None
        if done.returncode != 0:
            raise GitError(args[0], done.returncode, self._tail(done.stderr))
        return done.stdout

    def version(self) -> str:
        return self.run(["--version"]).strip().removeprefix("git version ")

    def ls_remote(self, url: str) -> str:
        """The remote's default branch head (``HEAD``): proves the worker may read it."""
        out = self.run(["ls-remote", "--end-of-options", parse_clone_url(url), "HEAD"])
        return out.split("\t", 1)[0].strip()

    def checkout(self, url: str, sha: str, dest: Path) -> str:
        """Fetch commit ``sha`` of ``url`` into the new directory ``dest`` and check it out
        (detached); returns the verified ``HEAD``. ``dest`` must not exist or be empty."""
        url = parse_clone_url(url)
        sha = parse_sha(sha)
        dest.mkdir(parents=True, exist_ok=True)
        if any(dest.iterdir()):
            raise ConfigError("checkout", f"{dest} is not empty")
        self.run(["init", "--quiet", str(dest)])
        try:
            self.run(build_fetch_args(url, sha), cwd=dest)
        except GitError as by_id:
            # Either the server refuses commits by id, or it has no such commit: fetch the
            # branches (an authentication or network failure fails here too, and says so).
            self.run(build_fetch_branches_args(url), cwd=dest)
            if not self._has_commit(dest, sha):
                raise CommitNotFound(sha, display_url(url)) from by_id
        self.run(["checkout", "--quiet", "--detach", "--force", sha], cwd=dest)
        head = self.run(["rev-parse", "--verify", "HEAD^{commit}"], cwd=dest).strip()
        if head != sha:
            raise GitError("rev-parse", 0, f"HEAD is {head}, not the commit asked for ({sha})")
        return head

    def commit_all(self, repo: Path, message: str, author: str = "shipflow") -> str:
        """Commit everything in ``repo`` (made a repository first if it is not one); the new
        commit's id. For example repositories (``shipflow demo``), not for releases."""
        if not (repo / ".git").exists():
            self.run(["init", "--quiet", "-b", "main", str(repo)])
        self.run(["add", "--all"], cwd=repo)
        identity = ["-c", f"user.name={author}", "-c", f"user.email={author}@localhost"]
        self.run([*identity, "commit", "--quiet", "--no-verify", "-m", message], cwd=repo)
        return self.run(["rev-parse", "HEAD"], cwd=repo).strip()

    def _has_commit(self, repo: Path, sha: str) -> bool:
        try:
            self.run(["cat-file", "-e", f"{sha}^{{commit}}"], cwd=repo)
        except GitError:
            return False
        return True

    def _tail(self, stderr: str, lines: int = 6) -> str:
        text = _USERINFO.sub("://***@", "\n".join(stderr.strip().splitlines()[-lines:]))
        secrets = [self.credentials.password.get_secret_value()] if self.credentials else []
        return redact(text, secrets)

    @contextmanager
    def _environment(self) -> Iterator[dict[str, str]]:
        env: dict[str, str] = {
            **os.environ,
            "GIT_TERMINAL_PROMPT": "0",  # never wait for a password on a worker
            "LC_ALL": "C",
        }
        if self.credentials is None:
            yield env
            return
        with tempfile.TemporaryDirectory(prefix="shipflow-git-") as private:
            askpass = Path(private) / "askpass"
            askpass.write_text(_ASKPASS)
            askpass.chmod(stat.S_IRWXU)
            yield env | _credential_env(askpass, self.credentials)


def _credential_env(askpass: Path, credentials: GitCredentials) -> dict[str, str]:
    return {
        "GIT_ASKPASS": str(askpass),
        "SSH_ASKPASS": str(askpass),
        "SHIPFLOW_GIT_USERNAME": credentials.username,
        "SHIPFLOW_GIT_PASSWORD": credentials.password.get_secret_value(),
    }
