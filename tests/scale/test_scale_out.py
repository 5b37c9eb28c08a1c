"""shipflow on Prefect with PostgreSQL and two process workers: what one machine guaranteed
still holds when runs are spread over workers."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from itertools import combinations
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate

from shipflow.adapters.git import Git
from shipflow.adapters.images import Registry
from shipflow.adapters.waiting import poll_until
from shipflow.deployments.sandbox.cluster import create_app
from shipflow.deployments.sandbox.fake_kube import FakeKube
from shipflow.deployments.sandbox.traffic import traffic
from shipflow.deployments.scale import (
    K8S_POOL,
    POOL,
    kubernetes_base_job_template,
    render_job_manifest,
)
from tests.conftest import MetricsApp, Prometheus
from tests.conftest import Registry as RegistryService
from tests.harness.scale import (
    Cluster,
    apply_intervals,
    new_bucket,
    service_repo,
    timed_stack,
)
from tests.harness.webhooks import push


def drift_stack(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "main.tf").write_text('resource "terraform_data" "x" { input = "same" }\n')
    return path


def kube_app(cluster: Cluster) -> str:
    from kubernetes import config as k8s_config

    kubeconfig = str(cluster.scale.workdir / "kubeconfig")
    return create_app(k8s_config.new_client_from_config(config_file=kubeconfig)).namespace


def test_runs_queued_at_once_all_complete_and_one_stack_is_never_applied_twice_at_once(
    cluster: Cluster,
    tmp_path: Path,
    base_image: str,
    registry: RegistryService,
    metrics_app: MetricsApp,
) -> None:
    """20 drift scans and 5 releases of one shared stack, queued at the same moment on two
    workers: every run completes, and the stack's apply log shows five applies one after
    another, none overlapping."""
    metrics_app.control("web", "stable", rps=200, error_rate=0.0, latency_ms=20)
    metrics_app.control("web", "canary", rps=60, error_rate=0.0, latency_ms=20)
    bucket = new_bucket(cluster.moto)
    log = tmp_path / "apply.log"
    releases = []
    for i in range(5):
        sha = uuid.uuid4().hex + f"{i:08x}"
        repo = service_repo(
            tmp_path / f"repo-{i}",
            base_image=base_image,
            registry=registry.host,
            namespace=kube_app(cluster),
            content=f"release {i}",
            stack="infra/shared",
        )
        timed_stack(repo / "infra" / "shared", bucket, cluster.moto, sha[:12], log, hold=1)
        # release fetches exactly the merged commit: commit the checkout, release that sha.
        releases.append((sha, Git().commit_all(repo, f"release {i}"), repo))
    scans = [str(drift_stack(tmp_path / f"drift-{j}")) for j in range(20)]

    run_ids = [
        cluster.api.start("detect_drift", "detect-drift", stacks=[stack], max_parallel=1)
        for stack in scans
    ] + [
        cluster.api.start(
            "release",
            "release",
            repo="shop/web-scale",
            sha=commit,
            clone_url=repo.as_uri(),
            services=["web"],
            auto_approve=True,
        )
        for _, commit, repo in releases
    ]
    runs = cluster.api.wait_final(run_ids, timeout=600)

    failed = [
        f"{r['name']}: {r['state']['message']}" for r in runs if r["state_type"] != "COMPLETED"
    ]
    assert not failed
    ran_by = {
        worker.name: sum(run_id in worker.log_path.read_text() for run_id in run_ids)
        for worker in cluster.workers
    }
    assert all(ran_by.values()), f"a worker ran nothing: {ran_by}"
    spans = apply_intervals(log)
    assert sorted(spans) == sorted(label[:12] for label, _, _ in releases)  # five real applies
    for (a, (a0, a1)), (b, (b0, b1)) in combinations(sorted(spans.items()), 2):
        assert a1 <= b0 or b1 <= a0, f"applies of {a} and {b} overlapped"
    pushed = Registry(registry.host, tls=False)
    assert all(pushed.manifest_digest("shop/web-scale", commit) for _, commit, _ in releases)


def test_a_merge_delivered_twice_is_released_once_per_service(
    cluster: Cluster, base_image: str, registry: RegistryService, metrics_app: MetricsApp
) -> None:
    """The receiver makes one event per delivery; GitHub redelivering the push under a new
    delivery id (its 'Redeliver' button) is a second event, a second trigger and a second
    release run, on either worker. One of them releases; the other finds the commit claimed
    and skips it."""
    metrics_app.control("web", "stable", rps=200, error_rate=0.0, latency_ms=20)
    metrics_app.control("web", "canary", rps=60, error_rate=0.0, latency_ms=20)
    service_repo(
        cluster.root,
        base_image=base_image,
        registry=registry.host,
        namespace=kube_app(cluster),
        content="merged twice",
        repository="shop/twice",
    )
    sha = Git().commit_all(cluster.root, "merged twice")
    body = push("shop/twice", sha=sha, clone_url=cluster.root.as_uri())
    for _ in range(2):
        answer = deliver(cluster, body)
        assert answer.status_code == 202, answer.text
        assert answer.json()["status"] != "duplicate"

    def both_runs() -> list[dict[str, Any]] | None:
        found = [
            r
            for r in cluster.api.runs(deployment_id={"any_": [release_deployment(cluster)]})
            if r["parameters"].get("sha") == sha
        ]
        return found if len(found) == 2 else None

    runs = poll_until(both_runs, timeout=60, interval=1)
    runs = cluster.api.wait_final([r["id"] for r in runs], timeout=300)
    assert all(r["state_type"] == "COMPLETED" for r in runs), [r["state"] for r in runs]
    builds = [
        c
        for r in runs
        for c in cluster.api.children(r["id"])
        if c["flow_id"] and c["parameters"].get("git_sha") == sha
    ]
    assert len(builds) == 1, "the commit was built more than once"
    skips = [r for r in runs if (r["state"]["message"] or "").startswith("nothing released")]
    assert len(skips) == 1
    digest = Registry(registry.host, tls=False).manifest_digest("shop/twice", sha)
    assert digest is not None


def slot_events(cluster: Cluster, limit: str, count: int) -> list[dict[str, Any]]:
    """The acquired/released events of one slot, oldest first, once ``count`` arrived."""

    def arrived() -> list[dict[str, Any]] | None:
        page = cluster.api.post(
            "/events/filter",
            {
                "filter": {
                    "any_resource": {"id": [f"shipflow.slot.{limit}"]},
                    "event": {"prefix": ["shipflow.slot."]},
                    "order": "ASC",
                },
                "limit": 50,
            },
        )
        events: list[dict[str, Any]] = page["events"]
        return events if len(events) >= count else None

    return poll_until(arrived, timeout=60, interval=1)


def test_two_canaries_of_one_app_started_at_once_on_two_workers_never_overlap(
    cluster: Cluster, fake_kube: FakeKube, metrics_app: MetricsApp, prometheus: Prometheus
) -> None:
    """The app's canary slot is held by one run at a time across the workers: acquired,
    released, acquired, released; the second run waited for the first (or, after 30 s,
    was refused saying so)."""
    from tests.faults.test_worker_killed import canary_params

    namespace = kube_app(cluster)
    label = f"web-{uuid.uuid4().hex[:6]}"
    with traffic(fake_kube, metrics_app, namespace, "gateway", label):
        runs = [
            cluster.api.start(
                "promote_canary",
                "promote-canary",
                **canary_params(namespace, prometheus.url, label, hold=3),
            )
            for _ in range(2)
        ]
        finished = cluster.api.wait_final(runs, timeout=300)
    completed = [r["id"] for r in finished if r["state_type"] == "COMPLETED"]
    refused = [r for r in finished if r["state_type"] != "COMPLETED"]
    # The second waits up to 30 s for the slot: under load it may be refused instead, which
    # is the guarantee too. Either way, never two at once.
    assert completed, [r["state"]["message"] for r in finished]
    assert all("is held by another run" in r["state"]["message"] for r in refused)
    events = slot_events(cluster, f"shipflow-canary-{namespace}-web", 2 * len(completed))
    assert [e["event"] for e in events] == [
        "shipflow.slot.acquired",
        "shipflow.slot.released",
    ] * len(completed)

    def run_of(event: dict[str, Any]) -> str:
        return next(
            r["prefect.resource.id"].removeprefix("prefect.flow-run.")
            for r in event.get("related", [])
            if r.get("prefect.resource.role") == "flow-run"
        )

    # Each run that went on held the slot once, released before the next acquired.
    holders = [run_of(e) for e in events]
    assert holders[0::2] == holders[1::2]
    assert sorted(holders[0::2]) == sorted(completed)


def test_the_kubernetes_pool_template_is_a_valid_job_and_the_server_takes_it(
    cluster: Cluster,
) -> None:
    template = kubernetes_base_job_template()
    job = render_job_manifest(template, {"image": "registry.example.com/shipflow:1.4.2"})
    assert kubernetes_validate.validate(job, "1.30", strict=True)
    pod = job["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] >= 600
    assert job["spec"]["backoffLimit"] == 0
    assert pod["containers"][0]["image"] == "registry.example.com/shipflow:1.4.2"
    cluster.api.post(
        "/work_pools/",
        {"name": K8S_POOL, "type": "kubernetes", "base_job_template": template},
    )
    stored = cluster.api.get(f"/work_pools/{K8S_POOL}")
    assert stored["base_job_template"] == template
    assert cluster.api.get(f"/work_pools/{POOL}")["type"] == "process"


def deliver(cluster: Cluster, body: bytes) -> httpx.Response:
    """A GitHub push delivery, signed with the receiver's secret, under a new delivery id."""
    signature = hmac.new(cluster.scale.webhook_secret.encode(), body, hashlib.sha256)
    return httpx.post(
        f"{cluster.scale.receiver_url}/hooks/github",
        content=body,
        headers={
            "X-Hub-Signature-256": f"sha256={signature.hexdigest()}",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "Content-Type": "application/json",
        },
    )


def release_deployment(cluster: Cluster) -> str:
    return cluster.api.deployment_id("release", "release")
