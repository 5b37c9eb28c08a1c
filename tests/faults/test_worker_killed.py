"""A worker SIGKILLed mid-run (its host or container dying), on the scaled-out cluster:
Prefect on PostgreSQL, two process workers. Each test ends in a stated end state and shows
that nothing is left half-done."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from shipflow.adapters.kubernetes import ClusterTarget, Deployments, RouterSpec
from shipflow.adapters.prometheus import MetricsTarget
from shipflow.adapters.waiting import poll_until
from shipflow.core.canary import CanaryPolicy, Step
from shipflow.core.liveness import DeadRunPolicy
from shipflow.deployments.automations import zombie_runs
from shipflow.deployments.sandbox.cluster import APP, create_app
from shipflow.deployments.sandbox.fake_kube import FakeKube
from shipflow.deployments.sandbox.traffic import canary_share, traffic
from shipflow.tasks.common import SLOT_GRACE_SECONDS
from tests.conftest import MetricsApp, Prometheus
from tests.conftest import Registry as RegistryService
from tests.harness.images import big_context, tag_is_whole
from tests.harness.scale import FINAL, Cluster, gated_stack, new_bucket

pytestmark = pytest.mark.slow

# A dead holder's slot is taken after the grace (20 s of silence, counted from its last
# refresh) plus the waiter's 1 s poll; Prefect's lease alone would take 60 s + a 15 s sweep.
SLOT_FREED_WITHIN = SLOT_GRACE_SECONDS + 10


def crashed_at(cluster: Cluster, run_id: str) -> tuple[dict[str, Any], float]:
    run = cluster.api.wait_state(run_id, {"CRASHED"}, timeout=120)
    return run, datetime.fromisoformat(run["state"]["timestamp"]).timestamp()


def s3_keys(endpoint: str, bucket: str) -> list[str]:
    listed = boto3.client("s3", endpoint_url=endpoint).list_objects_v2(Bucket=bucket)
    return [o["Key"] for o in listed.get("Contents", [])]


def s3_state(endpoint: str, bucket: str) -> str:
    s3 = boto3.client("s3", endpoint_url=endpoint)
    body = s3.get_object(Bucket=bucket, Key="app/terraform.tfstate")["Body"]
    return str(body.read().decode())


def test_a_worker_killed_during_apply(cluster: Cluster, tmp_path: Path) -> None:
    """End state: Terraform, in a session of its own, finishes the apply and releases the
    state lock; the killed run is marked Crashed by the next run that wanted the stack, which
    took the apply slot within SLOT_FREED_WITHIN of the kill and then refused to plan while
    the lock was held, naming it; once the apply ended, a new release of the stack applies."""
    bucket = new_bucket(cluster.moto)
    name = f"killed-{uuid.uuid4().hex[:6]}"  # one apply slot for the three directories
    log, gate = tmp_path / "apply.log", tmp_path / "gate"

    def release(label: str) -> str:
        stack = gated_stack(tmp_path / label / name, bucket, cluster.moto, label, log, gate)
        return cluster.api.start(
            "terraform_release", "terraform-release", stack=str(stack), auto_approve=True
        )

    first = release("first")
    poll_until(lambda: log.exists() and "begin first" in log.read_text(), timeout=240, interval=0.5)
    killed = cluster.kill_worker_of(first)
    assert any(key.endswith(".tflock") for key in s3_keys(cluster.moto, bucket))

    second = release("second")
    (second_run,) = cluster.api.wait_final([second], timeout=240)
    crashed, crashed_time = crashed_at(cluster, first)
    print(f"apply slot freed {crashed_time - killed:.1f}s after the kill")
    assert crashed_time - killed < SLOT_FREED_WITHIN, crashed_time - killed
    assert f"stopped holding shipflow-terraform-apply-{name}" in crashed["state"]["message"]
    # The orphaned apply still holds the state lock: the second release refused, named it.
    assert second_run["state_type"] == "FAILED"
    assert "state is locked by" in second_run["state"]["message"]
    assert "lock ID" in second_run["state"]["message"]
    assert "begin second" not in log.read_text()

    gate.touch()
    poll_until(lambda: "end first" in log.read_text(), timeout=60, interval=0.5)
    poll_until(
        lambda: not any(k.endswith(".tflock") for k in s3_keys(cluster.moto, bucket)),
        timeout=60,
        interval=0.5,
    )
    assert '"first"' in s3_state(cluster.moto, bucket)  # the killed run's apply completed

    third = release("third")
    (third_run,) = cluster.api.wait_final([third], timeout=240)
    assert third_run["state_type"] == "COMPLETED", third_run["state"]["message"]
    assert log.read_text().splitlines() == [
        "begin first",
        "end first",
        "begin third",
        "end third",
    ]
    assert '"third"' in s3_state(cluster.moto, bucket)


def canary_params(namespace: str, prometheus: str, label: str, hold: float) -> dict[str, Any]:
    policy = CanaryPolicy(
        steps=(Step(weight=25, hold_seconds=hold),),
        check_interval_seconds=1,
        min_requests=20,
        min_baseline_requests=20,
        max_sample_age_seconds=5,
        progress_deadline_seconds=30,
    )
    return {
        "app": APP,
        "image": "registry.local/web@sha256:" + "c" * 64,
        "policy": policy.model_dump(mode="json"),
        "cluster": ClusterTarget(namespace=namespace).model_dump(mode="json"),
        "router": RouterSpec(kind="gateway").model_dump(mode="json"),
        "metrics": MetricsTarget(url=prometheus, app=label).model_dump(mode="json"),
    }


def test_a_worker_killed_during_a_canary_hold(
    cluster: Cluster, fake_kube: FakeKube, metrics_app: MetricsApp, prometheus: Prometheus
) -> None:
    """End state: the killed run holds 25 % on the canary with nobody watching; the next
    promote_canary of the app, on the other worker, takes the app's canary slot within
    SLOT_FREED_WITHIN of the kill, marks the dead run Crashed, takes the traffic back first
    and then promotes its own image: no traffic stays on a canary, one canary at a time."""
    from kubernetes import config as k8s_config

    kubeconfig = str(cluster.scale.workdir / "kubeconfig")
    app = create_app(k8s_config.new_client_from_config(config_file=kubeconfig))
    label = f"web-{uuid.uuid4().hex[:6]}"
    with traffic(fake_kube, metrics_app, app.namespace, "gateway", label):
        first = cluster.api.start(
            "promote_canary",
            "promote-canary",
            **canary_params(app.namespace, prometheus.url, label, hold=600),
        )
        poll_until(
            lambda: canary_share(fake_kube, app.namespace, "gateway") == 0.25,
            timeout=240,
            interval=0.5,
        )
        killed = cluster.kill_worker_of(first)
        time.sleep(2)
        assert canary_share(fake_kube, app.namespace, "gateway") == 0.25  # nobody took it back

        second = cluster.api.start(
            "promote_canary",
            "promote-canary",
            **canary_params(app.namespace, prometheus.url, label, hold=2),
        )
        (second_run,) = cluster.api.wait_final([second], timeout=240)
    _, crashed_time = crashed_at(cluster, first)
    print(f"canary slot freed {crashed_time - killed:.1f}s after the kill")
    assert crashed_time - killed < SLOT_FREED_WITHIN, crashed_time - killed
    assert second_run["state_type"] == "COMPLETED", second_run["state"]["message"]
    logs = "\n".join(cluster.api.logs(second))
    assert "took the slot shipflow-canary-" in logs
    assert "took 25 % of traffic" in logs  # taken back before it climbed
    assert canary_share(fake_kube, app.namespace, "gateway") == 0
    deployments = Deployments(app.api, app.namespace)
    assert deployments.image_of(APP) == "registry.local/web@sha256:" + "c" * 64


@contextmanager
def dead_run_automation(cluster: Cluster, policy: DeadRunPolicy) -> Iterator[None]:
    """shipflow's "crash runs whose heartbeats stopped" automation on the cluster's server,
    as `shipflow deploy` installs it (the cluster is made with `prefect deploy`, which does
    not), for one test: a run that holds no slot has nobody else to mark it Crashed."""
    made = cluster.api.post("/automations/", zombie_runs(policy).model_dump(mode="json"))
    try:
        yield
    finally:
        cluster.api.client.delete(f"/automations/{made['id']}").raise_for_status()


def uploading(registry: RegistryService, repository: str) -> int:
    """Bytes the registry holds of blob uploads to ``repository`` not yet completed (its
    filesystem storage keeps each under ``_uploads/`` until the blob is committed)."""
    root = registry.service.log_path.parent / "registry-data" / "docker" / "registry" / "v2"
    uploads = root / "repositories" / repository / "_uploads"
    total = 0
    for data in uploads.glob("*/data"):
        with suppress(FileNotFoundError):  # committed between the listing and the look
            total += data.stat().st_size
    return total


def test_a_worker_killed_during_a_push(
    cluster: Cluster, tmp_path: Path, base_image: str, registry: RegistryService
) -> None:
    """End state: the killed run is marked Crashed by shipflow's dead-run automation (its
    heartbeats stopped) within the policy's stated window; the registry is left a partial
    upload and no tag pointing at it (a tag is written only with its manifest, after every
    blob); the next build_and_push of the same commit, started at once on another worker,
    pushes the whole image under the commit's tag."""
    policy = DeadRunPolicy(heartbeat_seconds=30, crashed_after_seconds=45)  # the tightest
    context = big_context(tmp_path / "big", base_image)  # a 64 MB layer: a push of seconds
    repository = f"shop/killed-{uuid.uuid4().hex[:6]}"
    sha = uuid.uuid4().hex + "dead0b1e"
    params = {"context": str(context), "repository": f"{registry.host}/{repository}"}
    with dead_run_automation(cluster, policy):
        first = cluster.api.start("build_and_push", "build-and-push", git_sha=sha, **params)

        def big_layer_arriving() -> bool:
            if uploading(registry, repository) > 8 * 1024 * 1024:
                return True
            run = cluster.api.run(first)
            if run["state_type"] in FINAL:
                raise AssertionError(f"ended before its push was cut: {run['state']['message']}")
            return False

        poll_until(big_layer_arriving, timeout=300, interval=0.05)
        killed = cluster.kill_worker_of(first)
        cut_at = uploading(registry, repository)
        tags_after_kill = registry.tags(repository)
        second = cluster.api.start("build_and_push", "build-and-push", git_sha=sha, **params)
        crashed, crashed_time = crashed_at(cluster, first)
        (again,) = cluster.api.wait_final([second], timeout=300)

    low, high = policy.crashed_within()
    print(
        f"push cut with {cut_at / 2**20:.1f} MiB of uploads unfinished; Crashed "
        f"{crashed_time - killed:.1f}s after the kill (stated {low}-{high}s)"
    )
    assert cut_at > 0  # the kill came mid-upload: the registry holds a partial blob
    assert tags_after_kill == []  # and no tag: no manifest can name an unfinished blob
    assert crashed_time - killed <= high + 5, crashed_time - killed
    assert f"no heartbeat for {policy.crashed_after_seconds}s" in crashed["state"]["message"]
    assert again["state_type"] == "COMPLETED", again["state"]["message"]
    assert registry.tags(repository) == [sha]
    assert tag_is_whole(registry.host, repository, sha)
