"""Base images made locally from busybox-static (no public registry is reachable here)."""

from __future__ import annotations

import subprocess

BASE_IMAGE = "localhost/shipflow-base:busybox-1"


def make_base_image(
    buildah: str, busybox: str, storage_driver: str = "vfs", name: str = BASE_IMAGE
) -> str:
    """Commit ``name``: busybox as /bin/busybox and /bin/sh, busybox as the entrypoint."""
    storage = [buildah, "--storage-driver", storage_driver]

    def run(*args: str) -> str:
        done = subprocess.run([*storage, *args], capture_output=True, text=True, check=True)
        return done.stdout.strip()

    container = run("from", "scratch")
    try:
        run("copy", container, busybox, "/bin/busybox")
        run("config", "--entrypoint", '["/bin/busybox"]', "--env", "PATH=/bin", container)
        run("commit", "--quiet", container, name)
    finally:
        run("rm", container)
    return name
