"""What the benchmarks share: a Prefect server of their own, set as this process's API."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shipflow.deployments import local


@contextmanager
def prefect_server() -> Iterator[Path]:
    """Start a Prefect server on 127.0.0.1 and point this process at it (set before Prefect
    is imported); yields the work folder. Terraform gets an empty CLI config."""
    workdir = Path(tempfile.mkdtemp(prefix="shipflow-bench-"))
    rc = workdir / "terraformrc"
    rc.write_text("")
    os.environ["TF_CLI_CONFIG_FILE"] = str(rc)
    port = local.free_port()
    with local.running(local.prefect_server(port, workdir)):
        os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
        os.environ["PREFECT_HOME"] = str(workdir / "prefect-home")
        os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
        yield workdir
