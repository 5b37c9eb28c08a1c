"""build_and_push with real buildah (chroot isolation) and the real registry on 127.0.0.1."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from shipflow.adapters.images import Registry
from shipflow.deployments import local
from shipflow.flows.build_and_push import build_and_push
from tests.conftest import Registry as RegistryService
from tests.harness.prefect_api import artifacts, events, logs

pytestmark = pytest.mark.usefixtures("prefect_server")

SHA = "3f2a9c1d4b5e6f708192a3b4c5d6e7f809a1b2c3"


def context(
    tmp_path: Path, base: str, extra: str = "", files: dict[str, str] | None = None
) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "app.txt").write_text("hello from shipflow\n")
    for name, body in (files or {}).items():
        (ctx / name).write_text(body)
    (ctx / "Dockerfile").write_text(
        f"FROM {base} AS build\n"
        "COPY app.txt /src/app.txt\n"
        f"FROM {base}\n"
        "COPY --from=build /src/app.txt /app/app.txt\n"
        f"{extra}"
        "USER 1000\n"
    )
    return ctx


def repo(registry: RegistryService) -> str:
    return f"{registry.host}/shop/web-{uuid.uuid4().hex[:6]}"


def test_multi_stage_image_is_built_pushed_and_read_back_by_digest(
    tmp_path: Path, base_image: str, registry: RegistryService
) -> None:
    repository = repo(registry)
    state = build_and_push(
        context=str(context(tmp_path, base_image)),
        repository=repository,
        git_sha=SHA,
        semver="1.4.2",
        return_state=True,
    )
    assert state.is_completed(), state.message
    result = state.result()
    assert result["digest"].startswith("sha256:")
    assert result["pinned"] == f"{repository}@{result['digest']}"
    reader = Registry(registry.host, tls=False)
    path = repository.split("/", 1)[1]
    assert registry.tags(path) == ["1.4.2", SHA]
    assert reader.manifest_digest(path, SHA) == result["digest"]
    assert reader.manifest_digest(path, "1.4.2") == result["digest"]
    run_id = state.state_details.flow_run_id
    keys = {a["key"] for a in artifacts(run_id)}
    assert {"image-ref", "image-layers", "image-scan"} <= keys
    pushed = events(f"shipflow.image.{repository}", until=lambda n: "shipflow.image.pushed" in n)
    assert pushed[-1]["payload"]["digest"] == result["digest"]


def test_latest_for_production_is_refused_before_any_build(
    tmp_path: Path, registry: RegistryService
) -> None:
    repository = repo(registry)
    state = build_and_push(
        context=str(tmp_path / "does-not-matter"),
        repository=repository,
        git_sha=SHA,
        extra_tags=["latest"],
        return_state=True,
    )
    assert state.is_failed()
    assert "tag 'latest' is mutable and refused for the production target" in state.message
    assert registry.tags(repository.split("/", 1)[1]) == []


@pytest.mark.parametrize(
    ("extra", "build_args", "files", "rule", "where"),
    [
        (
            'ENV AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"\n',
            {},
            {},
            "secret-env",
            "ENV AWS_SECRET_ACCESS_KEY",
        ),
        (
            "ARG DEPLOY_TOKEN\nLABEL deploy=$DEPLOY_TOKEN\n",
            {"DEPLOY_TOKEN": "ghp_" + "A1b2C3d4" * 5},
            {},
            "github-token",
            "LABEL deploy",
        ),
        (
            "COPY .npmrc /home/app/.npmrc\n",
            {},
            {".npmrc": "//registry.npmjs.org/:_authToken=x\n"},
            "npm-token-file",
            "file /home/app/.npmrc",
        ),
    ],
)
def test_secrets_are_refused_before_push_naming_rule_and_layer_not_value(
    tmp_path: Path,
    base_image: str,
    registry: RegistryService,
    extra: str,
    build_args: dict,
    files: dict,
    rule: str,
    where: str,
) -> None:
    repository = repo(registry)
    ctx = context(tmp_path, base_image, extra, files)
    # Lint only errors here, so the scan (not hadolint's DL3064) is what refuses the image.
    state = build_and_push(
        context=str(ctx),
        repository=repository,
        git_sha=SHA,
        build_args=build_args,
        lint_threshold="error",
        return_state=True,
    )
    assert state.is_failed()
    assert rule in state.message
    assert where in state.message
    assert registry.tags(repository.split("/", 1)[1]) == []
    secrets = ["wJalrXUtnFEMI", "ghp_A1b2", "_authToken=x"]
    seen = json.dumps({"logs": logs(state.state_details.flow_run_id), "message": state.message})
    assert rule in seen
    for secret in secrets:
        assert secret not in seen


def test_registry_down_is_retried_then_fails_and_nothing_is_reported_pushed(
    tmp_path: Path, base_image: str
) -> None:
    dead = f"127.0.0.1:{local.free_port()}/shop/web"
    state = build_and_push(
        context=str(context(tmp_path, base_image)), repository=dead, git_sha=SHA, return_state=True
    )
    assert state.is_failed()
    assert "connection refused" in state.message.lower()
    run_id = state.state_details.flow_run_id
    messages = logs(run_id)
    assert sum("Retry" in m or "retry" in m for m in messages) >= 1
    assert "image-ref" not in {a["key"] for a in artifacts(run_id)}


def test_hadolint_gate_names_the_rule(tmp_path: Path, registry: RegistryService) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox:latest\nCOPY . /app\n")
    state = build_and_push(
        context=str(ctx), repository=repo(registry), git_sha=SHA, return_state=True
    )
    assert state.is_failed()
    assert "DL3007" in state.message
