"""Toolchain images made locally (no public registry is reachable): the host's own Node.js,
its shared libraries and busybox, committed with buildah."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx

from shipflow.deployments.sandbox.images import buildah_runner

NODE_IMAGE = "localhost/shipflow-node:host"
MANIFESTS = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    ]
)
LIBS = (
    "libdl.so.2",
    "libstdc++.so.6",
    "libm.so.6",
    "libgcc_s.so.1",
    "libpthread.so.0",
    "libc.so.6",
)


def make_node_image(buildah: str, busybox: str) -> str:
    run = buildah_runner(buildah)
    node = Path(shutil.which("node") or "/usr/bin/node").resolve()
    npm_root = node.parent.parent / "lib" / "node_modules"
    container = run("from", "scratch")
    try:
        root = Path(run("mount", container))
        for d in (
            "bin",
            "usr/bin",
            "usr/local/bin",
            "usr/local/lib",
            "lib/x86_64-linux-gnu",
            "lib64",
            "etc",
            "root",
            "home/node",
            "tmp",
        ):
            (root / d).mkdir(parents=True, exist_ok=True)
        (root / "tmp").chmod(0o1777)
        shutil.copy2(busybox, root / "bin" / "busybox")
        for applet in ("sh", "wget", "mkdir", "cp", "rm", "ls", "cat", "env"):
            (root / "bin" / applet).symlink_to("busybox")
        (root / "usr" / "bin" / "env").symlink_to("/bin/busybox")
        shutil.copy2(node, root / "usr" / "local" / "bin" / "node")
        shutil.copytree(npm_root, root / "usr" / "local" / "lib" / "node_modules", symlinks=True)
        (root / "usr" / "local" / "bin" / "npm").symlink_to(
            "../lib/node_modules/npm/bin/npm-cli.js"
        )
        for lib in LIBS:
            shutil.copy2(
                Path("/lib/x86_64-linux-gnu") / lib, root / "lib" / "x86_64-linux-gnu" / lib
            )
        shutil.copy2("/lib64/ld-linux-x86-64.so.2", root / "lib64" / "ld-linux-x86-64.so.2")
        (root / "etc" / "passwd").write_text(
            "root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000:node:/home/node:/bin/sh\n"
        )
        (root / "etc" / "group").write_text("root:x:0:\nnode:x:1000:\n")
        run(
            "config", "--env", "PATH=/usr/local/bin:/usr/bin:/bin", "--env", "HOME=/root", container
        )
        run("unmount", container)
        run("commit", "--quiet", container, NODE_IMAGE)
    finally:
        run("rm", container)
    return NODE_IMAGE


def file_in_image(registry_host: str, repository: str, reference: str, path: str) -> str | None:
    """The content of ``path`` in the image ``repository:reference`` as the registry serves it
    (the topmost layer that holds it), read over the v2 API; None when no layer has it."""
    import gzip
    import io
    import tarfile

    base = f"http://{registry_host}/v2/{repository}"
    manifest = httpx.get(f"{base}/manifests/{reference}", headers={"Accept": MANIFESTS}).json()
    wanted = path.lstrip("/")
    for layer in reversed(manifest["layers"]):
        blob = httpx.get(f"{base}/blobs/{layer['digest']}", follow_redirects=True).content
        data = gzip.decompress(blob) if blob[:2] == b"\x1f\x8b" else blob
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for member in tar.getmembers():
                if member.name.lstrip("./") == wanted and member.isfile():
                    handle = tar.extractfile(member)
                    return handle.read().decode() if handle else None
    return None


def big_context(path: Path, base_image: str, megabytes: int = 64) -> Path:
    """A build context whose image has a layer of its own of ``megabytes`` random bytes
    (random: it does not compress), so that its push lasts long enough to be cut. The base
    image has no shell: the file comes from the context."""
    path.mkdir(parents=True)
    (path / "blob").write_bytes(os.urandom(megabytes * 1024 * 1024))
    (path / "Dockerfile").write_text(f"FROM {base_image}\nCOPY blob /blob\nUSER 1000\n")
    return path


def tag_is_whole(host: str, repository: str, tag: str) -> bool:
    """The tag's manifest, its config and every layer are all in the registry."""
    base = f"http://{host}/v2/{repository}"
    manifest = httpx.get(f"{base}/manifests/{tag}", headers={"Accept": MANIFESTS})
    manifest.raise_for_status()
    body = manifest.json()
    blobs = [body["config"]["digest"], *(layer["digest"] for layer in body["layers"])]
    return all(httpx.head(f"{base}/blobs/{d}").status_code == 200 for d in blobs)
