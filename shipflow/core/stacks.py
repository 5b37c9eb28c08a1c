"""What a Terraform root module declares, read from its HCL (parsed with python-hcl2, never
grepped): whether it keeps state (a ``backend`` or ``cloud`` block: a stack, not a module), the
Terraform versions it accepts (``required_version``), and the language features it uses that
need a newer Terraform than the one on the worker (``use_lockfile`` needs 1.10).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import hcl2
from hcl2.utils import SerializationOptions
from pydantic import BaseModel, ConfigDict

from shipflow.errors import ConfigError

_HCL = SerializationOptions(strip_string_quotes=True, with_comments=False)

Version = tuple[int, int, int]


class Feature(BaseModel):
    """A language feature a stack uses and the first Terraform version that has it."""

    model_config = ConfigDict(frozen=True)

    name: str
    needs: Version
    where: str  # the file that uses it

    def describe(self) -> str:
        return f"{self.name} needs Terraform ≥ {_show(self.needs)}"


class StackConfig(BaseModel):
    """What shipflow needs to know of a root module's configuration."""

    model_config = ConfigDict(frozen=True)

    backend: str | None = None  # "s3", "local", ... (None: no backend block)
    cloud: bool = False
    required_versions: tuple[str, ...] = ()  # each `required_version` constraint
    features: tuple[Feature, ...] = ()

    @property
    def keeps_state(self) -> bool:
        """A root module that declares where its state lives: a stack, not a module."""
        return self.backend is not None or self.cloud


# Block types (and the release that added them) that older Terraform refuses to parse.
_BLOCK_FEATURES: dict[str, tuple[str, Version]] = {
    "moved": ("a `moved` block", (1, 1, 0)),
    "import": ("an `import` block", (1, 5, 0)),
    "check": ("a `check` block", (1, 5, 0)),
    "removed": ("a `removed` block", (1, 7, 0)),
    "ephemeral": ("an `ephemeral` resource", (1, 10, 0)),
    "action": ("an `action` block", (1, 14, 0)),
}


def read_stack_config(files: Mapping[str, str]) -> StackConfig:
    """Read the ``*.tf`` and ``*.tf.json`` files of one directory (name → text).

    Raises:
        ConfigError: a file is not valid HCL (or JSON); the field is the file's name.
    """
    backend: str | None = None
    cloud = False
    versions: list[str] = []
    features: list[Feature] = []
    for name, text in sorted(files.items()):
        body = _parse(name, text)
        for block in _blocks(body.get("terraform")):
            for backend_block in _blocks(block.get("backend")):
                for kind, settings in backend_block.items():
                    if kind.startswith("__"):
                        continue
                    backend = kind
                    if (
                        kind == "s3"
                        and isinstance(settings, Mapping)
                        and settings.get("use_lockfile") not in (None, False, "false")
                    ):
                        features.append(Feature(name="use_lockfile", needs=(1, 10, 0), where=name))
            if block.get("cloud") is not None:
                cloud = True
                features.append(Feature(name="a `cloud` block", needs=(1, 1, 0), where=name))
            required = block.get("required_version")
            if isinstance(required, str):
                versions.append(required)
        for kind, (label, needs) in _BLOCK_FEATURES.items():
            if body.get(kind) is None:
                continue
            features.append(Feature(name=label, needs=needs, where=name))
            if kind == "import" and any("for_each" in b for b in _blocks(body.get(kind))):
                label = "`for_each` in an `import` block"
                features.append(Feature(name=label, needs=(1, 7, 0), where=name))
    return StackConfig(
        backend=backend, cloud=cloud, required_versions=tuple(versions), features=tuple(features)
    )


def _parse(name: str, text: str) -> dict[str, Any]:
    try:
        if name.endswith(".json"):
            body = json.loads(text)
        else:
            body = hcl2.loads(text, serialization_options=_HCL)
    except Exception as exc:  # python-hcl2 raises its parser's (lark's) own error types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(name, f"not valid Terraform configuration: {first}") from None
    if not isinstance(body, dict):
        raise ConfigError(name, "not valid Terraform configuration: expected blocks")
    return body


def _blocks(value: Any) -> list[dict[str, Any]]:
    """A block type's bodies, whether python-hcl2 (a list) or JSON (an object or a list)."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    return []


def parse_version(text: str) -> Version:
    """``1.9.8`` (or ``v1.10.0-beta1``, ``1.10``) as a comparable tuple.

    Raises:
        ConfigError: not a version.
    """
    match = re.fullmatch(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:[-+].*)?", text.strip())
    if match is None:
        raise ConfigError("terraform_version", f"{text!r} is not a version")
    major, minor, patch = (int(g) if g else 0 for g in match.groups())
    return (major, minor, patch)


def satisfies(version: Version, constraint: str) -> bool:
    """Terraform's version constraint syntax: ``>= 1.5, < 2.0``, ``~> 1.10``, ``= 1.11.4``."""
    for part in constraint.split(","):
        part = part.strip()
        if not part:
            continue
        match = re.fullmatch(r"(>=|<=|!=|~>|=|>|<)?\s*(v?[\d.]+(?:-[\w.]+)?)", part)
        if match is None:
            raise ConfigError("required_version", f"{constraint!r} is not a version constraint")
        op, text = match.group(1) or "=", match.group(2)
        want = parse_version(text)
        if not _compare(version, op, want, precision=text.lstrip("v").count(".") + 1):
            return False
    return True


def _compare(have: Version, op: str, want: Version, *, precision: int) -> bool:
    if op == "=":
        return have == want
    if op == "!=":
        return have != want
    if op == ">=":
        return have >= want
    if op == ">":
        return have > want
    if op == "<=":
        return have <= want
    if op == "<":
        return have < want
    # ~> 1.10 allows 1.x from 1.10; ~> 1.10.2 allows 1.10.x from 1.10.2
    keep = max(precision - 1, 1)
    return have >= want and have[:keep] == want[:keep]


def version_problems(found: str, config: StackConfig) -> list[str]:
    """Why Terraform ``found`` cannot run this stack ([] when it can), one line each:
    ``use_lockfile needs Terraform ≥ 1.10, found 1.9.8``."""
    have = parse_version(found)
    found_text = ".".join(str(n) for n in have)
    problems = []
    for constraint in config.required_versions:
        if not satisfies(have, constraint):
            problems.append(f'required_version "{constraint}" excludes Terraform {found_text}')
    seen: set[str] = set()
    for feature in config.features:
        if have < feature.needs and feature.name not in seen:
            seen.add(feature.name)
            problems.append(f"{feature.describe()}, found {found_text} ({feature.where})")
    return problems


def needs(configs: Iterable[StackConfig]) -> Version:
    """The oldest Terraform that runs every one of ``configs`` (features only)."""
    return max((f.needs for c in configs for f in c.features), default=(0, 0, 0))


def _show(version: Version) -> str:
    major, minor, patch = version
    return f"{major}.{minor}" if patch == 0 else f"{major}.{minor}.{patch}"
