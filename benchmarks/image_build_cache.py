"""A second build of an unchanged context reuses buildah's layer cache.

Makes a busybox base image locally, then builds the same multi-stage context (a few MB of
files, so copying is real work) three times: cold, unchanged (cache hits), and with one source
file changed (only the layers after it rebuild). Prints seconds for each.

Run: .venv/bin/python benchmarks/image_build_cache.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shipflow.adapters.images import Buildah  # noqa: E402

DRIVER = os.environ.get("SHIPFLOW_BUILDAH_STORAGE_DRIVER", "vfs")


def base_image() -> str:
    name = "localhost/shipflow-base:busybox-1"
    run = ["buildah", "--storage-driver", DRIVER]
    ctr = subprocess.run(
        [*run, "from", "scratch"], capture_output=True, text=True, check=True
    ).stdout.strip()
    busybox = shutil.which("busybox") or "/bin/busybox"
    subprocess.run([*run, "copy", ctr, busybox, "/bin/busybox"], check=True, capture_output=True)
    subprocess.run([*run, "commit", "--quiet", ctr, name], check=True, capture_output=True)
    subprocess.run([*run, "rm", ctr], check=True, capture_output=True)
    return name


def main() -> None:
    base = base_image()
    ctx = Path(tempfile.mkdtemp(prefix="shipflow-bench-ctx-"))
    (ctx / "deps").mkdir()
    for i in range(20):  # "dependencies": 20 x 256 KiB, unique per run so the first is cold
        (ctx / "deps" / f"lib{i}.bin").write_bytes(os.urandom(256 * 1024))
    (ctx / "src").mkdir()
    (ctx / "src" / "main.txt").write_text(f"app {uuid.uuid4()}\n")
    (ctx / "Dockerfile").write_text(
        f"FROM {base} AS build\n"
        "COPY deps /build/deps\n"
        "COPY src /build/src\n"
        f"FROM {base}\n"
        "COPY --from=build /build/deps /app/deps\n"
        "COPY --from=build /build/src /app/src\n"
        "USER 1000\n"
    )
    builder = Buildah(storage_driver=DRIVER)
    timings = []
    for label in ("cold", "unchanged (cache)", "one source file changed"):
        if label.startswith("one"):
            (ctx / "src" / "main.txt").write_text(f"app {uuid.uuid4()}\n")
        started = time.perf_counter()
        builder.build(ctx, f"localhost/bench:{uuid.uuid4().hex[:8]}")
        timings.append((label, time.perf_counter() - started))
    print(f"buildah --storage-driver {DRIVER}, --layers, 5 MiB context")
    for label, seconds in timings:
        print(f"{label:>26}: {seconds:6.2f} s")
    print(f"cache speed-up: {timings[0][1] / timings[1][1]:.1f}x")


if __name__ == "__main__":
    main()
