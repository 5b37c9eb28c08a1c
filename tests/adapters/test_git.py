"""The git adapter against real repositories: exactly the commit asked for, or a clear refusal."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from pydantic import SecretStr

from shipflow.adapters.git import Git, GitCredentials, build_fetch_args
from shipflow.errors import CommitNotFound, ConfigError, GitError
from tests.harness.githttp import git_http
from tests.harness.gitrepo import make_repo

MISSING = "0123456789abcdef0123456789abcdef01234567"


def test_fetch_args_pass_the_url_after_end_of_options() -> None:
    assert build_fetch_args("https://h/r.git", "a" * 40) == [
        "fetch",
        "--no-tags",
        "--no-recurse-submodules",
        "--quiet",
        "--depth=1",
        "--end-of-options",
        "https://h/r.git",
        "a" * 40,
    ]


def test_checks_out_an_older_commit_while_the_branch_points_at_a_newer_one(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path)
    first = repo.commit({"app.txt": "one\n"}, "first")
    repo.commit({"app.txt": "two\n"}, "second")
    dest = tmp_path / "run"
    assert Git().checkout(repo.url, first, dest) == first
    assert (dest / "app.txt").read_text() == "one\n"


def test_a_commit_the_repository_lacks_is_refused_by_name(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    repo.commit({"app.txt": "one\n"}, "first")
    with pytest.raises(CommitNotFound) as caught:
        Git().checkout(repo.url, MISSING, tmp_path / "run")
    assert str(caught.value) == f"commit {MISSING} not found in {repo.url}"


def test_an_unreachable_repository_is_a_git_error_not_a_missing_commit(tmp_path: Path) -> None:
    with pytest.raises(GitError) as caught:
        Git().checkout((tmp_path / "nope.git").as_uri(), MISSING, tmp_path / "run")
    assert not isinstance(caught.value, CommitNotFound)
    assert "git fetch failed" in str(caught.value)


@pytest.mark.parametrize(
    ("url", "sha", "field"),
    [
        ("--upload-pack=touch /tmp/x", MISSING, "clone_url"),
        ("ext::sh -c touch% /tmp/x", MISSING, "clone_url"),
        ("file:///tmp/x.git", "main", "sha"),
        ("file:///tmp/x.git", "abc123", "sha"),
    ],
)
def test_bad_input_never_reaches_git(tmp_path: Path, url: str, sha: str, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Git().checkout(url, sha, tmp_path / "run")
    assert caught.value.field == field
    assert not (tmp_path / "run").exists()


def test_credentials_reach_git_through_askpass_and_never_its_messages(tmp_path: Path) -> None:
    # An https URL that answers nothing: git asks for no password (GIT_TERMINAL_PROMPT=0) and
    # the failure names neither the token nor a URL's user info.
    token = "ghp_" + "x" * 36
    git = Git(credentials=GitCredentials("x-access-token", SecretStr(token)), timeout=20)
    with pytest.raises(GitError) as caught:
        git.checkout(f"https://user:{token}@127.0.0.1:9/shop.git", MISSING, tmp_path / "run")
    assert token not in str(caught.value)
    assert "user:" not in str(caught.value)
    assert "SHIPFLOW_GIT_PASSWORD" not in os.environ


def test_a_token_reads_a_repository_that_wants_one_and_stays_out_of_argv_and_errors(
    tmp_path: Path,
) -> None:
    """Smart HTTP behind Basic authentication (git's own http-backend): with the token the
    commit is fetched; without it, or with a wrong one, the error says so and names no token."""
    (tmp_path / "served").mkdir()
    repo = make_repo(tmp_path / "served")
    first = repo.commit({"app.txt": "v1\n"}, "first")
    repo.commit({"app.txt": "v2\n"}, "second")
    token = "ghp_" + "s" * 36
    with git_http(tmp_path / "served", "x-access-token", token) as server:
        url = server.url(repo.bare)
        git = Git(credentials=GitCredentials("x-access-token", SecretStr(token)), timeout=30)
        assert git.checkout(url, first, tmp_path / "run") == first
        assert (tmp_path / "run" / "app.txt").read_text() == "v1\n"
        assert git.ls_remote(url) == repo.commits[-1]
        assert server.refused.count("") >= 1  # git asked without, then answered the challenge
        for credentials in (None, GitCredentials("x-access-token", SecretStr("wrong"))):
            with pytest.raises(GitError) as caught:
                Git(credentials=credentials, timeout=30).checkout(url, first, tmp_path / "no")
            assert token not in str(caught.value)
            assert not isinstance(caught.value, CommitNotFound)
            shutil.rmtree(tmp_path / "no")
