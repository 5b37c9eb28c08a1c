"""Image rules: which tags may be pushed, and whether an image carries a secret.

Pure functions over the image's config, history and the file names of its layers. A finding
names the rule, the layer and where (an ENV name, a history line, a file path), never the
value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from shipflow.core.secrets import is_secret_name
from shipflow.errors import PolicyViolation

MUTABLE_TAGS = frozenset(
    {
        "latest",
        "stable",
        "main",
        "master",
        "dev",
        "develop",
        "edge",
        "nightly",
        "prod",
        "production",
        "staging",
        "release",
        "current",
        "head",
        "test",
    }
)
SEMVER = re.compile(
    r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$"
)
GIT_SHA = re.compile(r"^[0-9a-f]{7,40}$")
PRODUCTION = frozenset({"production", "prod"})


def plan_tags(
    git_sha: str, *, environment: str, semver: str | None = None, extra: Sequence[str] = ()
) -> list[str]:
    """The tags an image gets: the git sha (always), the semver (optional), ``extra``.

    Raises:
        PolicyViolation: the sha is not a git sha, the semver is not semver, or a mutable tag
            (``latest``, ``main``...) is asked for a production target.
    """
    sha = git_sha.lower()
    if not GIT_SHA.fullmatch(sha):
        raise PolicyViolation(
            f"git_sha {git_sha!r} is not a git commit sha (7 to 40 hex digits): every image is "
            "tagged with the commit it was built from"
        )
    tags = [sha]
    if semver is not None:
        if not SEMVER.fullmatch(semver):
            raise PolicyViolation(f"semver {semver!r} is not a semantic version (e.g. 1.4.2)")
        tags.append(semver)
    for tag in extra:
        if tag.lower() in MUTABLE_TAGS and environment.lower() in PRODUCTION:
            raise PolicyViolation(
                f"tag {tag!r} is mutable and refused for the {environment} target: deploy by "
                f"digest and tag with the git sha ({sha}) or a semver instead"
            )
        if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", tag):
            raise PolicyViolation(f"tag {tag!r} is not a valid image tag")
        tags.append(tag)
    return tags


class Finding(BaseModel):
    """A secret-looking thing in an image: which rule, which layer, where. Never the value."""

    model_config = ConfigDict(frozen=True)

    rule: str
    layer: str  # "config" or "layer 3 (COPY ...)"
    where: str

    def __str__(self) -> str:
        return f"{self.rule} in {self.layer}: {self.where}"


class Layer(BaseModel):
    """One layer: its position, the instruction that made it, its size and file names."""

    model_config = ConfigDict(frozen=True)

    index: int
    created_by: str = ""
    size: int = 0
    files: tuple[str, ...] = ()


# (rule name, pattern over values)
VALUE_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("aws-access-key-id", re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("private-key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("github-token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b")),
    ("slack-token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b")),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\b")),
)
SECRET_PATHS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("aws-credentials-file", re.compile(r"(^|/)\.aws/(credentials|config)$")),
    ("ssh-private-key-file", re.compile(r"(^|/)(id_rsa|id_dsa|id_ecdsa|id_ed25519)$")),
    ("netrc-file", re.compile(r"(^|/)\.netrc$")),
    ("npm-token-file", re.compile(r"(^|/)\.npmrc$")),
    ("pypi-token-file", re.compile(r"(^|/)\.pypirc$")),
    ("docker-credentials-file", re.compile(r"(^|/)\.docker/config\.json$")),
    ("dotenv-file", re.compile(r"(^|/)\.env$")),
    ("private-key-file", re.compile(r"\.(pem|key|p12|pfx)$")),
)


def _value_rules(value: str) -> list[str]:
    return [name for name, pattern in VALUE_RULES if pattern.search(value)]


def _secret_assignment(name: str, value: str) -> bool:
    return bool(value) and is_secret_name(name)


def scan_image(
    config: dict[str, Any], layers: Sequence[Layer], *, scan_files_from: int = 0
) -> list[Finding]:
    """Secrets in an image's ENV and labels, in its history lines (where build args of RUN
    steps are recorded), and files at well-known secret paths in layers from
    ``scan_files_from`` on (the layers this build added, not the base image's)."""
    findings: list[Finding] = []
    for entry in config.get("Env") or []:
        name, _, value = str(entry).partition("=")
        if _secret_assignment(name, value):
            findings.append(Finding(rule="secret-env", layer="config", where=f"ENV {name}"))
        findings += [
            Finding(rule=rule, layer="config", where=f"ENV {name}") for rule in _value_rules(value)
        ]
    for name, value in (config.get("Labels") or {}).items():
        findings += [
            Finding(rule=rule, layer="config", where=f"LABEL {name}")
            for rule in _value_rules(str(value))
        ]
    for layer in layers:
        label = f"layer {layer.index}"
        for name, value in _assignments(layer.created_by):
            if _secret_assignment(name, value):
                findings.append(Finding(rule="secret-build-arg", layer=label, where=f"ARG {name}"))
        findings += [
            Finding(rule=rule, layer=label, where="history (created_by)")
            for rule in _value_rules(layer.created_by)
        ]
        if layer.index >= scan_files_from:
            for path in layer.files:
                findings += [
                    Finding(rule=rule, layer=label, where=f"file /{path.lstrip('/')}")
                    for rule, pattern in SECRET_PATHS
                    if pattern.search(path)
                ]
    return _unique(findings)


def _assignments(created_by: str) -> Iterable[tuple[str, str]]:
    """NAME=value pairs recorded in a history line (``|2 TOKEN=abc X=y /bin/sh -c ...`` for
    build args of RUN steps, ``ENV NAME=value``, ``ARG NAME=value``)."""
    for match in re.finditer(
        r"(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=(\"[^\"]*\"|'[^']*'|\S*)", created_by
    ):
        yield match.group(1), match.group(2).strip("\"'")


def _unique(findings: list[Finding]) -> list[Finding]:
    seen: dict[tuple[str, str, str], Finding] = {}
    for f in findings:
        seen.setdefault((f.rule, f.layer, f.where), f)
    return list(seen.values())


def final_base(dockerfile: str) -> str | None:
    """The external image the final stage builds on (following ``FROM <stage>`` links);
    None for ``FROM scratch``."""
    stages: dict[str, str] = {}
    last: str | None = None
    for line in dockerfile.splitlines():
        words = line.strip().split()
        if len(words) >= 2 and words[0].upper() == "FROM":
            image = next((w for w in words[1:] if not w.startswith("--")), "")
            resolved = stages.get(image.lower(), image)
            if len(words) >= 4 and words[-2].upper() == "AS":
                stages[words[-1].lower()] = resolved
            last = resolved
    return None if last in (None, "scratch") else last
