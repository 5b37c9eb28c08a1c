"""Which services a release takes, and that it says why: a merge whose paths are unknown
(a merged pull request, GitLab's 20-of-25 commits) releases every service, and says so."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from shipflow.flows.release import release
from tests.harness.gitrepo import Repo, make_repo
from tests.harness.prefect_api import artifacts

pytestmark = pytest.mark.usefixtures("prefect_server")


def two_services(root: Path) -> tuple[Repo, str]:
    """A repository whose one commit has two services with path filters and no Dockerfile (a
    build fails at once); the repository and the commit's sha."""
    repo = make_repo(root)
    toml = textwrap.dedent("""\
        [services.api]
        image = { context = "services/api", repository = "registry.example.com/shop/api" }
        paths = ["services/api/"]

        [services.web]
        image = { context = "services/web", repository = "registry.example.com/shop/web" }
        paths = ["services/web/"]
        """)
    return repo, repo.commit({"shipflow.toml": toml}, "two services")


def test_paths_that_touch_no_service_release_nothing(tmp_path: Path) -> None:
    repo, sha = two_services(tmp_path)
    state = release(
        repo="shop/x",
        sha=sha,
        clone_url=repo.url,
        changed_paths=["docs/readme.md"],
        return_state=True,
    )
    assert state.is_completed(), state.message
    assert state.message == f"nothing released for {sha[:12]} of shop/x: no service affected"


@pytest.mark.parametrize("changed_paths", [None, []])
def test_paths_unknown_release_every_service_and_say_so(
    tmp_path: Path, changed_paths: list[str] | None
) -> None:
    repo, sha = two_services(tmp_path)
    state = release(
        repo="shop/x",
        sha=sha,
        clone_url=repo.url,
        changed_paths=changed_paths,
        return_state=True,
    )
    # Every service is taken: the first one (api, no path of it named) is tried and fails.
    assert state.is_failed()
    assert state.message.startswith("api: build_and_push failed")
    summary = next(
        a for a in artifacts(state.state_details.flow_run_id) if a["key"] == "release-summary"
    )
    assert "| * | - | all | paths unknown: releasing all services |" in summary["data"]
