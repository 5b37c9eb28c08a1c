"""The anti-patterns a reviewer looks for in manifests, Dockerfiles, Terraform roots and CI
workflows; each finding with its file, line (where the text shows it), rule id and the fix.

Pure: the caller reads the files and passes ``(path, text)``; SARIF 2.1.0 is built here too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

from shipflow.core.secrets import is_secret_name

RULES: dict[str, tuple[str, str]] = {
    "SF001": ("mutable image", "pin the image by version tag or, better, by digest"),
    "SF002": (
        "container without limits",
        "set resources.limits.memory (and requests) so one pod cannot starve its node",
    ),
    "SF003": (
        "secret in an env literal",
        "move it to a Secret and use valueFrom.secretKeyRef (or a secret store)",
    ),
    "SF004": (
        "secret in an image layer",
        "pass it at run time or as a build secret (RUN --mount=type=secret), never ENV/ARG",
    ),
    "SF005": (
        "one Terraform state for everything",
        "split state per environment and component (a key like <env>/<component>.tfstate)",
    ),
    "SF006": (
        "local state in a production root",
        "configure a remote backend with locking (S3 with use_lockfile = true)",
    ),
    "SF007": (
        "deploy without an approval gate",
        "run the apply in a job with a protected environment (GitHub) or when: manual (GitLab)",
    ),
}


class Finding(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    line: int | None
    rule: str
    message: str

    @property
    def fix(self) -> str:
        return RULES[self.rule][1]


def line_of(text: str, needle: str) -> int | None:
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return number
    return None


def mutable_image(image: str) -> bool:
    """Untagged, or tagged ``latest``; a digest is never mutable."""
    if "@" in image:
        return False
    last = image.rsplit("/", 1)[-1]
    return ":" not in last or last.endswith(":latest")


# --- Kubernetes manifests --------------------------------------------------------------------


def _pod_specs(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = doc.get("spec") or {}
    if doc.get("kind") == "Pod":
        yield spec
    template = (spec.get("template") or {}).get("spec")
    if isinstance(template, dict):
        yield template
    job = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template", {}).get("spec")
    if isinstance(job, dict):
        yield job


def lint_manifest(path: str, text: str) -> list[Finding]:
    found: list[Finding] = []
    try:
        docs = [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
    except yaml.YAMLError:
        return found
    for doc in docs:
        what = f"{doc.get('kind', '?')}/{(doc.get('metadata') or {}).get('name', '?')}"
        for pod in _pod_specs(doc):
            for c in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
                name, image = c.get("name", "?"), str(c.get("image", ""))
                if mutable_image(image):
                    found.append(
                        Finding(
                            path=path,
                            line=line_of(text, f"image: {image}") if image else None,
                            rule="SF001",
                            message=f"{what} container {name} runs {image or 'no image'}, "
                            "which can change under it",
                        )
                    )
                if not (c.get("resources") or {}).get("limits"):
                    found.append(
                        Finding(
                            path=path,
                            line=line_of(text, f"- name: {name}") or line_of(text, image),
                            rule="SF002",
                            message=f"{what} container {name} has no resource limits",
                        )
                    )
                for env in c.get("env") or []:
                    key, value = str(env.get("name", "")), env.get("value")
                    if value and is_secret_name(key):
                        found.append(
                            Finding(
                                path=path,
                                line=line_of(text, f"name: {key}"),
                                rule="SF003",
                                message=f"{what} container {name} sets {key} to a literal",
                            )
                        )
    return found


# --- Dockerfiles -----------------------------------------------------------------------------

_FROM = re.compile(r"^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", re.IGNORECASE)
_ENV = re.compile(r"^\s*(ENV|ARG)\s+(.+)$", re.IGNORECASE)


def lint_dockerfile(path: str, text: str) -> list[Finding]:
    found: list[Finding] = []
    stages: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        if m := _FROM.match(line):
            image, alias = m.group(1), m.group(2)
            if image.lower() not in stages and image != "scratch" and mutable_image(image):
                found.append(
                    Finding(
                        path=path,
                        line=number,
                        rule="SF001",
                        message=f"FROM {image} can change under the build",
                    )
                )
            if alias:
                stages.add(alias.lower())
        elif m := _ENV.match(line):
            for part in re.split(r"\s+(?=\w+=)", m.group(2).strip()):
                key, eq, value = part.partition("=")
                if eq and value.strip("\"'") and is_secret_name(key):
                    found.append(
                        Finding(
                            path=path,
                            line=number,
                            rule="SF004",
                            message=f"{m.group(1).upper()} {key} bakes a secret into the image",
                        )
                    )
    return found


# --- Terraform roots ---------------------------------------------------------------------------

_BACKEND = re.compile(r'backend\s+"(\w+)"\s*\{', re.MULTILINE)
_KEY = re.compile(r'^\s*key\s*=\s*"([^"]*)"', re.MULTILINE)
_PRODUCTION = re.compile(r"(^|/)(prod|production|prd)(/|$)")


def lint_terraform_root(path: str, text: str) -> list[Finding]:
    """``path`` is the root directory, ``text`` its ``*.tf`` files joined."""
    found: list[Finding] = []
    backend = _BACKEND.search(text)
    if _PRODUCTION.search(path) and (backend is None or backend.group(1) == "local"):
        found.append(
            Finding(
                path=path,
                line=None,
                rule="SF006",
                message="a production root keeps its state on local disk (no backend block)"
                if backend is None
                else 'a production root uses backend "local"',
            )
        )
    if backend is not None and backend.group(1) != "local":
        key = _KEY.search(text[backend.start() :])
        if key is not None and "/" not in key.group(1):
            found.append(
                Finding(
                    path=path,
                    line=None,
                    rule="SF005",
                    message=f'state key "{key.group(1)}" has no environment or component in '
                    "it: one state for everything",
                )
            )
    return found


# --- CI workflows -----------------------------------------------------------------------------

_DEPLOY = re.compile(
    r"\b(terraform|tofu)\s+apply\b|\bkubectl\s+apply\b|\bhelm\s+upgrade\b", re.IGNORECASE
)


def _runs(steps: Iterable[Any]) -> str:
    return "\n".join(str(s.get("run", "")) for s in steps if isinstance(s, dict))


def lint_workflow(path: str, text: str) -> list[Finding]:
    """GitHub Actions workflows and ``.gitlab-ci.yml``: a job that deploys must be gated."""
    found: list[Finding] = []
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return found
    if not isinstance(doc, dict):
        return found
    if isinstance(doc.get("jobs"), dict):  # GitHub Actions
        for name, job in doc["jobs"].items():
            if not isinstance(job, dict):
                continue
            commands = _runs(job.get("steps") or [])
            if _DEPLOY.search(commands) and not job.get("environment"):
                found.append(
                    Finding(
                        path=path,
                        line=line_of(text, f"{name}:"),
                        rule="SF007",
                        message=f"job {name} deploys ({_DEPLOY.search(commands).group(0)}) with "  # type: ignore[union-attr]
                        "no environment, so no reviewer approves it",
                    )
                )
        return found
    for name, job in doc.items():  # GitLab CI
        if not isinstance(job, dict) or "script" not in job:
            continue
        script = job.get("script")
        commands = "\n".join(script) if isinstance(script, list) else str(script)
        if _DEPLOY.search(commands) and job.get("when") != "manual":
            found.append(
                Finding(
                    path=path,
                    line=line_of(text, f"{name}:"),
                    rule="SF007",
                    message=f"job {name} deploys with no `when: manual` gate",
                )
            )
    return found


# --- SARIF ------------------------------------------------------------------------------------


def sarif(findings: Iterable[Finding]) -> dict[str, Any]:
    """A SARIF 2.1.0 log of ``findings`` for code-scanning UIs."""
    results = []
    for f in findings:
        region = {"region": {"startLine": f.line}} if f.line else {}
        results.append(
            {
                "ruleId": f.rule,
                "level": "error",
                "message": {"text": f"{f.message}. Fix: {f.fix}"},
                "locations": [
                    {"physicalLocation": {"artifactLocation": {"uri": f.path}, **region}}
                ],
            }
        )
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "shipflow lint",
                        "informationUri": "https://github.com/shipflow/shipflow",
                        "rules": [
                            {
                                "id": rule,
                                "name": title.title().replace(" ", ""),
                                "shortDescription": {"text": title},
                                "help": {"text": fix},
                            }
                            for rule, (title, fix) in RULES.items()
                        ],
                    }
                },
                "results": results,
            }
        ],
    }
