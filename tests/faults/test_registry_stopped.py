"""The image registry stopped while build_and_push pushes, on the scaled-out cluster."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from shipflow.adapters.images import Registry
from shipflow.adapters.waiting import poll_until
from tests.conftest import Registry as RegistryService
from tests.harness.images import big_context, tag_is_whole
from tests.harness.scale import FINAL, Cluster

pytestmark = pytest.mark.slow


def test_the_registry_stopped_during_a_push(
    cluster: Cluster, tmp_path: Path, base_image: str, registry: RegistryService
) -> None:
    """End state: the push is retried, then the run fails naming the registry; no tag points
    at a partial image (the registry writes the tag last, with the manifest); once the
    registry is back, the same commit is built and pushed whole."""
    context = big_context(tmp_path / "big", base_image)  # a 64 MB layer
    repository = f"shop/big-{uuid.uuid4().hex[:6]}"
    sha = uuid.uuid4().hex + "0b1e55ed"
    params = {"context": str(context), "repository": f"{registry.host}/{repository}"}
    first = cluster.api.start("build_and_push", "build-and-push", git_sha=sha, **params)

    def pushing() -> bool:
        run = cluster.api.run(first)
        if run["state_type"] in FINAL:
            raise AssertionError(f"ended before its push: {run['state']['message']}")
        return any(
            t["name"].startswith("push_image") and t["state_type"] == "RUNNING"
            for t in cluster.api.task_runs(first)
        )

    poll_until(pushing, timeout=300, interval=0.2)
    registry.service.stop()
    try:
        (run,) = cluster.api.wait_final([first], timeout=240)
    finally:
        registry.service.start()
    assert run["state_type"] == "FAILED"
    assert registry.host in run["state"]["message"]
    pushed = Registry(registry.host, tls=False)
    if pushed.manifest_digest(repository, sha) is not None:  # the push had just finished
        assert tag_is_whole(registry.host, repository, sha)

    second = cluster.api.start("build_and_push", "build-and-push", git_sha=sha, **params)
    (again,) = cluster.api.wait_final([second], timeout=300)
    assert again["state_type"] == "COMPLETED", again["state"]["message"]
    assert tag_is_whole(registry.host, repository, sha)
