"""Base images made locally from busybox-static (no public registry is reachable here)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

BASE_IMAGE = "localhost/shipflow-base:busybox-1"


def buildah_runner(buildah: str, storage_driver: str = "vfs") -> Callable[..., str]:
    """``run(*args)``: buildah with ``args`` on ``storage_driver``, its output stripped; a
    failure raises (these images are made by hand, step by step)."""

    def run(*args: str) -> str:
        done = subprocess.run(
            [buildah, "--storage-driver", storage_driver, *args],
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    return run


def make_base_image(
    buildah: str, busybox: str, storage_driver: str = "vfs", name: str = BASE_IMAGE
) -> str:
    """Commit ``name``: busybox as /bin/busybox and /bin/sh, busybox as the entrypoint."""
    run = buildah_runner(buildah, storage_driver)
    container = run("from", "scratch")
    try:
        run("copy", container, busybox, "/bin/busybox")
        run("config", "--entrypoint", '["/bin/busybox"]', "--env", "PATH=/bin", container)
        run("commit", "--quiet", container, name)
    finally:
        run("rm", container)
    return name
