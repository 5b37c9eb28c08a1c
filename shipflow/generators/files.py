"""Writing generated files: all or nothing, never over an existing file without ``force``."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from shipflow.errors import ConfigError


def write_files(files: Mapping[Path, str], target: Path, *, force: bool = False) -> list[Path]:
    """Write ``files`` (paths relative to ``target``) into ``target``.

    Everything is written to a temporary folder first and moved into place only when every
    check passed, so a refusal leaves nothing half-written.

    Raises:
        ConfigError: a path is absolute or leaves ``target``, or a file exists and ``force``
            is not set.
    """
    target = target.resolve()
    planned: list[tuple[Path, Path, str]] = []
    for relative, content in files.items():
        if relative.is_absolute():
            raise ConfigError("output", f"{relative} is absolute; generated paths are relative")
        destination = (target / relative).resolve()
        if target != destination and target not in destination.parents:
            raise ConfigError("output", f"{relative} is outside the target {target}")
        if destination.exists() and not force:
            raise ConfigError("output", f"{destination} exists; use --force to overwrite it")
        planned.append((relative, destination, content))
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".shipflow-", dir=target) as staging:
        for relative, _, content in planned:
            staged = Path(staging) / relative
            staged.parent.mkdir(parents=True, exist_ok=True)
            staged.write_text(content)
        for relative, destination, _ in planned:
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(Path(staging) / relative), destination)
    return [destination for _, destination, _ in planned]
