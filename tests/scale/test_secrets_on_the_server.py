"""No secret reaches the Prefect server: after every flow ran on the scaled-out cluster with
planted secrets (worker environment, a Secret block, the kubeconfig's token, PostgreSQL's
password, the webhook secret), none of them appears in any run, task run, state message,
log line, artifact, variable or event the server stored.

It sweeps whatever the session ran before it too (tests/faults, the other scale tests), so
it lives last in the run order (tests/scale, after test_scale_out).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from prefect.blocks.system import Secret
from prefect.settings import PREFECT_API_URL, temporary_settings

from shipflow.adapters.git import Git
from tests.conftest import MetricsApp
from tests.conftest import Registry as RegistryService
from tests.harness.scale import (
    PLANTED,
    Cluster,
    everything_on_the_server,
    new_bucket,
    s3_backend,
    service_repo,
)
from tests.scale.test_scale_out import kube_app

BLOCK_SECRET = "planted-block-5d0e2f71aa"


def secret_stack(path: Path, bucket: str, endpoint: str, fail: bool = False) -> Path:
    """A stack that really uses the planted values: the worker's TF_VAR_db_password in its
    state and a sensitive output; with ``fail``, also the Secret block's api_token in the
    environment of a command that prints it and fails."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "backend.tf").write_text(s3_backend(bucket, endpoint))
    failing = textwrap.dedent("""\
        variable "api_token" {
          type      = string
          sensitive = true
        }
        resource "terraform_data" "hook" {
          input = "x"
          provisioner "local-exec" {
            command     = "echo token=$TOKEN password=$PASSWORD >&2; exit 3"
            environment = { TOKEN = var.api_token, PASSWORD = var.db_password }
          }
        }
        """)
    (path / "main.tf").write_text(
        textwrap.dedent("""\
        variable "db_password" {
          type      = string
          sensitive = true
        }
        resource "terraform_data" "db" {
          input = var.db_password
        }
        output "dsn" {
          value     = "postgres://app:${var.db_password}@db.internal/app"
          sensitive = true
        }
        """)
        + (failing if fail else "")
    )
    return path


def test_no_planted_secret_reaches_the_server(
    cluster: Cluster,
    tmp_path: Path,
    base_image: str,
    registry: RegistryService,
    metrics_app: MetricsApp,
) -> None:
    metrics_app.control("web", "stable", rps=200, error_rate=0.0, latency_ms=20)
    metrics_app.control("web", "canary", rps=60, error_rate=0.0, latency_ms=20)
    with temporary_settings({PREFECT_API_URL: cluster.api.url}):
        Secret(value=BLOCK_SECRET).save("planted-api-token", overwrite=True)
    bucket = new_bucket(cluster.moto)
    repo = service_repo(
        tmp_path / "repo",
        base_image=base_image,
        registry=registry.host,
        namespace=kube_app(cluster),
        content="secrets",
        stack="infra/secrets",
        repository="shop/secrets",
    )
    stack = secret_stack(repo / "infra" / "secrets", bucket, cluster.moto)
    sha = Git().commit_all(repo, "secrets")
    released = cluster.api.start(
        "release",
        "release",
        repo="shop/secrets",
        sha=sha,
        clone_url=repo.as_uri(),
        services=["web"],
        auto_approve=True,
    )
    (release_run,) = cluster.api.wait_final([released], timeout=400)
    assert release_run["state_type"] == "COMPLETED", release_run["state"]["message"]

    # Drift over the same state (the password is in it), with the code changed since.
    (stack / "more.tf").write_text('resource "terraform_data" "more" { input = "new" }\n')
    failing = secret_stack(tmp_path / "failing" / "secrets-failing", bucket, cluster.moto, True)
    runs = [
        cluster.api.start("detect_drift", "detect-drift", stacks=[str(stack)], max_parallel=1),
        cluster.api.start(
            "terraform_release",
            "terraform-release",
            stack=str(failing),
            auto_approve=True,
            secret_vars={"api_token": "planted-api-token"},
        ),
    ]
    drift, failed = cluster.api.wait_final(runs, timeout=400)
    assert drift["state_type"] in {"COMPLETED", "FAILED"}  # drift found may fail the run
    assert failed["state_type"] == "FAILED"  # the apply failed with the secrets in its command

    stored = everything_on_the_server(cluster.api)
    for run_id in [released, *runs]:
        assert run_id in stored  # the sweep saw these runs
    # The sweep covers what could carry them: the failed command's output reached the server
    # (Terraform echoed both values; shipflow masked them), and so did the logs, events and
    # artifacts of the runs.
    assert "token=*** password=***" in failed["state"]["message"]
    assert failed["state"]["message"] in stored
    for seen in ("released", "shipflow.terraform.planned", "release-summary", "drift"):
        assert seen in stored
    planted = {
        **PLANTED,
        "Secret block": BLOCK_SECRET,
        "PostgreSQL password": cluster.scale.postgres.password if cluster.scale.postgres else "",
        "webhook secret": cluster.scale.webhook_secret,
    }
    leaked = sorted(name for name, value in planted.items() if value and value in stored)
    assert not leaked, f"found on the server: {leaked}"
