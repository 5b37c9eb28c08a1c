"""build_and_push: build once, tag immutably, refuse secrets, push, hand on a digest."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from shipflow.core.images import plan_tags
from shipflow.errors import ConfigError, DigestMismatch
from shipflow.tasks.images import (
    build_image,
    lint_dockerfile,
    publish_image,
    push_image,
    scan_for_secrets,
    verify_push,
)


@flow(name="build_and_push")
def build_and_push(
    context: str,
    repository: str,
    git_sha: str,
    environment: str = "production",
    semver: str | None = None,
    extra_tags: list[str] | None = None,
    dockerfile: str = "Dockerfile",
    build_args: dict[str, str] | None = None,
    lint_threshold: str = "warning",
    registry_credentials: str | None = None,
) -> dict[str, Any]:
    """Build ``context`` into ``repository``, tagged with the git sha (and semver), and
    return the pushed image pinned by digest.

    The tag policy is checked before anything is built (``latest`` and other mutable tags are
    refused for production); hadolint gates the Dockerfile; the built image is scanned for
    secrets (ENV, build args in history, secret files in its own layers) and refused before
    any push; the pushed digest is read back from the registry.

    Args:
        context: Build context directory.
        repository: ``registry.example.com/team/app``.
        git_sha: The commit the image is built from (its required tag).
        environment: Target; ``production``/``prod`` refuses mutable tags.
        semver: Optional release tag.
        extra_tags: More tags (mutable ones refused for production).
        dockerfile: Path inside the context.
        build_args: Non-secret build arguments (secret-looking ones fail the scan).
        lint_threshold: hadolint level that fails the build: error, warning, info, style.
        registry_credentials: Prefect Secret block with {"username", "password"}.
    """
    logger = get_run_logger()
    tags = plan_tags(git_sha, environment=environment, semver=semver, extra=extra_tags or [])
    root = Path(context)
    docker_file = (root / dockerfile).resolve()
    if not docker_file.is_file() or root.resolve() not in docker_file.parents:
        raise ConfigError("dockerfile", f"{dockerfile} is not a file inside {context}")
    lint_dockerfile(docker_file, lint_threshold)
    local_name = f"localhost/shipflow-build/{uuid.uuid4().hex[:12]}:{tags[0]}"
    inspection = build_image(root, docker_file, local_name, build_args or {})
    scan_for_secrets(local_name, inspection)
    refs = []
    for tag in tags:
        digest = push_image(local_name, repository, tag, registry_credentials)
        refs.append(verify_push(repository, tag, digest, registry_credentials))
    if len({r.digest for r in refs}) != 1:
        digests = ", ".join(sorted({r.digest for r in refs}))
        raise DigestMismatch(
            repository, f"tags of one build resolve to different digests: {digests}"
        )
    publish_image(refs, inspection)
    logger.info("Built once, pushed as %s", ", ".join(tags))
    return refs[0].model_dump() | {"pinned": refs[0].pinned, "tags": tags}
