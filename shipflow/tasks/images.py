"""Image tasks: lint, build, scan, push, verify; and what the UI shows of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from pydantic import SecretStr

from shipflow.adapters.images import Buildah, Credentials, ImageRef, Inspection, Registry, hadolint
from shipflow.core.images import Finding, final_base, scan_image
from shipflow.errors import ConfigError, PolicyViolation, RegistryError
from shipflow.settings import load_settings
from shipflow.tasks.common import emit, load_secret, shipflow_task


def builder() -> Buildah:
    return Buildah(storage_driver=load_settings().buildah_storage_driver)


def registry_credentials(block: str | None) -> Credentials | None:
    """Credentials from a Prefect Secret block holding ``{"username": ..., "password": ...}``."""
    if not block:
        return None
    value: Any = load_secret(block, field="registry_credentials")
    if not isinstance(value, dict) or not {"username", "password"} <= set(value):
        raise ConfigError(
            "registry_credentials", f"block {block!r} must hold {{'username', 'password'}}"
        )
    return Credentials(str(value["username"]), SecretStr(str(value["password"])), block)


@shipflow_task(name="lint_dockerfile")
def lint_dockerfile(dockerfile: Path, threshold: str) -> None:
    """hadolint as a gate: any finding at or above ``threshold`` stops the build."""
    findings = hadolint(dockerfile, threshold)
    if findings:
        lines = "; ".join(
            f"line {f['line']} {f['code']} ({f['level']}): {f['message']}" for f in findings
        )
        raise PolicyViolation(
            f"hadolint found {len(findings)} problem(s) in {dockerfile.name}: {lines}"
        )


@shipflow_task(name="build_image")
def build_image(
    context: Path, dockerfile: Path, local_name: str, build_args: dict[str, str]
) -> Inspection:
    """Build once (layer cache on), then read config, history and layer file names."""
    tool = builder()
    tool.build(context, local_name, dockerfile=dockerfile, build_args=build_args)
    return tool.inspect(local_name, final_base(dockerfile.read_text()))


@shipflow_task(name="scan_image")
def scan_for_secrets(local_name: str, inspection: Inspection) -> list[Finding]:
    """Refuse the image (before any push) when it carries something secret-looking."""
    findings = scan_image(
        inspection.config, inspection.layers, scan_files_from=inspection.base_layers
    )
    create_table_artifact(
        key="image-scan",
        table=[{"rule": f.rule, "layer": f.layer, "where": f.where} for f in findings]
        or [{"rule": "-", "layer": "-", "where": "no secrets found"}],
        description=f"Secret scan of {local_name}",
    )
    if findings:
        raise PolicyViolation(
            f"{len(findings)} secret(s) in {local_name}, not pushed: "
            + "; ".join(str(f) for f in findings)
        )
    return findings


@shipflow_task(name="push_image", retries=3)  # connection refused, 5xx; never 401/403
def push_image(local_name: str, repository: str, tag: str, credentials_block: str | None) -> str:
    """Push one tag; returns the digest buildah saw the registry store."""
    destination = f"{repository}:{tag}"
    creds = registry_credentials(credentials_block)
    try:
        return builder().push(local_name, destination, creds, load_settings().registry_tls)
    except RegistryError as exc:
        if "unauthorized" in str(exc).lower() or "denied" in str(exc).lower():
            who = f"credentials from block {credentials_block!r}" if creds else "no credentials"
            raise RegistryError(destination, f"access denied with {who}") from exc
        raise


@shipflow_task(name="verify_push", retries=3)
def verify_push(repository: str, tag: str, digest: str, credentials_block: str | None) -> ImageRef:
    """Read the manifest back: the tag must resolve to exactly the pushed digest."""
    ref = ImageRef(repository=repository, tag=tag, digest=digest)
    registry = Registry(
        ref.host, registry_credentials(credentials_block), tls=load_settings().registry_tls
    )
    served = registry.manifest_digest(ref.path, tag)
    if served != digest:
        raise RegistryError(
            f"{repository}:{tag}", f"registry serves {served or 'nothing'}, pushed {digest}"
        )
    return ref


@shipflow_task(name="publish_image")
def publish_image(refs: list[ImageRef], inspection: Inspection) -> None:
    pinned = refs[0].pinned
    create_markdown_artifact(
        key="image-ref",
        markdown="# Image pushed\n\n"
        f"Deploy by digest: `{pinned}`\n\nTags: " + ", ".join(f"`{r.tag}`" for r in refs) + "\n",
        description=f"Pushed {pinned}",
    )
    create_table_artifact(
        key="image-layers",
        table=[
            {
                "layer": str(layer.index),
                "size (bytes)": str(layer.size),
                "created by": layer.created_by[:120],
            }
            for layer in inspection.layers
            if layer.size
        ],
        description="Size per layer",
    )
    emit(
        "shipflow.image.pushed",
        f"shipflow.image.{refs[0].repository}",
        payload={"digest": refs[0].digest, "tags": [r.tag for r in refs], "pinned": pinned},
    )
    get_run_logger().info("Pushed %s", pinned)
