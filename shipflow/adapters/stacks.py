"""Terraform stacks on disk: reading a root module's configuration, finding stacks under a
folder. What counts as a stack is decided in :mod:`shipflow.core.stacks` from the parsed HCL."""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path

from shipflow.core.stacks import StackConfig, read_stack_config

# Folders never searched: Terraform's own working data (module and provider copies), VCS
# metadata and dependency trees.
_SKIP = {".terraform", ".git", "node_modules", ".venv", "__pycache__"}


def config_files(path: Path) -> dict[str, str]:
    """The ``*.tf`` and ``*.tf.json`` files directly in ``path``, name → text."""
    return {
        f.name: f.read_text(errors="replace")
        for f in sorted(path.iterdir())
        if f.is_file() and (f.name.endswith(".tf") or f.name.endswith(".tf.json"))
    }


def read_stack(path: Path) -> StackConfig:
    """The configuration of the root module in ``path``.

    Raises:
        ConfigError: a file is not valid HCL; the field is the file's name.
    """
    return read_stack_config(config_files(path))


def find_stacks(root: Path, pattern: str | None = None) -> tuple[list[Path], dict[Path, str]]:
    """Every directory under ``root`` (at any depth, ``root`` included) that is a stack: its
    HCL declares a ``backend`` or ``cloud`` block, or it keeps a local ``terraform.tfstate``.

    ``pattern`` (a glob over the path relative to ``root``, ``*`` within one folder, ``**`` any
    depth, e.g. ``envs/*/*``) narrows the search. Hidden folders and ``.terraform`` are skipped.
    Returns the stacks, and the directories whose HCL did not parse with why (they may or
    may not be stacks; the caller says so rather than guess).
    """
    found: list[Path] = []
    unreadable: dict[Path, str] = {}
    for current, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP and not d.startswith("."))
        if not any(f.endswith((".tf", ".tf.json")) for f in files):
            continue
        path = Path(current)
        relative = path.relative_to(root).as_posix()
        if pattern and not _matches(relative, pattern):
            continue
        if "terraform.tfstate" in files:
            found.append(path)
            continue
        try:
            texts = config_files(path)
            # Only a file that mentions a backend or cloud can declare one; the parse decides.
            if any("backend" in t or "cloud" in t for t in texts.values()) and (
                read_stack_config(texts).keeps_state
            ):
                found.append(path)
        except (ValueError, OSError) as exc:  # ConfigError is a ValueError
            unreadable[path] = str(exc)
    return found, unreadable


def _matches(relative: str, pattern: str) -> bool:
    """Glob on path segments: ``*`` stays within one folder, ``**`` spans any number."""
    parts = [] if relative == "." else relative.split("/")
    return _match_parts(parts, pattern.strip("/").split("/"))


def _match_parts(parts: list[str], pattern: list[str]) -> bool:
    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_match_parts(parts[i:], rest) for i in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], head) and _match_parts(parts[1:], rest)
