"""release end to end: a real image build and push, Terraform on S3 state, a canary rollout."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from shipflow.adapters.images import Registry
from shipflow.adapters.kubernetes import Deployments
from shipflow.deployments.sandbox.cluster import APP, KubeApp
from shipflow.deployments.sandbox.fake_kube import FakeKube
from shipflow.deployments.sandbox.traffic import traffic
from shipflow.flows.release import release
from tests.conftest import MetricsApp, Moto, Prometheus
from tests.conftest import Registry as RegistryService
from tests.harness.githttp import git_http
from tests.harness.gitrepo import Repo, make_repo
from tests.harness.images import file_in_image
from tests.harness.prefect_api import artifacts
from tests.harness.stacks import make_s3_stack

pytestmark = pytest.mark.usefixtures("prefect_server")

MISSING = "0123456789abcdef0123456789abcdef01234567"


def checkout(root: Path, base: str, registry: RegistryService, moto: Moto, namespace: str) -> Repo:
    """A repository whose first commit holds the service (app.txt "v1"), its stack and
    shipflow.toml; the second commit changes app.txt to "v2"."""
    scratch = root / "scratch"
    stack = make_s3_stack(scratch / "infra", moto.endpoint, count=2)
    files = {
        "services/web/app.txt": "v1\n",
        "services/web/Dockerfile": f"FROM {base}\nCOPY app.txt /app/app.txt\nUSER 1000\n",
        **{
            f"infra/{stack.name}/{f.name}": f.read_text()
            for f in stack.path.iterdir()
            if f.is_file()
        },
        "shipflow.toml": textwrap.dedent(f"""\
        [services.web]
        image = {{ context = "services/web", repository = "{registry.host}/shop/web" }}
        stack = "infra/{stack.name}"
        namespace = "{namespace}"
        paths = ["services/web/", "infra/"]

        [services.web.policy]
        steps = [{{ weight = 25, hold_seconds = 2 }}]
        check_interval_seconds = 1
        min_requests = 20
        inconclusive_limit = 2
        progress_deadline_seconds = 20
        """),
    }
    repo = make_repo(root)
    repo.commit(files, "first")
    repo.commit({"services/web/app.txt": "v2\n"}, "second")
    return repo


def merged(repo: Repo, sha: str) -> Any:
    """``release`` as the merge of ``sha`` into shop/web triggers it (auto-approved)."""
    return release(
        repo="shop/web",
        sha=sha,
        clone_url=repo.url,
        auto_approve=True,
        changed_paths=["services/web/app.txt"],
        return_state=True,
    )


def test_a_merge_is_released_once_image_then_infrastructure_then_canary(
    tmp_path: Path,
    base_image: str,
    registry: RegistryService,
    moto: Moto,
    kube_app: KubeApp,
    fake_kube: FakeKube,
    prometheus: Prometheus,
    metrics_app: MetricsApp,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHIPFLOW_PROMETHEUS_URL", prometheus.url)
    repo = checkout(tmp_path, base_image, registry, moto, kube_app.namespace)
    first = repo.commits[0]  # the branch already points at the second commit
    with traffic(fake_kube, metrics_app, kube_app.namespace, "gateway", APP):
        state = merged(repo, first)
    assert state.is_completed(), state.message
    assert state.message == f"released {first[:12]} of shop/web: web"
    digest = Registry(registry.host, tls=False).manifest_digest("shop/web", first)
    assert digest is not None
    # Built from exactly the merged commit, not from whatever the branch points at now.
    assert file_in_image(registry.host, "shop/web", first, "app/app.txt") == "v1\n"
    image = Deployments(kube_app.api, kube_app.namespace).image_of(APP)
    assert image == f"{registry.host}/shop/web@{digest}"  # deployed by digest, not by tag
    summary = next(
        a for a in artifacts(state.state_details.flow_run_id) if a["key"] == "release-summary"
    )
    # One row per stage, in the order they ran.
    stages = [
        row.split(" | ")[1] for row in summary["data"].splitlines() if row.startswith("| web |")
    ]
    assert stages == ["build_and_push", "terraform_release", "canary"], summary["data"]

    # The same merge delivered again does not release again, and says so.
    again = merged(repo, first)
    assert again.is_completed()
    assert again.message == (
        f"nothing released for {first[:12]} of shop/web: web: {first} is already released for web"
    )

    # The next merge is released; the first one delivered late after it is not released over
    # it (production stays on the newer commit), and says why.
    second = repo.commits[1]
    with traffic(fake_kube, metrics_app, kube_app.namespace, "gateway", APP):
        newer = merged(repo, second)
    assert newer.is_completed(), newer.message
    late = merged(repo, first)
    assert late.is_completed()
    assert late.message == (
        f"nothing released for {first[:12]} of shop/web: web: {first} is already released "
        f"(an earlier release: {second} came after it) for web"
    )
    newest = Registry(registry.host, tls=False).manifest_digest("shop/web", second)
    assert Deployments(kube_app.api, kube_app.namespace).image_of(APP).endswith(f"@{newest}")


def test_a_commit_the_repository_lacks_fails_and_builds_nothing(
    tmp_path: Path, base_image: str, registry: RegistryService, moto: Moto, kube_app: KubeApp
) -> None:
    repo = checkout(tmp_path, base_image, registry, moto, kube_app.namespace)
    state = release(repo="shop/web", sha=MISSING, clone_url=repo.url, return_state=True)
    assert state.is_failed()
    assert state.message.endswith(f"commit {MISSING} not found in {repo.url}")
    assert Registry(registry.host, tls=False).manifest_digest("shop/web", MISSING) is None


def test_a_failing_stage_stops_the_chain_with_its_reason(
    tmp_path: Path,
    base_image: str,
    registry: RegistryService,
    moto: Moto,
    kube_app: KubeApp,
) -> None:
    repo = checkout(tmp_path, base_image, registry, moto, kube_app.namespace)
    bad = repo.commit(
        {"services/web/Dockerfile": f"FROM {base_image}\nENV API_TOKEN=abcdef123456\nUSER 1000\n"},
        "leak a token",
    )
    state = release(
        repo="shop/web", sha=bad, clone_url=repo.url, auto_approve=True, return_state=True
    )
    assert state.is_failed()
    assert state.message.startswith("web: build_and_push failed:")
    deployments = Deployments(kube_app.api, kube_app.namespace)
    assert deployments.image_of(APP) == kube_app.stable_image
    assert not deployments.exists(f"{APP}-canary")


def test_unknown_services_and_bad_config_are_named(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    sha = repo.commit({"shipflow.toml": '[services.web]\nstrategy = "yolo"\n'}, "bad config")
    state = release(repo="a/b", sha=sha, clone_url=repo.url, return_state=True)
    assert state.is_failed()
    assert "services.web.image" in state.message


def test_a_release_without_a_clone_url_or_a_full_sha_is_refused() -> None:
    state = release(repo="a/b", sha=MISSING, return_state=True)
    assert state.is_failed()
    assert state.message.endswith("clone_url: no clone URL for a/b: the merge event must carry one")
    state = release(repo="a/b", sha="main", clone_url="file:///nowhere.git", return_state=True)
    assert state.is_failed()
    assert "sha: 'main' is not a full commit id" in state.message


def test_a_private_repository_is_fetched_with_the_token_in_the_credentials_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.blocks.system import Secret

    (tmp_path / "served").mkdir()
    repo = make_repo(tmp_path / "served")
    sha = repo.commit({"shipflow.toml": '[services.web]\nstrategy = "yolo"\n'}, "bad config")
    token = "glpat-" + "t" * 20
    block = f"git-token-{uuid.uuid4().hex[:8]}"
    with git_http(tmp_path / "served", "x-access-token", token) as server:
        url = server.url(repo.bare)
        # Without credentials the worker cannot read it, and the run says so.
        refused = release(repo="shop/web", sha=sha, clone_url=url, return_state=True)
        assert refused.is_failed()
        assert "GitError" in refused.message
        assert token not in refused.message
        # With the block, the commit is fetched: its shipflow.toml is read (and refused).
        Secret(value=token).save(block)
        monkeypatch.setenv("SHIPFLOW_GIT_CREDENTIALS_BLOCK", block)
        fetched = release(repo="shop/web", sha=sha, clone_url=url, return_state=True)
    assert fetched.is_failed()
    assert "services.web.image" in fetched.message
    assert token not in fetched.message


def test_checkouts_left_by_dead_runs_are_removed_by_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SIGKILLed run cannot remove its checkout; the next run removes it once the server
    says that run is over, and leaves alone the checkout of a live run (paused for approval)
    or of a run this server does not know (another server's worker sharing the folder)."""
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.states import Crashed, Paused

    from shipflow.tasks.git import commit_worktree

    work = tmp_path / "work"
    monkeypatch.setenv("SHIPFLOW_WORK_DIR", str(work))
    repo = make_repo(tmp_path)
    sha = repo.commit({"app.txt": "v1\n"}, "first")

    @flow
    def placeholder() -> None:
        pass

    with get_client(sync_client=True) as client:
        dead = client.create_flow_run(placeholder, state=Crashed()).id
        waiting = client.create_flow_run(placeholder, state=Paused()).id
    left = {
        name: work / f"shipflow-run-{run}-x1y2z3"
        for name, run in (("dead", dead), ("waiting", waiting), ("unknown", uuid.uuid4()))
    }
    for path in left.values():
        (path / "repo").mkdir(parents=True)

    @flow
    def uses_a_checkout() -> list[str]:
        with commit_worktree(repo.url, sha) as root:
            assert (root / "app.txt").read_text() == "v1\n"
            return sorted(p.name for p in work.iterdir())

    during = uses_a_checkout()
    assert left["dead"].name not in during
    assert len(during) == 3  # the waiting run's, the unknown run's and this run's own
    kept = sorted(p.name for p in work.iterdir())  # its own removed at the end
    assert kept == sorted([left["waiting"].name, left["unknown"].name])
