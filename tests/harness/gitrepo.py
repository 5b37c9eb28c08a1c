"""Real git repositories for tests: a working copy with commits, pushed to a bare repository
that tests fetch from (file:// or ``git daemon``)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

AUTHOR = {
    "GIT_AUTHOR_NAME": "Alice",
    "GIT_AUTHOR_EMAIL": "alice@example.com",
    "GIT_COMMITTER_NAME": "Alice",
    "GIT_COMMITTER_EMAIL": "alice@example.com",
}


def git(*args: str, cwd: Path) -> str:
    import os

    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **AUTHOR},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


@dataclass
class Repo:
    """``work`` is where commits are made; ``bare`` is what workers fetch from."""

    work: Path
    bare: Path
    commits: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.bare.as_uri()

    def commit(self, files: dict[str, str], message: str) -> str:
        """Write ``files`` (relative path → content), commit, push main; the new sha."""
        for name, content in files.items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        git("add", "--all", cwd=self.work)
        git("commit", "--quiet", "-m", message, cwd=self.work)
        git("push", "--quiet", "origin", "main", cwd=self.work)
        sha = git("rev-parse", "HEAD", cwd=self.work)
        self.commits.append(sha)
        return sha


def make_repo(root: Path, name: str = "shop") -> Repo:
    """An empty bare repository ``<root>/<name>.git`` and a working copy pushing to it."""
    bare = root / f"{name}.git"
    work = root / f"{name}-work"
    git("init", "--quiet", "--bare", "-b", "main", str(bare), cwd=root)
    git("init", "--quiet", "-b", "main", str(work), cwd=root)
    git("remote", "add", "origin", str(bare), cwd=work)
    return Repo(work=work, bare=bare)
