"""``shipflow pipeline``: a CI/CD pipeline from the project analysis, for four platforms.

One plan (:func:`plan_pipeline`), four renderers. The plan's rules, the same everywhere:

- fail fast: lint, then unit tests (a matrix over the declared versions), then integration
  tests with the services they need; dependency audit and IaC scan run in parallel from the
  start;
- dependencies are installed with the lockfile's own command and cached under a key made of
  the lockfile's hash;
- on the main branch only: each image is built once, tagged with the commit sha, pushed once;
  its digest is scanned and then deployed (by digest) to staging, then, after a manual
  approval, to production;
- least privilege (GitHub: ``permissions: {}`` at the top, each job asks for what it uses),
  a timeout on every job, one concurrency group per ref (pull requests cancel superseded runs,
  deployments never cancel), actions pinned by commit, service images pinned by digest.

YAML is emitted by PyYAML from data; the Jenkinsfile by :mod:`shipflow.generators.groovy`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import yaml

from shipflow.core.names import slug
from shipflow.errors import ConfigError
from shipflow.generators import groovy
from shipflow.generators.detect import Analysis, Package, ServiceKind

Platform = Literal["github-actions", "gitlab-ci", "jenkins", "circleci"]
PLATFORMS: tuple[Platform, ...] = ("github-actions", "gitlab-ci", "jenkins", "circleci")
OUTPUT_PATH: dict[Platform, str] = {
    "github-actions": ".github/workflows/shipflow.yml",
    "gitlab-ci": ".gitlab-ci.yml",
    "jenkins": "Jenkinsfile",
    "circleci": ".circleci/config.yml",
}

# Actions pinned by commit (the comment names the release; Dependabot/Renovate bump both).
ACTIONS = {
    "checkout": "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683",  # v4.2.2
    "setup-node": "actions/setup-node@39370e3970a6d050c480ffad4ff0ed4d3fdee5af",  # v4.1.0
    "setup-python": "actions/setup-python@0b93645e9fea7318ecaed2b359559ac225c90a2b",  # v5.3.0
    "setup-go": "actions/setup-go@41dfa10bad2bb2ae585af6ee5bb4d7d973ad74ed",  # v5.1.0
    "setup-java": "actions/setup-java@8df1039502a15bceb9433410b1a100fbe190c53b",  # v4.5.0
    "cache": "actions/cache@1bd1e32a3bdc45362d1e726936510720a7c30a57",  # v4.2.0
    "setup-bun": "oven-sh/setup-bun@4bc047ad259df6fc24a6c9b0f9a0cb08cf17fbe5",  # v2.0.1
    "login": "docker/login-action@9780b0c442fbb1117ed29e0efdff1e18412f7567",  # v3.3.0
    "build-push": "docker/build-push-action@48aba3b46d1b1fec4febb7c5d0c644b249a11355",  # v6.10.0
    "trivy": "aquasecurity/trivy-action@915b19bbe73b92a6cf82a1bc12b087c9a19a5fe2",  # 0.28.0
}
ACTION_VERSIONS = {
    "checkout": "v4.2.2",
    "setup-node": "v4.1.0",
    "setup-python": "v5.3.0",
    "setup-go": "v5.1.0",
    "setup-java": "v4.5.0",
    "cache": "v4.2.0",
    "setup-bun": "v2.0.1",
    "login": "v3.3.0",
    "build-push": "v6.10.0",
    "trivy": "0.28.0",
}
# Tools the pipeline installs, at fixed versions.
TRIVY_VERSION = "0.56.2"
TRIVY_IMAGE = f"aquasec/trivy:{TRIVY_VERSION}"
# What Trivy checks, the same on every platform: the scan type (the CLI's subcommand) and the
# flags, passed as the action's inputs on GitHub and as the CLI's flags elsewhere.
TRIVY_SCANS: dict[str, tuple[str, dict[str, str | bool]]] = {
    "dependency-audit": (
        "fs",
        {"scanners": "vuln", "severity": "HIGH,CRITICAL", "ignore-unfixed": True, "exit-code": "1"},
    ),
    "iac-scan": ("config", {"severity": "HIGH,CRITICAL", "exit-code": "1"}),
    "image": ("image", {"severity": "HIGH,CRITICAL", "ignore-unfixed": True, "exit-code": "1"}),
}
UV_VERSION = "0.5.4"
POETRY_VERSION = "1.8.4"
PIPENV_VERSION = "2024.4.0"
BUN_VERSION = "1.1.34"
KUBECTL_IMAGE = "bitnami/kubectl:1.31.2"
PREFECT_VERSION = "3.1.4"
# Service images pinned by digest (the multi-arch index digests of these tags as pinned in
# public repositories; refresh with `docker buildx imagetools inspect IMAGE:TAG`).
SERVICE_IMAGES: dict[ServiceKind, str] = {
    "postgres": "postgres:16-alpine@sha256:"
    "57c72fd2a128e416c7fcc499958864df5301e940bca0a56f58fddf30ffc07777",
    "mysql": "mysql:8.4@sha256:b3b90af2a6552ae30c266fdb7d5dd55f3afb72404bb78d37fe8a23eb857fd3fb",
    "mongodb": "mongo:7@sha256:9bdaeb6dac6e7e762e84e2f84103d1f9bb078fa1ba6bde8bb9d2274f655ad173",
    "redis": "redis:7-alpine@sha256:"
    "6ab0b6e7381779332f97b8ca76193e45b0756f38d4c0dcda72dbb3c32061ab99",
}
SERVICE_PORTS: dict[ServiceKind, int] = {
    "postgres": 5432,
    "mysql": 3306,
    "mongodb": 27017,
    "redis": 6379,
}
SERVICE_ENV: dict[ServiceKind, dict[str, str]] = {
    "postgres": {"POSTGRES_USER": "test", "POSTGRES_PASSWORD": "test", "POSTGRES_DB": "test"},
    "mysql": {"MYSQL_ROOT_PASSWORD": "test", "MYSQL_DATABASE": "test"},
    "mongodb": {},
    "redis": {},
}
# Throwaway credentials of a CI service container, not secrets.
SERVICE_URL: dict[ServiceKind, tuple[str, str]] = {
    "postgres": ("DATABASE_URL", "postgresql://test:test@{host}:5432/test"),
    "mysql": ("MYSQL_URL", "mysql://root:test@{host}:3306/test"),
    "mongodb": ("MONGODB_URL", "mongodb://{host}:27017/test"),
    "redis": ("REDIS_URL", "redis://{host}:6379/0"),
}
SERVICE_HEALTH: dict[ServiceKind, str] = {
    "postgres": "pg_isready -U test",
    "mysql": "mysqladmin ping -h 127.0.0.1 -ptest",
    "mongodb": "mongosh --quiet --eval 'db.runCommand({ping: 1})'",
    "redis": "redis-cli ping",
}

# Minutes a job takes, roughly (for the --verbose estimate of the critical path).
MINUTES_INSTALL = {"node": 2, "python": 2, "go": 2, "java": 4, "rust": 4}
MINUTES_BY_STAGE = {
    "lint": {"node": 2, "python": 1, "go": 2, "java": 0, "rust": 5},
    "test": {"node": 4, "python": 4, "go": 4, "java": 8, "rust": 8},
    "integration": {"node": 6, "python": 6, "go": 6, "java": 8, "rust": 8},
}
MINUTES_FIXED = {"audit": 2, "iac": 2, "build": 6, "scan": 3, "deploy": 4}
LIMIT_MINUTES = 15


@dataclass(frozen=True)
class PipelineOptions:
    """What the analysis cannot tell: the branch, the registry, the environments, a hand-off."""

    platform: Platform
    branch: str = "main"
    environments: tuple[str, ...] = ("staging", "production")
    registry: str | None = None
    namespace: str | None = None
    shipflow_deployment: str | None = None


@dataclass(frozen=True)
class Image:
    """One image to build: its Dockerfile, its context, its name and the package it ships."""

    name: str
    dockerfile: str
    context: str
    package: str | None


@dataclass(frozen=True)
class Job:
    """A platform-neutral job of the plan."""

    id: str
    stage: Literal["lint", "test", "integration", "security", "build", "scan", "deploy"]
    needs: tuple[str, ...] = ()
    package: Package | None = None
    command: str | None = None
    matrix: bool = False
    services: tuple[ServiceKind, ...] = ()
    timeout: int = 15
    image: Image | None = None
    environment: str | None = None
    manual: bool = False
    minutes: int = 0
    paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class PipelinePlan:
    analysis: Analysis
    options: PipelineOptions
    jobs: tuple[Job, ...]
    images: tuple[Image, ...]
    notes: tuple[str, ...] = field(default=())

    def job(self, job_id: str) -> Job:
        return next(j for j in self.jobs if j.id == job_id)

    def critical_path(self) -> tuple[int, list[str]]:
        """Minutes from push to a scanned image (deploys excluded), and the jobs on that path."""
        best: dict[str, tuple[int, list[str]]] = {}
        for job in self.jobs:  # jobs are in dependency order
            if job.stage == "deploy":
                continue
            before = max((best[n] for n in job.needs if n in best), default=(0, []))
            best[job.id] = (before[0] + job.minutes, [*before[1], job.id])
        return max(best.values(), default=(0, []))


def plan_pipeline(analysis: Analysis, options: PipelineOptions) -> PipelinePlan:
    """The jobs for ``analysis``: lint → test (matrix) → integration, audits in parallel; then,
    on the main branch, build once → scan → staging → approval → production."""
    notes: list[str] = []
    jobs: list[Job] = []
    monorepo = len(analysis.packages) > 1
    ids: dict[str, str] = {}
    for p in analysis.packages:
        base = slug(p.path or p.name)
        ids[p.path + p.language] = base if base not in ids.values() else f"{base}-{p.language}"
    gates: dict[str, list[str]] = {}
    for p in analysis.packages:
        key = ids[p.path + p.language]
        paths = p.paths if monorepo else ()
        install = MINUTES_INSTALL[p.language]
        previous: tuple[str, ...] = ()
        if p.lint:
            jobs.append(
                Job(
                    id=f"lint-{key}",
                    stage="lint",
                    package=p,
                    command=p.lint,
                    timeout=10,
                    minutes=install + MINUTES_BY_STAGE["lint"][p.language],
                    paths=paths,
                )
            )
            previous = (f"lint-{key}",)
        services = tuple(s.kind for s in p.services)
        if p.test:
            jobs.append(
                Job(
                    id=f"test-{key}",
                    stage="test",
                    needs=previous,
                    package=p,
                    command=p.test,
                    matrix=len(p.versions) > 1,
                    services=() if p.integration else services,
                    timeout=20,
                    minutes=install + MINUTES_BY_STAGE["test"][p.language],
                    paths=paths,
                )
            )
            previous = (f"test-{key}",)
        if p.integration:
            jobs.append(
                Job(
                    id=f"integration-{key}",
                    stage="integration",
                    needs=previous,
                    package=p,
                    command=p.integration,
                    services=services,
                    timeout=30,
                    minutes=install + MINUTES_BY_STAGE["integration"][p.language],
                    paths=paths,
                )
            )
            previous = (f"integration-{key}",)
        gates[p.path + p.language] = list(previous)
    jobs.append(
        Job(id="dependency-audit", stage="security", timeout=10, minutes=MINUTES_FIXED["audit"])
    )
    security = ["dependency-audit"]
    if (
        analysis.terraform_roots
        or analysis.helm_charts
        or analysis.kubernetes_manifests
        or analysis.dockerfiles
    ):
        jobs.append(Job(id="iac-scan", stage="security", timeout=10, minutes=MINUTES_FIXED["iac"]))
        security.append("iac-scan")

    images = _images(analysis)
    if not images:
        notes.append("no Dockerfile: no image is built, scanned or deployed")
    scans = []
    for image in images:
        owner = next(
            (p for p in analysis.packages if image.package is not None and p.path == image.package),
            None,
        )
        gate = (
            gates[owner.path + owner.language]
            if owner is not None and monorepo
            else [g for gs in gates.values() for g in gs]
        )
        build_id = f"build-{image.name}"
        jobs.append(
            Job(
                id=build_id,
                stage="build",
                needs=tuple(dict.fromkeys([*gate, *security])),
                image=image,
                timeout=30,
                minutes=MINUTES_FIXED["build"],
                paths=owner.paths if owner is not None and monorepo else (),
            )
        )
        jobs.append(
            Job(
                id=f"scan-{image.name}",
                stage="scan",
                needs=(build_id,),
                image=image,
                timeout=15,
                minutes=MINUTES_FIXED["scan"],
            )
        )
        scans.append(f"scan-{image.name}")
    if images:
        previous_env: tuple[str, ...] = tuple(
            dict.fromkeys([*(f"build-{i.name}" for i in images), *scans])
        )
        for index, env in enumerate(options.environments):
            last = index == len(options.environments) - 1
            jobs.append(
                Job(
                    id=f"deploy-{env}",
                    stage="deploy",
                    needs=previous_env,
                    environment=env,
                    manual=last and len(options.environments) > 1,
                    timeout=30,
                    minutes=MINUTES_FIXED["deploy"],
                )
            )
            previous_env = (f"deploy-{env}",)
    plan = PipelinePlan(
        analysis=analysis, options=options, jobs=tuple(jobs), images=tuple(images), notes=()
    )
    minutes, path = plan.critical_path()
    if minutes > LIMIT_MINUTES:
        notes.append(
            f"estimated {minutes} min from push to a scanned image ({' → '.join(path)}), over "
            f"{LIMIT_MINUTES} min: split slow test suites, cache more, or run fewer versions "
            "on pull requests"
        )
    else:
        notes.append(f"estimated {minutes} min from push to a scanned image ({' → '.join(path)})")
    return PipelinePlan(
        analysis=analysis,
        options=options,
        jobs=tuple(jobs),
        images=tuple(images),
        notes=tuple(notes),
    )


def _images(analysis: Analysis) -> list[Image]:
    images = []
    used: set[str] = set()
    for dockerfile in analysis.dockerfiles:
        context = str(PurePosixPath(dockerfile).parent)
        context = "" if context == "." else context
        owner = max(
            (p for p in analysis.packages if not p.path or context.startswith(p.path)),
            key=lambda p: len(p.path),
            default=None,
        )
        # One package: the image is named after it (and its Deployment usually is too); in a
        # monorepo, after the directory holding the Dockerfile.
        single = len(analysis.packages) == 1 and owner is not None and context == owner.path
        name = slug(
            owner.name.rsplit("/", 1)[-1]
            if single and owner is not None
            else PurePosixPath(context).name or analysis.name
        )
        if name in used:
            name = slug(context or dockerfile)
        used.add(name)
        images.append(
            Image(
                name=name,
                dockerfile=dockerfile,
                context=context or ".",
                package=owner.path if owner is not None else None,
            )
        )
    return images


def render_pipeline(plan: PipelinePlan) -> dict[Path, str]:
    """The pipeline file for the plan's platform."""
    platform = plan.options.platform
    if platform not in PLATFORMS:
        raise ConfigError("platform", f"{platform!r} is not one of {', '.join(PLATFORMS)}")
    renderer = {
        "github-actions": _github,
        "gitlab-ci": _gitlab,
        "jenkins": _jenkins,
        "circleci": _circleci,
    }[platform]
    return {Path(OUTPUT_PATH[platform]): renderer(plan)}


# ---------------------------------------------------------------------------------------
# Shared pieces


def _cache(p: Package) -> tuple[list[str], list[str]]:
    """(paths to cache, files whose hash is the cache key) for a package's dependencies."""
    base = p.install_path
    lock = [p.lockfile] if p.lockfile else []
    home = {
        "npm": ["~/.npm"],
        "yarn-classic": ["~/.cache/yarn"],
        "yarn-berry": ["~/.yarn/berry/cache"],
        "pnpm": ["~/.local/share/pnpm/store"],
        "bun": ["~/.bun/install/cache"],
        "pip": ["~/.cache/pip"],
        "poetry": ["~/.cache/pypoetry"],
        "uv": ["~/.cache/uv"],
        "pipenv": ["~/.cache/pipenv", "~/.cache/pip"],
        "tox": ["~/.cache/pip"],
        "go": ["~/go/pkg/mod", "~/.cache/go-build"],
        "maven": ["~/.m2/repository"],
        "gradle": ["~/.gradle/caches", "~/.gradle/wrapper"],
        "cargo": ["~/.cargo/registry", "~/.cargo/git"],
    }[p.package_manager]
    prefix = f"{base}/" if base else ""
    if p.package_manager == "pip":
        lock = [f"{prefix}requirements*.txt"] + ([f"{prefix}requirements/*.txt"] if lock else [])
    elif p.package_manager == "tox":
        lock = [f"{prefix}tox.ini", *(lock or [])]
    elif p.package_manager == "maven":
        lock = (
            [f"{prefix}**/pom.xml"]
            if not p.members
            else [f"{prefix}pom.xml"] + [f"{m}/pom.xml" for m in p.members]
        )
    elif p.package_manager == "gradle":
        lock = [f"{prefix}**/*.gradle*", f"{prefix}**/gradle-wrapper.properties"]
    elif p.package_manager == "cargo":
        home = [*home, f"{prefix}target"]
    elif p.package_manager == "go" and not lock:
        lock = [f"{prefix}go.mod"]
    if not lock:
        lock = [f"{prefix}package.json"] if p.language == "node" else [f"{prefix}pyproject.toml"]
    return home, lock


def _tool_install(p: Package, tools: str | None = None) -> list[str]:
    """Commands that put the package manager itself in place, at a fixed version.

    ``tools``: a writable directory for them when the job does not run as root (Jenkins runs
    its docker agents as the agent's user): a virtualenv there for Python, corepack's shims.
    """
    manager = p.package_manager
    if tools and p.language == "python":
        return [
            f'python -m venv "{tools}" && . "{tools}/bin/activate"',
            *_tool_install(p),
        ]
    if manager in {"pnpm", "yarn-berry", "yarn-classic"}:
        if tools:
            return [
                f'corepack enable --install-directory "{tools}/bin"',
                f'export PATH="{tools}/bin:$PATH"',
            ]
        return ["corepack enable"]
    if manager == "uv":
        return [f"python -m pip install uv=={UV_VERSION}"]
    if manager == "poetry":
        return [f"python -m pip install poetry=={POETRY_VERSION}"]
    if manager == "pipenv":
        return [f"python -m pip install pipenv=={PIPENV_VERSION}"]
    return []


def _rel(path: str, base: str) -> str:
    if path == base:
        return "."
    return path[len(base) + 1 :] if base else path


def _in(directory: str, command: str) -> str:
    return command if directory in {"", "."} else f"cd {directory} && {command}"


def _filter_regex(paths: Sequence[str]) -> str:
    parts = []
    for p in paths:
        if p == "**":
            return "^"
        parts.append("^" + re.escape(p[:-3]) + "/" if p.endswith("/**") else f"^{re.escape(p)}$")
    return "|".join(parts)


def _image_ref(image: Image, registry: str) -> str:
    return f"{registry}/{image.name}"


def _service_env(
    services: Sequence[ServiceKind], host: str | dict[ServiceKind, str]
) -> dict[str, str]:
    env = {}
    for kind in services:
        name, url = SERVICE_URL[kind]
        env[name] = url.format(host=host if isinstance(host, str) else host[kind])
    return env


def _deploy_commands(plan: PipelinePlan, env: str, refs: dict[str, str]) -> list[str]:
    """kubectl set image by digest for each image, then wait for the rollout."""
    namespace = plan.options.namespace or env
    commands = []
    for image in plan.images:
        deployment = image.name
        commands.append(
            f"kubectl --namespace {namespace} set image deployment/{deployment} "
            f"{deployment}={refs[image.name]}"
        )
        commands.append(
            f"kubectl --namespace {namespace} rollout status deployment/{deployment} --timeout=10m"
        )
    return commands


def _shipflow_handoff(plan: PipelinePlan, repo: str, sha: str, ref: str) -> str | None:
    name = plan.options.shipflow_deployment
    if not name:
        return None
    return (
        f'prefect deployment run "{name}" --param repo="{repo}" --param sha="{sha}" '
        f'--param ref="{ref}"'
    )


class _Dumper(yaml.SafeDumper):
    """Block style everywhere, literal blocks for multi-line scripts, no aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)


def _dump(data: dict[str, Any], header: str) -> str:
    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=1000, allow_unicode=True)
    return header + body


def _header(plan: PipelinePlan, comment: str = "#") -> str:
    a = plan.analysis
    lines = [
        f"Generated by shipflow pipeline from the analysis of {a.name}:",
        *(
            f"  {p.path or '.'}: {p.language} {', '.join(p.versions)} ({p.version_source}), "
            f"{p.package_manager}{f' ({p.lockfile})' if p.lockfile else ''}"
            for p in a.packages
        ),
    ]
    if a.services:
        lines.append(f"  test services: {', '.join(s.kind for s in a.services)}")
    return "".join(f"{comment} {line}".rstrip() + "\n" for line in lines)


# ---------------------------------------------------------------------------------------
# GitHub Actions


def _trivy(scan: str, target: str) -> str:
    """The Trivy command line of one of :data:`TRIVY_SCANS` over ``target``."""
    kind, flags = TRIVY_SCANS[scan]
    words = [f"--{k}" if v is True else f"--{k} {v}" for k, v in flags.items()]
    return " ".join(["trivy", kind, *words, target])


def _gh_trivy(scan: str, **first: str) -> dict[str, Any]:
    """The Trivy action's step inputs for one of :data:`TRIVY_SCANS` (``first`` leads)."""
    kind, flags = TRIVY_SCANS[scan]
    head = first or {"scan-type": kind}
    return _uses("trivy", **head, **flags, version=f"v{TRIVY_VERSION}")


def _uses(name: str, **with_: Any) -> dict[str, Any]:
    step: dict[str, Any] = {"uses": ACTIONS[name]}
    if with_:
        step["with"] = with_
    return step


def _gh_setup(p: Package, version: str) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    if p.language == "node":
        steps.append({"name": "Set up node", **_uses("setup-node", **{"node-version": version})})
        if p.package_manager == "bun":
            bun = _declared_tool_version(p, "bun") or BUN_VERSION
            steps.append({"name": "Set up bun", **_uses("setup-bun", **{"bun-version": bun})})
    elif p.language == "python":
        steps.append(
            {"name": "Set up python", **_uses("setup-python", **{"python-version": version})}
        )
    elif p.language == "go":
        steps.append(
            {"name": "Set up go", **_uses("setup-go", **{"go-version": version, "cache": False})}
        )
    elif p.language == "java":
        steps.append(
            {
                "name": "Set up java",
                **_uses("setup-java", distribution="temurin", **{"java-version": version}),
            }
        )
    elif p.language == "rust":
        steps.append(
            {
                "name": "Set up rust",
                "run": f"rustup toolchain install {version} --profile minimal "
                "--component clippy,rustfmt\n"
                f"rustup default {version}",
            }
        )
    return steps


def _declared_tool_version(p: Package, tool: str) -> str | None:
    note = " ".join(p.notes)
    match = re.search(rf"{tool}@(\d+\.\d+\.\d+)", note)
    return match.group(1) if match else None


def _gh_package_steps(p: Package, version: str, command: str, job_id: str) -> list[dict[str, Any]]:
    home, keys = _cache(p)
    hashed = ", ".join(f"'{k}'" for k in keys)
    steps: list[dict[str, Any]] = [
        {"name": "Check out", **_uses("checkout", **{"persist-credentials": False})},
        *_gh_setup(p, version),
        {
            "name": "Cache dependencies",
            **_uses(
                "cache",
                path="\n".join(home),
                key=f"{_expr('runner.os')}-{p.package_manager}-{version}-"
                f"{_expr(f'hashFiles({hashed})')}",
            ),
        },
    ]
    setup = _tool_install(p)
    install_dir = p.install_path or "."
    install: dict[str, Any] = {
        "name": "Install dependencies",
        "run": "\n".join([*setup, p.install]),
    }
    if install_dir != ".":
        install["working-directory"] = install_dir
    steps.append(install)
    run: dict[str, Any] = {"name": job_id.split("-", 1)[0].capitalize(), "run": command}
    if p.path:
        run["working-directory"] = p.path
    steps.append(run)
    return steps


def _gh_if(job: Job, monorepo: bool, main_only: bool = False) -> str | None:
    conditions = []
    if main_only:
        conditions.append("github.event_name == 'push'")
    if job.paths and monorepo:
        conditions.append(f"needs.changes.outputs.{_output(job.paths)} == 'true'")
    if not conditions:
        return None
    if main_only:
        # A build waits for every gate but runs when a skipped (unchanged) package skipped them.
        conditions.insert(0, "!failure() && !cancelled()")
    return " && ".join(conditions)


def _output(paths: Sequence[str]) -> str:
    return slug(paths[0].removesuffix("/**") or "root", sep="_")


def _github(plan: PipelinePlan) -> str:
    a = plan.analysis
    o = plan.options
    monorepo = len(a.packages) > 1
    jobs: dict[str, Any] = {}
    filters = {}
    for job in plan.jobs:
        if job.paths and monorepo:
            filters[_output(job.paths)] = _filter_regex(job.paths)
    if filters:
        script = [
            "set -euo pipefail",
            'if [ "$EVENT" = pull_request ]; then base="$PR_BASE"; else base="$BEFORE"; fi',
            'if [ -z "$base" ] || ! git cat-file -e "$base^{commit}" 2>/dev/null; then',
            "  git ls-files > changed.txt  # first push or unknown base: everything changed",
            "else",
            '  git diff --name-only "$base" HEAD > changed.txt',
            "fi",
        ]
        script.append("{")
        for name, regex in sorted(filters.items()):
            script.append(
                f"  if grep -qE '{regex}' changed.txt; then echo '{name}=true'; "
                f"else echo '{name}=false'; fi"
            )
        script.append('} >> "$GITHUB_OUTPUT"')
        jobs["changes"] = {
            "name": "Changed packages",
            "runs-on": "ubuntu-24.04",
            "timeout-minutes": 5,
            "permissions": {"contents": "read"},
            "outputs": {n: f"${{{{ steps.filter.outputs.{n} }}}}" for n in sorted(filters)},
            "steps": [
                {
                    "name": "Check out",
                    **_uses("checkout", **{"persist-credentials": False, "fetch-depth": 0}),
                },
                {
                    "name": "List changed files",
                    "id": "filter",
                    "env": {
                        "EVENT": "${{ github.event_name }}",
                        "PR_BASE": "${{ github.event.pull_request.base.sha }}",
                        "BEFORE": "${{ github.event.before }}",
                    },
                    "run": "\n".join(script),
                },
            ],
        }
    registry = o.registry or "ghcr.io/${{ github.repository_owner }}"
    for job in plan.jobs:
        needs = list(job.needs)
        if job.paths and monorepo:
            needs = ["changes", *needs]
        spec: dict[str, Any] = {"name": _title(job), "runs-on": "ubuntu-24.04"}
        if needs:
            spec["needs"] = needs
        condition = _gh_if(job, monorepo, main_only=job.stage in {"build", "scan", "deploy"})
        if job.stage in {"scan", "deploy"}:
            condition = "github.event_name == 'push'"
        if condition:
            spec["if"] = condition
        spec["timeout-minutes"] = job.timeout
        spec["permissions"] = {"contents": "read"}
        p = job.package
        if p is not None and job.command:
            version = "${{ matrix.version }}" if job.matrix else p.version
            if job.matrix:
                spec["strategy"] = {"fail-fast": True, "matrix": {"version": list(p.versions)}}
            if job.services:
                spec["services"] = {kind: _gh_service(kind) for kind in job.services}
                spec["env"] = _service_env(job.services, "localhost")
            spec["steps"] = _gh_package_steps(p, version, job.command, job.id)
        elif job.stage == "security":
            step_name = {
                "dependency-audit": "Audit dependencies (every lockfile)",
                "iac-scan": "Scan Terraform, Kubernetes, Helm and Dockerfiles",
            }[job.id]
            spec["steps"] = [
                {"name": "Check out", **_uses("checkout", **{"persist-credentials": False})},
                {"name": step_name, **_gh_trivy(job.id)},
            ]
        elif job.stage == "build" and job.image is not None:
            image = job.image
            spec["permissions"] = {"contents": "read", "packages": "write"}
            spec["outputs"] = {
                "digest": "${{ steps.build.outputs.digest }}",
                "image": "${{ steps.name.outputs.image }}",
            }
            spec["steps"] = [
                {"name": "Check out", **_uses("checkout", **{"persist-credentials": False})},
                {
                    "name": "Name the image (registries want lower case)",
                    "id": "name",
                    "env": {"IMAGE": _image_ref(image, registry)},
                    "run": 'echo "image=${IMAGE,,}" >> "$GITHUB_OUTPUT"',
                },
                {
                    "name": "Log in to the registry",
                    **_uses(
                        "login",
                        registry=registry.split("/", 1)[0],
                        username="${{ github.actor }}",
                        password=_expr("secrets.GITHUB_TOKEN"),
                    ),
                },
                {
                    "name": "Build once, push once (tagged with the commit sha)",
                    "id": "build",
                    **_uses(
                        "build-push",
                        context=image.context,
                        file=image.dockerfile,
                        push=True,
                        tags="${{ steps.name.outputs.image }}:${{ github.sha }}",
                    ),
                },
            ]
        elif job.stage == "scan" and job.image is not None:
            spec["permissions"] = {"contents": "read", "packages": "read"}
            spec["steps"] = [
                {
                    "name": "Scan the pushed image by digest",
                    **_gh_trivy("image", **{"image-ref": _gh_ref(job.image)}),
                    "env": {
                        "TRIVY_USERNAME": "${{ github.actor }}",
                        "TRIVY_PASSWORD": "${{ secrets.GITHUB_TOKEN }}",
                    },
                }
            ]
        elif job.stage == "deploy" and job.environment is not None:
            env = job.environment
            spec["environment"] = {"name": env}
            spec["concurrency"] = {"group": f"deploy-{env}", "cancel-in-progress": False}
            refs = {i.name: _gh_ref(i) for i in plan.images}
            if job.needs and job.needs[0].startswith("deploy-"):
                spec["needs"] = [*job.needs, *(f"build-{i.name}" for i in plan.images)]
            steps: list[dict[str, Any]] = []
            handoff = _shipflow_handoff(
                plan, "${{ github.repository }}", "${{ github.sha }}", "${{ github.ref }}"
            )
            if handoff and job.manual:
                steps.append(
                    {
                        "name": "Hand the release to shipflow (Prefect deployment)",
                        "env": {
                            "PREFECT_API_URL": "${{ secrets.PREFECT_API_URL }}",
                            "PREFECT_API_KEY": "${{ secrets.PREFECT_API_KEY }}",
                        },
                        "run": f"python -m pip install prefect=={PREFECT_VERSION}\n{handoff}",
                    }
                )
            else:
                steps.append(
                    {
                        "name": f"Deploy to {env} by digest",
                        "env": {"KUBECONFIG_DATA": "${{ secrets.KUBECONFIG }}"},
                        "run": "\n".join(
                            [
                                "set -euo pipefail",
                                'export KUBECONFIG="$RUNNER_TEMP/kubeconfig"',
                                'printf \'%s\' "$KUBECONFIG_DATA" > "$KUBECONFIG"',
                                *_deploy_commands(plan, env, _gh_refs(plan)),
                            ]
                        ),
                        "env_refs": refs,
                    }
                )
            spec["steps"] = steps
        jobs[job.id] = spec
    # Image references come through env (never interpolated into scripts).
    for spec in jobs.values():
        for step in spec.get("steps", []):
            refs = step.pop("env_refs", None)
            if refs:
                step["env"].update(
                    {f"IMAGE_{slug(k, sep='_').upper()}": v for k, v in refs.items()}
                )
    workflow: dict[str, Any] = {
        "name": "shipflow",
        "on": {
            "push": {"branches": [o.branch]},
            "pull_request": {"branches": [o.branch]},
        },
        "permissions": {},
        "concurrency": {
            "group": "${{ github.workflow }}-${{ github.event.pull_request.number || github.ref }}",
            "cancel-in-progress": "${{ github.event_name == 'pull_request' }}",
        },
        "jobs": jobs,
    }
    return _dump(workflow, _header(plan))


def _expr(text: str) -> str:
    """A GitHub Actions expression: ``${{ text }}``."""
    return "${{ " + text + " }}"


def _gh_ref(image: Image) -> str:
    """``repo@sha256:…`` of an image built by this workflow, from its build job's outputs."""
    build = f"needs.build-{image.name}.outputs"
    return f"{_expr(build + '.image')}@{_expr(build + '.digest')}"


def _gh_refs(plan: PipelinePlan) -> dict[str, str]:
    return {i.name: f'"$IMAGE_{slug(i.name, sep="_").upper()}"' for i in plan.images}


def _gh_service(kind: ServiceKind) -> dict[str, Any]:
    service: dict[str, Any] = {
        "image": SERVICE_IMAGES[kind],
        "ports": [f"{SERVICE_PORTS[kind]}:{SERVICE_PORTS[kind]}"],
    }
    if SERVICE_ENV[kind]:
        service["env"] = dict(SERVICE_ENV[kind])
    service["options"] = (
        f'--health-cmd "{SERVICE_HEALTH[kind]}" --health-interval 5s --health-timeout 5s '
        "--health-retries 10"
    )
    return service


def _title(job: Job) -> str:
    if job.package is not None:
        what = job.package.path or job.package.name
        label = {"lint": "Lint", "test": "Test", "integration": "Integration tests"}[job.stage]
        suffix = " (${{ matrix.version }})" if job.matrix else ""
        return f"{label} {what}{suffix}"
    if job.image is not None:
        return f"{'Build' if job.stage == 'build' else 'Scan'} image {job.image.name}"
    if job.environment is not None:
        return f"Deploy to {job.environment}"
    return {"dependency-audit": "Dependency audit", "iac-scan": "IaC scan"}[job.id]


# ---------------------------------------------------------------------------------------
# GitLab CI


_GL_IMAGES = {
    "node": "node:{v}",
    "python": "python:{v}",
    "go": "golang:{v}",
    "java": "eclipse-temurin:{v}-jdk",
    "rust": "rust:{v}",
}
_LOCAL_CACHE = {
    "npm": [".npm"],
    "yarn-classic": [".yarn-cache"],
    "yarn-berry": [".yarn/cache"],
    "pnpm": [".pnpm-store"],
    "bun": [".bun-cache"],
    "pip": [".pip-cache"],
    "poetry": [".poetry-cache"],
    "uv": [".uv-cache"],
    "pipenv": [".pip-cache"],
    "tox": [".pip-cache"],
    "go": [".go/pkg/mod", ".go/cache"],
    "maven": [".m2/repository"],
    "gradle": [".gradle/caches", ".gradle/wrapper"],
    "cargo": [".cargo/registry", ".cargo/git", "target"],
}
_CACHE_ENV = {
    "npm": {"npm_config_cache": "$CI_PROJECT_DIR/.npm"},
    "yarn-classic": {"YARN_CACHE_FOLDER": "$CI_PROJECT_DIR/.yarn-cache"},
    "yarn-berry": {"YARN_ENABLE_GLOBAL_CACHE": "false"},
    "pnpm": {"npm_config_store_dir": "$CI_PROJECT_DIR/.pnpm-store"},
    "bun": {"BUN_INSTALL_CACHE_DIR": "$CI_PROJECT_DIR/.bun-cache"},
    "pip": {"PIP_CACHE_DIR": "$CI_PROJECT_DIR/.pip-cache"},
    "poetry": {"POETRY_CACHE_DIR": "$CI_PROJECT_DIR/.poetry-cache"},
    "uv": {"UV_CACHE_DIR": "$CI_PROJECT_DIR/.uv-cache"},
    "pipenv": {"PIP_CACHE_DIR": "$CI_PROJECT_DIR/.pip-cache"},
    "tox": {"PIP_CACHE_DIR": "$CI_PROJECT_DIR/.pip-cache"},
    "go": {
        "GOMODCACHE": "$CI_PROJECT_DIR/.go/pkg/mod",
        "GOCACHE": "$CI_PROJECT_DIR/.go/cache",
    },
    "maven": {"MAVEN_OPTS": "-Dmaven.repo.local=$CI_PROJECT_DIR/.m2/repository"},
    "gradle": {"GRADLE_USER_HOME": "$CI_PROJECT_DIR/.gradle"},
    "cargo": {"CARGO_HOME": "$CI_PROJECT_DIR/.cargo"},
}


def _image_for(p: Package, version: str) -> str:
    if p.package_manager == "bun":
        return f"oven/bun:{_declared_tool_version(p, 'bun') or BUN_VERSION}"
    if p.language == "java" and p.package_manager == "maven" and not p.install.startswith("./"):
        return f"maven:3.9-eclipse-temurin-{version}"
    if p.language == "java" and p.package_manager == "gradle" and not p.install.startswith("./"):
        return f"gradle:8-jdk{version}"
    return _GL_IMAGES[p.language].format(v=version)


def _commands(p: Package, command: str | None, root: str) -> list[str]:
    """Shell lines (one shell, so ``cd`` persists): set up the tool, install, run ``command``.

    ``root`` is the checkout (``$CI_PROJECT_DIR``, ``$WORKSPACE``); directories are absolute
    from it, so the order of the ``cd``s never matters.
    """
    lines = [*_tool_install(p, f"{root}/.tools" if root == "$WORKSPACE" else None)]
    if p.language == "rust" and root != "$WORKSPACE":
        lines.append("rustup component add clippy rustfmt")
    if p.install_path:
        lines.append(f'cd "{root}/{p.install_path}"')
    lines.append(p.install)
    if command is not None:
        if p.path != p.install_path:
            lines.append(f'cd "{root}/{p.path}"' if p.path else f'cd "{root}"')
        lines.append(command)
    return lines


def _gitlab(plan: PipelinePlan) -> str:
    a = plan.analysis
    o = plan.options
    monorepo = len(a.packages) > 1
    doc: dict[str, Any] = {
        "workflow": {
            "rules": [
                {"if": "$CI_PIPELINE_SOURCE == 'merge_request_event'"},
                {"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"},
            ],
            "auto_cancel": {"on_new_commit": "interruptible"},
        },
        "stages": ["lint", "test", "integration", "security", "build", "scan", "deploy"],
        "default": {"interruptible": True, "timeout": "15 minutes"},
        "variables": {"IMAGE_PREFIX": o.registry or "$CI_REGISTRY_IMAGE"},
    }
    main_only = {"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"}
    for job in plan.jobs:
        spec: dict[str, Any] = {"stage": "security" if job.stage == "security" else job.stage}
        p = job.package
        if job.needs:
            spec["needs"] = [{"job": n, "optional": True} if monorepo else n for n in job.needs]
        else:
            spec["needs"] = []
        spec["timeout"] = f"{job.timeout} minutes"
        if p is not None and job.command:
            version = "$VERSION" if job.matrix else p.version
            spec["image"] = _image_for(p, version)
            if job.matrix:
                spec["parallel"] = {"matrix": [{"VERSION": list(p.versions)}]}
            _, keys = _cache(p)
            spec["variables"] = dict(_CACHE_ENV[p.package_manager])
            spec["cache"] = {
                "key": {"files": keys[:2], "prefix": f"{p.package_manager}-{version}"},
                "paths": _LOCAL_CACHE[p.package_manager],
            }
            if "*" in "".join(keys[:2]):
                spec["cache"]["key"] = f"{p.package_manager}-{version}-$CI_COMMIT_REF_SLUG"
            if job.services:
                spec["services"] = [{"name": SERVICE_IMAGES[k], "alias": k} for k in job.services]
                for k in job.services:
                    spec["variables"].update(SERVICE_ENV[k])
                spec["variables"].update(_service_env(job.services, {k: k for k in job.services}))
            spec["script"] = _commands(p, job.command, "$CI_PROJECT_DIR")
            if job.paths and monorepo:
                spec["rules"] = [{"changes": [_gl_glob(x) for x in job.paths]}]
        elif job.stage == "security":
            spec["image"] = {"name": TRIVY_IMAGE, "entrypoint": [""]}
            spec["script"] = [_trivy(job.id, ".")]
        elif job.stage == "build" and job.image is not None:
            image = job.image
            spec["image"] = "docker:27.3.1"
            spec["services"] = [{"name": "docker:27.3.1-dind", "alias": "docker"}]
            spec["variables"] = {"DOCKER_TLS_CERTDIR": "/certs"}
            spec["rules"] = [
                {
                    **main_only,
                    **(
                        {"changes": [_gl_glob(x) for x in job.paths]}
                        if job.paths and monorepo
                        else {}
                    ),
                }
            ]
            ref = f"$IMAGE_PREFIX/{image.name}"
            spec["script"] = [
                'echo "$CI_REGISTRY_PASSWORD" | docker login --username "$CI_REGISTRY_USER" '
                '--password-stdin "$CI_REGISTRY"',
                *_docker_build(image, ref, "$CI_COMMIT_SHA", "digest"),
                f'echo "DIGEST_{slug(image.name, sep="_").upper()}=${{digest#*@}}" >> build.env',
            ]
            spec["artifacts"] = {"reports": {"dotenv": "build.env"}}
            spec["interruptible"] = False
        elif job.stage == "scan" and job.image is not None:
            image = job.image
            var = f"DIGEST_{slug(image.name, sep='_').upper()}"
            spec["image"] = {"name": TRIVY_IMAGE, "entrypoint": [""]}
            spec["rules"] = [main_only]
            spec["variables"] = {
                "TRIVY_USERNAME": "$CI_REGISTRY_USER",
                "TRIVY_PASSWORD": "$CI_REGISTRY_PASSWORD",
            }
            spec["needs"] = [{"job": f"build-{image.name}", "artifacts": True}]
            spec["script"] = [_trivy("image", f'"$IMAGE_PREFIX/{image.name}@${var}"')]
        elif job.stage == "deploy" and job.environment is not None:
            env = job.environment
            spec["image"] = {"name": KUBECTL_IMAGE, "entrypoint": [""]}
            spec["environment"] = {"name": env}
            spec["resource_group"] = env
            spec["interruptible"] = False
            spec["needs"] = [
                *({"job": n} for n in job.needs),
                *(
                    {"job": f"build-{i.name}", "artifacts": True}
                    for i in plan.images
                    if f"build-{i.name}" not in job.needs
                ),
            ]
            rule: dict[str, Any] = dict(main_only)
            if job.manual:
                rule["when"] = "manual"
            spec["rules"] = [rule]
            if job.manual:
                spec["allow_failure"] = False
            refs = {
                i.name: f'"$IMAGE_PREFIX/{i.name}@$DIGEST_{slug(i.name, sep="_").upper()}"'
                for i in plan.images
            }
            handoff = _shipflow_handoff(
                plan, "$CI_PROJECT_PATH", "$CI_COMMIT_SHA", "refs/heads/$CI_COMMIT_BRANCH"
            )
            if handoff and job.manual:
                spec["image"] = "python:3.12"
                spec["script"] = [f"python -m pip install prefect=={PREFECT_VERSION}", handoff]
            else:
                spec["script"] = _deploy_commands(plan, env, refs)
        doc[job.id] = spec
    return _dump(doc, _header(plan))


LOGIN = (
    'echo "$REGISTRY_PASSWORD" | docker login --username "$REGISTRY_USER" '
    '--password-stdin "${IMAGE_PREFIX%%/*}"'
)


def _docker_build(image: Image, ref: str, sha: str, into: str | None = None) -> list[str]:
    """Build once, tag with the commit sha, push once, read the pushed digest back."""
    inspect = f"docker inspect --format '{{{{index .RepoDigests 0}}}}' \"{ref}:{sha}\""
    return [
        f'docker build --file {image.dockerfile} --tag "{ref}:{sha}" {image.context}',
        f'docker push "{ref}:{sha}"',
        f"{into}=$({inspect})" if into else inspect,
    ]


def _gl_glob(path: str) -> str:
    return "**/*" if path == "**" else (path[:-3] + "/**/*" if path.endswith("/**") else path)


# ---------------------------------------------------------------------------------------
# CircleCI


def _circleci(plan: PipelinePlan) -> str:
    a = plan.analysis
    o = plan.options
    monorepo = len(a.packages) > 1
    jobs: dict[str, Any] = {}
    workflow_jobs: list[Any] = []
    main = {"branches": {"only": [o.branch]}}
    for job in plan.jobs:
        p = job.package
        spec: dict[str, Any] = {}
        wf: dict[str, Any] = {}
        if job.needs:
            wf["requires"] = list(job.needs)
        if p is not None and job.command:
            version = "<< parameters.version >>"
            spec["parameters"] = {"version": {"type": "string", "default": p.version}}
            spec["docker"] = [{"image": _image_for(p, version)}]
            for kind in job.services:
                service: dict[str, Any] = {"image": SERVICE_IMAGES[kind]}
                if SERVICE_ENV[kind]:
                    service["environment"] = dict(SERVICE_ENV[kind])
                spec["docker"].append(service)
            if job.services:
                spec["environment"] = _service_env(job.services, "localhost")
            home, keys = _cache(p)
            checksum = (
                "-".join(f'{{{{ checksum "{k}" }}}}' for k in keys if "*" not in k)
                or "{{ .Branch }}"
            )
            cache_key = f"v1-{p.package_manager}-{version}-{checksum}"
            steps: list[Any] = ["checkout"]
            if job.paths and monorepo:
                regex = _filter_regex(job.paths)
                steps.append(
                    {
                        "run": {
                            "name": "Skip when this package did not change",
                            "command": "\n".join(
                                [
                                    'base=$(git merge-base HEAD "origin/'
                                    + o.branch
                                    + '" 2>/dev/null || true)',
                                    'if [ -n "$base" ] \\',
                                    '   && [ "$base" != "$(git rev-parse HEAD)" ] \\',
                                    '   && ! git diff --name-only "$base" HEAD \\',
                                    f"   | grep -qE '{regex}'; then",
                                    "  circleci-agent step halt",
                                    "fi",
                                ]
                            ),
                        }
                    }
                )
            steps.append({"restore_cache": {"keys": [cache_key]}})
            steps.append(
                {
                    "run": {
                        "name": "Install dependencies",
                        "command": "\n".join(_commands(p, None, ".")),
                        "no_output_timeout": f"{job.timeout}m",
                    }
                }
            )
            steps.append({"save_cache": {"key": cache_key, "paths": home}})
            steps.append(
                {
                    "run": {
                        "name": _title(job).replace(" (${{ matrix.version }})", ""),
                        "command": _in(p.path or ".", job.command),
                        "no_output_timeout": f"{job.timeout}m",
                    }
                }
            )
            spec["steps"] = steps
            if job.matrix:
                wf["matrix"] = {"parameters": {"version": list(p.versions)}}
                wf["name"] = f"{job.id}-<< matrix.version >>"
        elif job.stage == "security":
            spec["docker"] = [{"image": TRIVY_IMAGE}]
            command = _trivy(job.id, ".")
            spec["steps"] = [
                "checkout",
                {
                    "run": {
                        "name": _title(job),
                        "command": command,
                        "no_output_timeout": f"{job.timeout}m",
                    }
                },
            ]
        elif job.stage == "build" and job.image is not None:
            image = job.image
            ref = f"${{IMAGE_PREFIX}}/{image.name}"
            spec["docker"] = [{"image": "cimg/base:2024.11"}]
            spec["steps"] = [
                "checkout",
                {"setup_remote_docker": {"docker_layer_caching": False}},
                {
                    "run": {
                        "name": "Build once, push once (tagged with the commit sha)",
                        "no_output_timeout": f"{job.timeout}m",
                        "command": "\n".join(
                            [
                                "set -euo pipefail",
                                LOGIN,
                                *_docker_build(image, ref, "$CIRCLE_SHA1", "digest"),
                                f'echo "$digest" > digest-{image.name}.txt',
                            ]
                        ),
                    }
                },
                {"persist_to_workspace": {"root": ".", "paths": [f"digest-{image.name}.txt"]}},
            ]
            wf["filters"] = main
            wf["context"] = ["registry"]
        elif job.stage == "scan" and job.image is not None:
            image = job.image
            spec["docker"] = [{"image": TRIVY_IMAGE}]
            spec["steps"] = [
                {"attach_workspace": {"at": "."}},
                {
                    "run": {
                        "name": "Scan the pushed image by digest",
                        "no_output_timeout": f"{job.timeout}m",
                        "command": (
                            'TRIVY_USERNAME="$REGISTRY_USER" TRIVY_PASSWORD="$REGISTRY_PASSWORD" '
                            + _trivy("image", f'"$(cat digest-{image.name}.txt)"')
                        ),
                    }
                },
            ]
            wf["filters"] = main
            wf["context"] = ["registry"]
        elif job.stage == "deploy" and job.environment is not None:
            env = job.environment
            refs = {i.name: f'"$(cat digest-{i.name}.txt)"' for i in plan.images}
            handoff = _shipflow_handoff(
                plan,
                "$CIRCLE_PROJECT_USERNAME/$CIRCLE_PROJECT_REPONAME",
                "$CIRCLE_SHA1",
                f"refs/heads/{o.branch}",
            )
            if handoff and job.manual:
                spec["docker"] = [{"image": "cimg/python:3.12"}]
                command = "\n".join([f"python -m pip install prefect=={PREFECT_VERSION}", handoff])
            else:
                spec["docker"] = [{"image": KUBECTL_IMAGE}]
                command = "\n".join(
                    [
                        'printf "%s" "$KUBECONFIG_DATA" > /tmp/kubeconfig',
                        "export KUBECONFIG=/tmp/kubeconfig",
                        *_deploy_commands(plan, env, refs),
                    ]
                )
            spec["steps"] = [
                {"attach_workspace": {"at": "."}},
                {
                    "run": {
                        "name": f"Deploy to {env} by digest",
                        "command": command,
                        "no_output_timeout": f"{job.timeout}m",
                    }
                },
            ]
            wf["filters"] = main
            wf["context"] = [env]
            if job.manual:
                approval = f"approve-{env}"
                workflow_jobs.append(
                    {approval: {"type": "approval", "requires": list(job.needs), "filters": main}}
                )
                wf["requires"] = [approval]
            # Deploys to one environment run one at a time, across pipelines.
            wf["serial-group"] = f"<< pipeline.project.slug >>/deploy-{env}"
        spec["resource_class"] = "medium"
        jobs[job.id] = spec
        workflow_jobs.append({job.id: wf} if wf else job.id)
    for job_spec in jobs.values():
        for step in job_spec.get("steps", []):
            if isinstance(step, dict) and "run" in step and "no_output_timeout" not in step["run"]:
                step["run"]["no_output_timeout"] = "10m"
    doc: dict[str, Any] = {
        "version": 2.1,
        "jobs": jobs,
        "workflows": {"shipflow": {"jobs": workflow_jobs}},
    }
    return _dump(doc, _header(plan))


# ---------------------------------------------------------------------------------------
# Jenkins (declarative pipeline)


def _jenkins(plan: PipelinePlan) -> str:
    a = plan.analysis
    o = plan.options
    monorepo = len(a.packages) > 1
    g = groovy
    stages: list[g.Node] = []
    by_stage: dict[str, list[Job]] = {}
    for job in plan.jobs:
        by_stage.setdefault(job.stage, []).append(job)

    def package_stage(job: Job) -> g.Block:
        p = job.package
        assert p is not None
        assert job.command is not None
        version_expr = "${VERSION}" if job.matrix else p.version
        image = _image_for(p, version_expr)
        _, keys = _cache(p)
        commands = _commands(p, job.command, "$WORKSPACE")
        steps: list[g.Node] = [g.Step("sh", g.Str("\n".join(commands)))]
        if keys and "*" not in "".join(keys):
            # Job Cacher plugin: the cache is kept while the lockfile's content is unchanged.
            steps = [
                g.Block(
                    "cache",
                    g.Raw(
                        "maxCacheSize: 1024, caches: [arbitraryFileCache("
                        f"path: {g.quote(_LOCAL_CACHE[p.package_manager][0])}, "
                        f"cacheValidityDecidingFile: {g.quote(keys[0])})]"
                    ),
                    steps,
                )
            ]
        env_items = dict(_CACHE_ENV[p.package_manager])
        if job.services:
            env_items.update(_service_env(job.services, {k: k for k in job.services}))
        timeout = g.Block(
            "options", None, [g.Step("timeout", g.Raw(f"time: {job.timeout}, unit: 'MINUTES'"))]
        )
        environment = g.Block(
            "environment",
            None,
            [
                g.Assign(k, g.Str(v.replace("$CI_PROJECT_DIR", "${WORKSPACE}"), interpolate=True))
                for k, v in env_items.items()
            ],
        )
        if job.services:
            # Service containers beside the build container (Docker Pipeline plugin), linked
            # under their own names.
            image_expr = g.gstring(image) if job.matrix else g.quote(image)
            links = " ".join(f"--link ${{{k}.id}}:{k}" for k in job.services)
            node: g.Node = g.Block(f"docker.image({image_expr}).inside", g.Str(links, True), steps)
            for k in reversed(job.services):
                args = " ".join(f"-e {n}={v}" for n, v in SERVICE_ENV[k].items())
                node = g.Block(
                    f"docker.image({g.quote(SERVICE_IMAGES[k])}).withRun",
                    g.Str(args),
                    [node],
                    params=k,
                )
            agent: g.Node = g.Step("agent", g.Raw("any"))
            steps = [g.Block("script", None, [node])]
        else:
            agent = g.Block(
                "agent",
                None,
                [
                    g.Block(
                        "docker",
                        None,
                        [
                            g.Step("image", g.Str(image, interpolate=job.matrix)),
                            g.Step("reuseNode", g.Raw("true")),
                        ],
                    )
                ],
            )
        directives: list[g.Node] = [agent, timeout, environment]
        if job.paths and monorepo:
            directives.append(
                g.Block(
                    "when",
                    None,
                    [
                        g.Step("beforeAgent", g.Raw("true")),
                        g.Block("anyOf", None, [g.Step("changeset", g.Str(x)) for x in job.paths]),
                    ],
                )
            )
        steps_block = g.Block("steps", None, steps)
        if job.matrix:
            return g.Block(
                "stage",
                g.Str(_title(job).replace(" (${{ matrix.version }})", "")),
                [
                    g.Block(
                        "matrix",
                        None,
                        [
                            g.Block(
                                "axes",
                                None,
                                [
                                    g.Block(
                                        "axis",
                                        None,
                                        [
                                            g.Step("name", g.Str("VERSION")),
                                            g.Step(
                                                "values",
                                                g.Raw(", ".join(g.quote(v) for v in p.versions)),
                                            ),
                                        ],
                                    )
                                ],
                            ),
                            g.Block(
                                "stages",
                                None,
                                [
                                    g.Block(
                                        "stage",
                                        g.Str(f"{job.id} ${{VERSION}}", interpolate=True),
                                        [*directives, steps_block],
                                    )
                                ],
                            ),
                        ],
                    )
                ],
            )
        return g.Block("stage", g.Str(_title(job)), [*directives, steps_block])

    def parallel(name: str, children: list[g.Block]) -> g.Node:
        if len(children) == 1:
            return children[0]
        return g.Block("stage", g.Str(name), [g.Block("parallel", None, list[g.Node](children))])

    def trivy_stage(job: Job, command: str) -> g.Block:
        return g.Block(
            "stage",
            g.Str(_title(job)),
            [
                g.Block(
                    "agent",
                    None,
                    [
                        g.Block(
                            "docker",
                            None,
                            [
                                g.Step("image", g.Str(TRIVY_IMAGE)),
                                g.Step("args", g.Str("--entrypoint=")),
                                g.Step("reuseNode", g.Raw("true")),
                            ],
                        )
                    ],
                ),
                g.Block(
                    "options",
                    None,
                    [g.Step("timeout", g.Raw(f"time: {job.timeout}, unit: 'MINUTES'"))],
                ),
                g.Block("steps", None, [g.Step("sh", g.Str(command))]),
            ],
        )

    checks: list[g.Block] = []
    for job in by_stage.get("security", []):
        checks.append(trivy_stage(job, _trivy(job.id, ".")))
    first = [package_stage(j) for j in by_stage.get("lint", [])]
    stages.append(parallel("Lint and audits", [*first, *checks]))
    for stage_name, label in (("test", "Unit tests"), ("integration", "Integration tests")):
        group = [package_stage(j) for j in by_stage.get(stage_name, [])]
        if group:
            stages.append(parallel(label, group))
    main_when = g.Block("when", None, [g.Step("branch", g.Str(o.branch))])
    for job in by_stage.get("build", []):
        image = job.image
        assert image is not None
        ref = f"${{IMAGE_PREFIX}}/{image.name}"
        var = f"DIGEST_{slug(image.name, sep='_').upper()}"
        stages.append(
            g.Block(
                "stage",
                g.Str(_title(job)),
                [
                    main_when,
                    g.Block(
                        "options",
                        None,
                        [g.Step("timeout", g.Raw(f"time: {job.timeout}, unit: 'MINUTES'"))],
                    ),
                    g.Block(
                        "steps",
                        None,
                        [
                            g.Block(
                                "withCredentials",
                                g.Raw(
                                    "[usernamePassword(credentialsId: 'registry', "
                                    "usernameVariable: 'REGISTRY_USER', "
                                    "passwordVariable: 'REGISTRY_PASSWORD')]"
                                ),
                                [
                                    g.Step(
                                        "sh",
                                        g.Str(
                                            "\n".join(
                                                [
                                                    LOGIN,
                                                    *_docker_build(image, ref, "$GIT_COMMIT")[:2],
                                                ]
                                            )
                                        ),
                                    ),
                                ],
                            ),
                            g.Block(
                                "script",
                                None,
                                [
                                    g.Raw(
                                        f"env.{var} = sh(returnStdout: true, script: "
                                        + g.quote(_docker_build(image, ref, "$GIT_COMMIT")[2])
                                        + ").trim()"
                                    )
                                ],
                            ),
                        ],
                    ),
                ],
            )
        )
    scans = []
    for job in by_stage.get("scan", []):
        image = job.image
        assert image is not None
        var = f"DIGEST_{slug(image.name, sep='_').upper()}"
        scan = trivy_stage(job, _trivy("image", f'"${var}"'))
        scan.children.insert(0, main_when)
        scans.append(scan)
    if scans:
        stages.append(parallel("Image scans", scans))
    for job in by_stage.get("deploy", []):
        env = job.environment
        assert env is not None
        refs = {i.name: f'"$DIGEST_{slug(i.name, sep="_").upper()}"' for i in plan.images}
        handoff = _shipflow_handoff(plan, "${JOB_NAME}", "${GIT_COMMIT}", f"refs/heads/{o.branch}")
        children: list[g.Node] = [
            g.Block(
                "when",
                None,
                [g.Step("beforeInput", g.Raw("true")), g.Step("branch", g.Str(o.branch))],
            )
        ]
        if job.manual:
            children.append(
                g.Block(
                    "input",
                    None,
                    [
                        g.Step("message", g.Str(f"Deploy {a.name} to {env}?")),
                        g.Step("ok", g.Str("Deploy")),
                    ],
                )
            )
        children.append(
            g.Block(
                "options",
                None,
                [
                    g.Step("timeout", g.Raw(f"time: {job.timeout}, unit: 'MINUTES'")),
                    g.Step("lock", g.Str(f"deploy-{env}")),
                ],
            )
        )
        if handoff and job.manual:
            body: list[g.Node] = [
                g.Block(
                    "withCredentials",
                    g.Raw(
                        "[string(credentialsId: 'prefect-api-url', variable: 'PREFECT_API_URL'), "
                        "string(credentialsId: 'prefect-api-key', variable: 'PREFECT_API_KEY')]"
                    ),
                    [
                        g.Step(
                            "sh",
                            g.Str(
                                "\n".join(
                                    [
                                        f"python3 -m pip install --user prefect=={PREFECT_VERSION}",
                                        handoff,
                                    ]
                                )
                            ),
                        )
                    ],
                )
            ]
        else:
            body = [
                g.Block(
                    "withCredentials",
                    g.Raw(f"[file(credentialsId: 'kubeconfig-{env}', variable: 'KUBECONFIG')]"),
                    [g.Step("sh", g.Str("\n".join(_deploy_commands(plan, env, refs))))],
                )
            ]
        children.append(g.Block("steps", None, body))
        stages.append(g.Block("stage", g.Str(_title(job)), children))
    pipeline = g.Block(
        "pipeline",
        None,
        [
            g.Step("agent", g.Raw("any")),
            g.Block(
                "options",
                None,
                [
                    g.Step("timeout", g.Raw("time: 60, unit: 'MINUTES'")),
                    g.Step("disableConcurrentBuilds", g.Raw("abortPrevious: true")),
                    g.Step("buildDiscarder", g.Raw("logRotator(numToKeepStr: '30')")),
                ],
            ),
            g.Block(
                "environment",
                None,
                [
                    g.Assign(
                        "IMAGE_PREFIX", g.Str(o.registry or "registry.example.com/" + slug(a.name))
                    )
                ],
            ),
            g.Block("stages", None, stages),
        ],
    )
    return _header(plan, comment="//") + g.render(pipeline)
