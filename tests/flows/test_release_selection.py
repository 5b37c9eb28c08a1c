"""Which services a release takes, and that it says why: a merge whose paths are unknown
(a merged pull request, GitLab's 20-of-25 commits) releases every service, and says so."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path

import pytest

from shipflow.flows.release import release
from tests.harness.prefect_api import artifacts

pytestmark = pytest.mark.usefixtures("prefect_server")


def checkout(root: Path) -> Path:
    """Two services with path filters and no Dockerfile: a build fails at once."""
    (root / "shipflow.toml").write_text(
        textwrap.dedent("""\
        [services.api]
        image = { context = "services/api", repository = "registry.example.com/shop/api" }
        paths = ["services/api/"]

        [services.web]
        image = { context = "services/web", repository = "registry.example.com/shop/web" }
        paths = ["services/web/"]
        """)
    )
    return root


def test_paths_that_touch_no_service_release_nothing(tmp_path: Path) -> None:
    sha = uuid.uuid4().hex + "0" * 8
    state = release(
        repo="shop/x",
        sha=sha,
        checkout=str(checkout(tmp_path)),
        changed_paths=["docs/readme.md"],
        return_state=True,
    )
    assert state.is_completed(), state.message
    assert state.message == f"released {sha[:12]} of shop/x: no service affected"


@pytest.mark.parametrize("changed_paths", [None, []])
def test_paths_unknown_release_every_service_and_say_so(
    tmp_path: Path, changed_paths: list[str] | None
) -> None:
    sha = uuid.uuid4().hex + "0" * 8
    state = release(
        repo="shop/x",
        sha=sha,
        checkout=str(checkout(tmp_path)),
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
