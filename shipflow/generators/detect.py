"""Project analysis: what a repository is made of, read from its manifests and lockfiles.

One detector for every generator (``shipflow dockerfile``, ``shipflow pipeline``): languages
and their versions from the manifests, the package manager from the lockfile actually present,
the scripts that exist, the services the tests need, Dockerfiles, Helm charts, Terraform roots,
Kubernetes manifests and monorepo packages (each with its own path filter).

Two halves: :func:`scan` walks the tree (the only I/O: it prunes ``.git``, ``node_modules``,
virtualenvs and build outputs, honours ``.gitignore`` files, and reads only the small files the
rules need) and :func:`analyse` turns what it found into an :class:`Analysis` (pure, so tests
give it a mapping of file names to contents). Where the repository's own CI configuration
disagrees with its manifests, the manifests win and the disagreement is kept in ``ci``.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import pathspec
import yaml
from pydantic import BaseModel, ConfigDict

from shipflow.errors import ConfigError

Language = Literal["node", "python", "go", "java", "rust"]
ServiceKind = Literal["postgres", "mysql", "mongodb", "redis"]

# Directories never worth descending into: VCS data, dependencies, virtualenvs, build outputs
# and caches. A directory holding ``pyvenv.cfg`` (a virtualenv of any name) is pruned too.
# fmt: off
PRUNED_DIRS = frozenset({
    ".git", ".hg", ".svn", "node_modules", "bower_components", "jspm_packages", ".venv",
    "venv", ".tox", ".nox", "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache",
    ".hypothesis", ".eggs", "site-packages", "dist", "build", "target", ".gradle", ".m2",
    ".terraform", ".terragrunt-cache", ".next", ".nuxt", ".svelte-kit", ".turbo",
    ".parcel-cache", ".angular", ".yarn", ".pnpm-store", ".cache", "coverage", "htmlcov",
    "vendor", ".idea", ".direnv", ".serverless", ".aws-sam",
})
# fmt: on
# Manifests below these directories belong to tests or docs, not to the project's packages
# (unless a workspace lists them).
# fmt: off
NON_PACKAGE_DIRS = frozenset({
    "test", "tests", "testdata", "fixtures", "__fixtures__", "examples", "example", "docs",
    "samples", "e2e", "benchmarks", "templates", "testing", "fuzz",
})
# fmt: on
# Directories that hold whole sample projects: their compose files and test settings are the
# samples' own, not the services this project's tests need ("tests/" itself may hold those).
SAMPLE_DIRS = frozenset(
    {
        "testdata",
        "fixtures",
        "__fixtures__",
        "examples",
        "example",
        "docs",
        "samples",
        "templates",
    }
)

# fmt: off
MANIFESTS = frozenset({
    "package.json", "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", ".yarnrc.yml",
    "pnpm-lock.yaml", "pnpm-workspace.yaml", "bun.lockb", "bun.lock", ".nvmrc",
    ".node-version", ".tool-versions", "pyproject.toml", "setup.py", "setup.cfg", "Pipfile",
    "Pipfile.lock", "poetry.lock", "uv.lock", "tox.ini", ".python-version", "pytest.ini",
    "go.mod", "go.sum", "go.work", "pom.xml", "mvnw", "build.gradle", "build.gradle.kts",
    "settings.gradle", "settings.gradle.kts", "gradlew", ".java-version", ".sdkmanrc",
    "Cargo.toml", "Cargo.lock", "rust-toolchain", "rust-toolchain.toml", "Chart.yaml",
    "Containerfile", ".gitlab-ci.yml", "Jenkinsfile", ".travis.yml", ".env.test",
    ".env.testing", ".env.ci", "application-test.properties", "application-test.yml",
    "application-test.yaml", "conftest.py",
})
# fmt: on
# Read only these (small) files; the others are only listed.
UNREAD = frozenset({"bun.lockb", "mvnw", "gradlew"})
MAX_READ = 512 * 1024
# Lockfiles are read only as far as the rules need (the yarn flavour is in the first lines).
HEAD_ONLY = {
    "yarn.lock": 4096, "package-lock.json": 4096, "pnpm-lock.yaml": 4096, "uv.lock": 4096,
    "poetry.lock": 4096, "Cargo.lock": 4096, "go.sum": 0, "Pipfile.lock": 0, "bun.lock": 4096,
}  # fmt: skip

# Release lines a version range is matched against (the matrix is the declared range's lines).
NODE_LINES = ("18", "20", "22", "24", "26")
PYTHON_LINES = ("3.9", "3.10", "3.11", "3.12", "3.13", "3.14", "3.15")
DEFAULT_VERSION = {"node": "22", "python": "3.12", "go": "1.23", "java": "21", "rust": "stable"}
NPM_DEFAULT_TEST = "no test specified"
TOX_VERSION = "4.23.2"
# A JavaScript workspace with more packages than this is tested through its root's scripts.
MAX_WORKSPACE_PACKAGES = 12


class Service(BaseModel):
    """A service the tests need (a database, a cache), and where that was read."""

    model_config = ConfigDict(frozen=True)

    kind: ServiceKind
    source: str


class Package(BaseModel):
    """One buildable unit: its language, versions, package manager and commands.

    ``path`` is where its commands run; ``install_path`` where dependencies are installed (the
    workspace root for a workspace member). ``paths`` is its path filter in a monorepo.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    path: str
    language: Language
    versions: tuple[str, ...]
    version_source: str
    pinned_version: str | None = None
    package_manager: str
    lockfile: str | None
    install_path: str
    install: str
    lint: str | None = None
    test: str | None = None
    integration: str | None = None
    build: str | None = None
    entry: str | None = None
    members: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    services: tuple[Service, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def version(self) -> str:
        """The version lint, build and the image use: the pinned one, else the newest tested."""
        return self.pinned_version or self.versions[-1]


class CiFinding(BaseModel):
    """What the repository's own CI says, where it disagrees with the manifests."""

    model_config = ConfigDict(frozen=True)

    file: str
    disagreement: str


class Analysis(BaseModel):
    """Everything the generators need to know about a repository."""

    model_config = ConfigDict(frozen=True)

    name: str
    packages: tuple[Package, ...]
    monorepo: str | None = None
    services: tuple[Service, ...] = ()
    dockerfiles: tuple[str, ...] = ()
    helm_charts: tuple[str, ...] = ()
    terraform_roots: tuple[str, ...] = ()
    kubernetes_manifests: tuple[str, ...] = ()
    ci_files: tuple[str, ...] = ()
    ci: tuple[CiFinding, ...] = ()
    notes: tuple[str, ...] = ()
    files_seen: int = 0

    def languages(self) -> list[str]:
        return sorted({p.language for p in self.packages})


@dataclass(frozen=True)
class ProjectFiles:
    """What :func:`scan` found: the interesting paths (posix, relative) and the read ones."""

    paths: tuple[str, ...]
    contents: Mapping[str, str]
    seen: int = 0

    @cached_property
    def path_set(self) -> frozenset[str]:
        return frozenset(self.paths)

    @classmethod
    def from_mapping(cls, files: Mapping[str, str]) -> ProjectFiles:
        """An in-memory project (tests, the Dockerfile generator's callers)."""
        return cls(paths=tuple(sorted(files)), contents=dict(files), seen=len(files))


# ---------------------------------------------------------------------------------------
# The walk


_ALWAYS = frozenset({".yaml", ".yml", ".tf"})
_NAMED = re.compile(r"\(\?P<\w+>")
# A cheap first sieve over every file name (one regex per directory); _interesting decides
# for what passes it.
_CANDIDATE = re.compile(
    r"^(?:[^\n]*\.(?:yaml|yml|tf|py|go|txt|in|Dockerfile)|(?:Docker|Container)file[^\n]*)$", re.M
)
_NEVER = frozenset({".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".json", ".md", ".css", ".map"})


def _interesting(name: str, parent: str) -> bool:
    """Whether the rules need this file (called for every file of the tree: kept cheap)."""
    if name in MANIFESTS:
        return True
    dot = name.rfind(".")
    ext = name[dot:] if dot > 0 else ""
    if ext in _ALWAYS:
        return True
    if ext in _NEVER:
        return False
    if ext == ".py":
        return name.startswith("test_") or name.endswith("_test.py")
    if ext == ".go":
        return name.endswith("_test.go")
    if ext in {".txt", ".in"}:
        return name.startswith("requirements") or parent.endswith("requirements")
    return name.startswith(("Dockerfile", "Containerfile")) or ext == ".Dockerfile"


def scan(root: Path) -> ProjectFiles:
    """Walk ``root`` once, pruning dependencies, virtualenvs, build outputs and whatever its
    ``.gitignore`` files exclude; read the manifests (each at most 512 KiB)."""
    root = root.resolve()
    paths: list[str] = []
    contents: dict[str, str] = {}
    seen = 0
    # A stack of (directory relative to root, its .gitignore spec, any-pattern prefilter).
    ignores: list[tuple[str, pathspec.GitIgnoreSpec, re.Pattern[str] | None]] = []

    def ignored(rel: str, is_dir: bool) -> bool:
        probe = rel + "/" if is_dir else rel
        for base, spec, anything in ignores:
            if base and not probe.startswith(base + "/"):
                continue
            local = probe[len(base) + 1 :] if base else probe
            # No pattern matches at all (the common case): not ignored, decided in C.
            if anything is not None and not anything.match(local):
                continue
            if spec.match_file(local):
                return True
        return False

    def compile_ignore(rel: str, lines: list[str]) -> None:
        spec = pathspec.GitIgnoreSpec.from_lines(lines)
        active = [p for p in spec.patterns if getattr(p, "include", None) is not None]
        regexes = [r for p in active if isinstance(r := getattr(p, "regex", None), re.Pattern)]
        anything = None
        if regexes and len(regexes) == len(active):
            anything = re.compile("|".join(f"(?:{_NAMED.sub('(?:', r.pattern)})" for r in regexes))
        ignores.append((rel, spec, anything))

    def walk(directory: str, rel: str) -> None:
        nonlocal seen
        try:
            with os.scandir(directory) as it:
                entries = list(it)
        except OSError:
            return
        names = [e.name for e in entries]
        if rel and "pyvenv.cfg" in names:
            return
        pushed = False
        if ".gitignore" in names:
            try:
                with open(os.path.join(directory, ".gitignore"), encoding="utf-8") as fh:
                    lines = fh.read().splitlines()
                compile_ignore(rel, lines)
                pushed = True
            except (OSError, UnicodeDecodeError):
                pass
        seen += len(entries)
        prefix = f"{rel}/" if rel else ""
        # Once per entry of the whole tree, so no Python-level loop here: one regex over the
        # directory's names picks the candidates, a comprehension the subdirectories.
        picked = set(MANIFESTS.intersection(names))
        picked.update(_CANDIDATE.findall("\n".join(names)))
        candidates = [e for e in entries if e.name in picked] if picked else []
        for entry in [e for e in entries if e.is_dir(follow_symlinks=False)]:
            name = entry.name
            if name in PRUNED_DIRS or name.endswith(".egg-info"):
                continue
            child = prefix + name
            if ignores and ignored(child, True):
                continue
            walk(entry.path, child)
        for entry in candidates:
            name = entry.name
            if not _interesting(name, rel) or entry.is_dir(follow_symlinks=False):
                continue
            child = prefix + name
            if ignores and ignored(child, False):
                continue
            paths.append(child)
            if name in UNREAD or (name.endswith(("_test.go", ".py")) and name != "conftest.py"):
                continue
            limit = HEAD_ONLY.get(name, MAX_READ)
            if limit == 0:
                continue
            try:
                with open(entry.path, encoding="utf-8", errors="replace") as fh:
                    contents[child] = fh.read(limit)
            except OSError:
                continue
        if pushed:
            ignores.pop()

    if not root.is_dir():
        raise ConfigError("path", f"{root} is not a directory")
    walk(str(root), "")
    paths.sort()
    return ProjectFiles(paths=tuple(paths), contents=contents, seen=seen)


def analyse_path(root: Path) -> Analysis:
    """:func:`scan` then :func:`analyse`, named after the directory."""
    return analyse(scan(root), name=root.resolve().name)


# ---------------------------------------------------------------------------------------
# Small readers (each returns None or {} when the file is absent or unreadable)


def _dir(path: str) -> str:
    """The directory of a relative posix path ("" at the root); plain string work, it is hot."""
    return path.rpartition("/")[0]


def _name(path: str) -> str:
    return path.rpartition("/")[2]


def _join(base: str, name: str) -> str:
    return f"{base}/{name}" if base else name


def _json(files: ProjectFiles, path: str) -> dict[str, Any]:
    try:
        # A byte-order mark is legal in package.json (npm strips it); json.loads refuses it.
        data = json.loads(files.contents.get(path, "").lstrip("\ufeff"))
    except json.JSONDecodeError as exc:
        if path.endswith("package.json") and path in files.contents:
            raise ConfigError(path, f"not valid JSON: {exc.msg}") from exc
        return {}
    return data if isinstance(data, dict) else {}


def _toml(files: ProjectFiles, path: str) -> dict[str, Any]:
    try:
        return tomllib.loads(files.contents.get(path, ""))
    except tomllib.TOMLDecodeError:
        return {}


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _yaml(files: ProjectFiles, path: str) -> Any:
    try:
        # libyaml's loader when PyYAML has it (its wheels do): several times faster.
        return yaml.load(files.contents.get(path, ""), Loader=_YAML_LOADER)  # noqa: S506
    except yaml.YAMLError:
        return None


def _dig(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _has(files: ProjectFiles, path: str) -> bool:
    return path in files.contents or path in files.path_set


def _first_line(files: ProjectFiles, path: str) -> str | None:
    text = files.contents.get(path)
    if text is None:
        return None
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            return line
    return None


# ---------------------------------------------------------------------------------------
# Versions


def _major_minor(version: str) -> str:
    parts = re.findall(r"\d+", version)
    return ".".join(parts[:2]) if len(parts) >= 2 else (parts[0] if parts else version)


def _satisfies(version: str, spec: str) -> bool:
    """``version`` (``3.11``, ``20``) inside a range such as ``>=3.10,<4`` / ``^18 || >=20``.

    Covers what manifests write: comparison operators, ``^``, ``~``, ``.x``, ``||``, commas
    and spaces as "and". Unknown syntax counts as satisfied (the manifest decides, not us).
    """
    spec = spec.strip()
    if not spec or spec in {"*", "x"}:
        return True

    def key(v: str) -> tuple[int, ...]:
        return tuple(int(p) for p in re.findall(r"\d+", v)[:3]) or (0,)

    have = key(version)
    for alternative in spec.split("||"):
        ok = True
        for clause in re.split(r"[,\s]+(?=[<>=!^~]|\d)", alternative.strip()):
            clause = clause.strip().rstrip(",")
            if not clause:
                continue
            match = re.match(r"^(>=|<=|==|!=|~=|>|<|\^|~|=)?\s*v?([\d.*x]+)", clause)
            if not match:
                continue
            op, raw = match.group(1) or "==", match.group(2)
            raw = re.sub(r"\.[*x].*$", "", raw)
            want = key(raw)
            n = len(want)
            cur = have[:n] + (0,) * max(0, n - len(have))
            if op in {"==", "="}:
                ok = ok and (have[:n] == want or (len(have) < n and want[: len(have)] == have))
            elif op == "!=":
                ok = ok and have[:n] != want
            elif op == ">=":
                ok = ok and cur >= want
            elif op == ">":
                ok = ok and cur > want if len(have) >= n else ok and have > want[: len(have)]
            elif op == "<=":
                ok = ok and cur <= want
            elif op == "<":
                ok = ok and cur < want
            elif op == "^":
                ok = ok and cur >= want and have[0] == want[0]
            elif op in {"~", "~="}:
                head = want[:-1] if op == "~=" and n > 1 else want[:1] if op == "~" else want
                if op == "~" and n > 2:
                    head = want[:2]
                ok = ok and cur >= want and have[: len(head)] == head
        if ok:
            return True
    return False


def _lines_in(lines: Sequence[str], spec: str) -> tuple[str, ...]:
    """The release lines (``20``, ``3.12``) of which some release satisfies ``spec``: a line
    is in when its first or its last release is (``^20.19.0`` includes the 20 line)."""
    return tuple(
        line
        for line in lines
        if _satisfies(f"{line}.0.0" if "." not in line else f"{line}.0", spec)
        or _satisfies(f"{line}.999.999" if "." not in line else f"{line}.999", spec)
    )


# ---------------------------------------------------------------------------------------
# Node


def _node_versions(
    files: ProjectFiles, base: str, package: dict[str, Any]
) -> tuple[tuple[str, ...], str, list[str], str | None]:
    notes: list[str] = []
    pinned = None
    source = ""
    for name in (".nvmrc", ".node-version"):
        for where in (base, ""):
            line = _first_line(files, _join(where, name))
            if line and re.match(r"v?\d", line):
                pinned, source = line.lstrip("v"), _join(where, name)
                break
        if pinned:
            break
    volta = _dig(package, "volta", "node")
    if not pinned and isinstance(volta, str):
        pinned, source = volta, _join(base, "package.json") + " volta.node"
    engines = _dig(package, "engines", "node")
    if isinstance(engines, str) and engines.strip():
        lines = _lines_in(NODE_LINES, engines)
        if lines:
            where = _join(base, "package.json")
            if pinned and pinned.split(".")[0] not in lines:
                notes.append(f"{source} pins node {pinned}, outside engines.node {engines!r}")
            return lines, f"{where} engines.node {engines!r}", notes, pinned
    if pinned:
        return (pinned,), source, notes, pinned
    notes.append(
        f"no node version declared (.nvmrc, engines.node): using {DEFAULT_VERSION['node']}"
    )
    return (DEFAULT_VERSION["node"],), "default", notes, None


def _node_manager(
    files: ProjectFiles, root: str, package: dict[str, Any]
) -> tuple[str, str | None, list[str]]:
    """The package manager from the lockfile present at ``root``; ``packageManager`` and
    ``.yarnrc.yml`` only tell yarn's flavour apart."""
    notes: list[str] = []
    declared = str(package.get("packageManager") or "")
    found: list[tuple[str, str]] = []
    for lock, manager in (
        ("bun.lock", "bun"),
        ("bun.lockb", "bun"),
        ("pnpm-lock.yaml", "pnpm"),
        ("yarn.lock", "yarn"),
        ("package-lock.json", "npm"),
        ("npm-shrinkwrap.json", "npm"),
    ):
        if _has(files, _join(root, lock)):
            found.append((manager, _join(root, lock)))
    if not found:
        notes.append("no lockfile: installs are not reproducible (npm install, no cache key)")
        return "npm", None, notes
    manager, lockfile = found[0]
    if len({m for m, _ in found}) > 1:
        notes.append(f"several lockfiles ({', '.join(lf for _, lf in found)}): using {lockfile}")
    if manager == "yarn":
        head = files.contents.get(lockfile, "")
        berry = (
            "__metadata:" in head
            or _has(files, _join(root, ".yarnrc.yml"))
            or bool(re.match(r"yarn@[2-9]", declared))
        )
        manager = "yarn-berry" if berry else "yarn-classic"
    if declared and not declared.startswith(manager.split("-")[0] + "@"):
        notes.append(
            f"packageManager says {declared} but the lockfile is {lockfile}: "
            f"the lockfile wins ({manager})"
        )
    return manager, lockfile, notes


NODE_LOCKFILES = (
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "bun.lock",
    "bun.lockb",
)
NODE_INSTALL = {
    "npm": "npm ci",
    "yarn-classic": "yarn install --frozen-lockfile",
    "yarn-berry": "yarn install --immutable",
    "pnpm": "pnpm install --frozen-lockfile",
    "bun": "bun install --frozen-lockfile",
}
NODE_RUN = {
    "npm": "npm run",
    "yarn-classic": "yarn run",
    "yarn-berry": "yarn run",
    "pnpm": "pnpm run",
    "bun": "bun run",
}


def _script(scripts: dict[str, Any], run: str, *names: str) -> str | None:
    for name in names:
        body = scripts.get(name)
        if isinstance(body, str) and body.strip() and NPM_DEFAULT_TEST not in body:
            return f"{run} {name}"
    return None


# ---------------------------------------------------------------------------------------
# Python


def _python_versions(
    files: ProjectFiles, base: str, project: dict[str, Any]
) -> tuple[tuple[str, ...], str, list[str], str | None]:
    notes: list[str] = []
    pinned: tuple[str, str] | None = None
    for where in (base, ""):
        line = _first_line(files, _join(where, ".python-version"))
        if line and re.match(r"\d", line):
            pinned = (_major_minor(line), _join(where, ".python-version"))
            break
    classifiers = [
        m.group(1)
        for c in project.get("classifiers", []) or []
        if (m := re.match(r"Programming Language :: Python :: (3\.\d+)$", str(c)))
    ]
    if classifiers:
        found = tuple(sorted(set(classifiers), key=_version_key))
        return found, f"{_join(base, 'pyproject.toml')} classifiers", notes, _pin(pinned)
    tox = _tox_envs(files, base)
    if tox:
        return tox, f"{_join(base, 'tox.ini')} envlist", notes, _pin(pinned)
    spec = project.get("requires-python")
    source = f"{_join(base, 'pyproject.toml')} requires-python"
    if not spec:
        poetry_python = _dig(
            _toml(files, _join(base, "pyproject.toml")), "tool", "poetry", "dependencies", "python"
        )
        if isinstance(poetry_python, str):
            spec, source = poetry_python, f"{_join(base, 'pyproject.toml')} tool.poetry python"
    if not spec:
        spec = _setup_python_requires(files, base)
        source = "python_requires"
    if spec:
        lines = _lines_in(PYTHON_LINES, str(spec))
        if lines:
            if pinned and pinned[0] not in lines:
                notes.append(f"{pinned[1]} pins {pinned[0]}, outside {spec!r}")
            return lines, f"{source} {spec!r}", notes, _pin(pinned)
    if pinned:
        return (pinned[0],), pinned[1], notes, pinned[0]
    notes.append(f"no python version declared: using {DEFAULT_VERSION['python']}")
    return (DEFAULT_VERSION["python"],), "default", notes, None


def _pin(pinned: tuple[str, str] | None) -> str | None:
    return pinned[0] if pinned else None


def _version_key(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", v))


def _setup_python_requires(files: ProjectFiles, base: str) -> str | None:
    cfg = files.contents.get(_join(base, "setup.cfg"), "")
    match = re.search(r"^\s*python_requires\s*=\s*(.+)$", cfg, re.M)
    if match:
        return match.group(1).strip()
    setup = files.contents.get(_join(base, "setup.py"), "")
    match = re.search(r"python_requires\s*=\s*['\"]([^'\"]+)['\"]", setup)
    return match.group(1) if match else None


def _tox_envs(files: ProjectFiles, base: str) -> tuple[str, ...]:
    text = files.contents.get(_join(base, "tox.ini"), "")
    match = re.search(r"^\s*envlist\s*=\s*((?:.+\n?)(?:[ \t]+.+\n?)*)", text, re.M)
    if not match:
        return ()
    found = set()
    for token in re.split(r"[,\s]+", match.group(1)):
        for py in re.findall(r"py3(\d+)", token):
            found.add(f"3.{py}")
        brace = re.match(r"py3\{([\d,]+)\}", token)
        if brace:
            found.update(f"3.{n}" for n in brace.group(1).split(","))
    return tuple(sorted(found, key=_version_key))


def _python_deps(files: ProjectFiles, base: str, pyproject: dict[str, Any]) -> str:
    """Every dependency text of the package, lower-cased, for "is pytest/ruff declared"."""
    parts = [
        json.dumps(_dig(pyproject, "project") or {}),
        json.dumps(_dig(pyproject, "tool", "poetry") or {}),
    ]
    parts.append(json.dumps(pyproject.get("dependency-groups") or {}))
    for path, text in files.contents.items():
        if _dir(path) in {base, _join(base, "requirements")} and (
            _name(path).startswith("requirements") or _dir(path).endswith("requirements")
        ):
            parts.append(text)
    for name in ("setup.cfg", "setup.py", "tox.ini", "Pipfile"):
        parts.append(files.contents.get(_join(base, name), ""))
    return "\n".join(parts).lower()


def _has_python_tests(files: ProjectFiles, base: str, pyproject: dict[str, Any]) -> bool:
    prefix = base + "/" if base else ""
    for path in files.paths:
        if not path.startswith(prefix):
            continue
        name = _name(path)
        if name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py":
            return True
    return bool(_dig(pyproject, "tool", "pytest")) or _has(files, _join(base, "pytest.ini"))


# ---------------------------------------------------------------------------------------
# Services the tests need


SERVICE_PATTERNS: tuple[tuple[ServiceKind, re.Pattern[str]], ...] = (
    (
        "postgres",
        re.compile(r"postgres(?:ql)?(?:\+\w+)?://|jdbc:postgresql:|image:\s*\S*postgres", re.I),
    ),
    (
        "mysql",
        re.compile(
            r"mysql(?:\+\w+)?://|jdbc:mysql:|mariadb://|image:\s*\S*(?:mysql|mariadb)", re.I
        ),
    ),
    ("mongodb", re.compile(r"mongodb(?:\+srv)?://|image:\s*\S*mongo", re.I)),
    ("redis", re.compile(r"rediss?://|image:\s*\S*(?:redis|valkey)", re.I)),
)


def _compose_services(files: ProjectFiles, path: str) -> list[Service]:
    data = _yaml(files, path)
    found: list[Service] = []
    services = _dig(data, "services")
    if not isinstance(services, dict):
        return found
    for spec in services.values():
        image = str(_dig(spec, "image") or "")
        for kind, pattern in SERVICE_PATTERNS:
            if image and pattern.search(f"image: {image}"):
                found.append(Service(kind=kind, source=path))
    return found


def _settings_services(files: ProjectFiles, path: str) -> list[Service]:
    text = files.contents.get(path, "")
    return [
        Service(kind=kind, source=path)
        for kind, pattern in SERVICE_PATTERNS
        if pattern.search(text)
    ]


def _is_test_settings(path: str) -> bool:
    name = _name(path)
    if name in {".env.test", ".env.testing", ".env.ci", "pytest.ini", "tox.ini", "conftest.py"}:
        return True
    if name.startswith("application-test."):
        return True
    parts = path.split("/")
    return (
        "test" in parts[:-1]
        and name.startswith("application")
        and name.endswith((".yml", ".yaml", ".properties"))
    )


# ---------------------------------------------------------------------------------------
# The analysis


def analyse(files: ProjectFiles, name: str = "project") -> Analysis:
    """What ``files`` hold: packages (with versions, manager, commands), services,
    deployables and where the repository's own CI disagrees with its manifests."""
    notes: list[str] = []
    by_name: dict[str, list[str]] = {}
    for path in files.paths:
        by_name.setdefault(_name(path), []).append(path)

    packages: list[Package] = []
    claimed: set[tuple[str, str]] = set()  # (language, dir) already covered by a workspace
    monorepo: str | None = None

    # Workspaces first: they claim their members' manifests. A workspace below a test,
    # example or docs directory is a fixture of the project's, not a part of it.
    def fixture(kind: Language, found: dict[str, list[str]]) -> dict[str, list[str]]:
        for root in [r for r in found if _hidden(r)]:
            notes.append(f"{root}: skipped (a workspace below a test, example or docs directory)")
            claimed.update((kind, m) for m in [root, *found.pop(root)])
        return found

    node_ws, node_kind = _node_workspaces(files, by_name)
    node_ws = fixture("node", node_ws)
    for root, members in node_ws.items():
        monorepo = monorepo or node_kind
        if len(members) > MAX_WORKSPACE_PACKAGES:
            # Dozens of jobs help nobody: the root's scripts run the workspace in one job.
            notes.append(
                f"{_join(root, 'package.json')}: {len(members)} workspace packages; one job "
                "runs the root's scripts instead of one job per package"
            )
            packages.extend(
                p.model_copy(update={"members": tuple(members)})
                for p in _node_packages(files, root, [], notes)
            )
        else:
            packages.extend(_node_packages(files, root, members, notes))
        claimed.update(("node", m) for m in [root, *members])
        # Other package.json files below the workspace without a lockfile of their own are
        # installed by it (or are not packages at all): never projects of their own.
        prefix = f"{root}/" if root else ""
        for path in by_name.get("package.json", []):
            base = _dir(path)
            if base.startswith(prefix) and not any(
                _has(files, _join(base, lock)) for lock in NODE_LOCKFILES
            ):
                claimed.add(("node", base))
    uv_ws = fixture("python", _uv_workspaces(files, by_name))
    for root, members in uv_ws.items():
        monorepo = monorepo or "uv-workspace"
        for member in members:
            packages.append(_python_package(files, member, install_root=root, notes=notes))
        claimed.update(("python", m) for m in [root, *members])
    go_ws = fixture("go", _go_workspaces(files, by_name))
    for root, members in go_ws.items():
        monorepo = monorepo or "go-workspace"
        for member in members:
            packages.append(_go_package(files, member, notes))
        claimed.update(("go", m) for m in [root, *members])
    cargo_ws = fixture("rust", _cargo_workspaces(files, by_name))
    cargo_excluded = _cargo_excluded(files, by_name)
    for root, members in cargo_ws.items():
        packages.append(_rust_package(files, root, members, notes))
        claimed.update(("rust", m) for m in [root, *members])

    # Java builds: the top-most pom.xml / settings.gradle owns everything below it.
    for lang_dirs, builder in (
        (_java_roots(files, by_name, "maven"), "maven"),
        (_java_roots(files, by_name, "gradle"), "gradle"),
    ):
        for root, members in lang_dirs.items():
            if ("java", root) in claimed:
                notes.append(
                    f"{_join(root, 'pom.xml')} and a Gradle build side by side: using Maven"
                )
                continue
            packages.append(_java_package(files, root, members, builder, notes))
            claimed.update(("java", m) for m in [root, *members])

    # Standalone packages.
    standalone: list[tuple[str, str]] = []
    for manifest, language in (
        ("package.json", "node"),
        ("pyproject.toml", "python"),
        ("setup.py", "python"),
        ("setup.cfg", "python"),
        ("requirements.txt", "python"),
        ("Pipfile", "python"),
        ("go.mod", "go"),
        ("Cargo.toml", "rust"),
    ):
        for path in by_name.get(manifest, []):
            base = _dir(path)
            if (language, base) in claimed:
                continue
            if (
                language == "python"
                and manifest == "setup.cfg"
                and not (
                    "[metadata]" in files.contents.get(path, "")
                    or "[options]" in files.contents.get(path, "")
                )
            ):
                continue
            if any(part in NON_PACKAGE_DIRS for part in base.split("/")):
                notes.append(f"{path}: skipped (below a test, example or docs directory)")
                claimed.add((language, base))
                continue
            if language == "rust" and _inside_claimed(base, "rust", claimed):
                if base in cargo_excluded:
                    notes.append(f"{path}: skipped (excluded from the Cargo workspace)")
                continue
            claimed.add((language, base))
            standalone.append((language, base))
    for language, base in standalone:
        if language == "node":
            packages.extend(_node_packages(files, base, [], notes))
        elif language == "python":
            packages.append(_python_package(files, base, install_root=base, notes=notes))
        elif language == "go":
            packages.append(_go_package(files, base, notes))
        elif language == "rust":
            packages.append(_rust_package(files, base, [], notes))

    if not packages:
        raise ConfigError(
            "path",
            "no known project here: expected package.json (node), pyproject.toml, setup.py or "
            "requirements.txt (python), go.mod (go), pom.xml or build.gradle (java), "
            "Cargo.toml (rust)",
        )
    packages = [
        p if p.name else p.model_copy(update={"name": _name(p.path) or name}) for p in packages
    ]
    packages.sort(key=lambda p: (p.path, p.language))
    if len(packages) > 1 and not monorepo:
        monorepo = "polyglot" if len({p.language for p in packages}) > 1 else "multi-package"
    elif len(packages) == 1 and packages[0].members:
        monorepo = {
            "cargo": "cargo-workspace",
            "maven": "maven-multi-module",
            "gradle": "gradle-multi-project",
        }.get(packages[0].package_manager, monorepo)

    # Services the tests need: compose files, test settings; given to the packages below them.
    services: list[Service] = []
    for path in files.paths:
        name_ = _name(path)
        if any(part in SAMPLE_DIRS for part in path.split("/")[:-1]):
            continue
        if name_.startswith(("docker-compose", "compose")) and name_.endswith((".yml", ".yaml")):
            services.extend(_compose_services(files, path))
        elif _is_test_settings(path):
            services.extend(_settings_services(files, path))
    services = _unique_services(services)
    if monorepo and packages:
        packages = [_with_paths(p, files) for p in packages]
    packages = [_with_services(p, services, len(packages)) for p in packages]

    # Images to ship: not a dev container's, not a test fixture's.
    dockerfiles = tuple(
        p
        for p in files.paths
        if (
            (n := _name(p)) in {"Containerfile", "Dockerfile"}
            or n.startswith("Dockerfile.")
            or n.endswith(".Dockerfile")
        )
        and not _hidden(_dir(p))
        and ".devcontainer" not in p.split("/")
    )
    charts = tuple(_dir(p) or "." for p in by_name.get("Chart.yaml", []))
    terraform_roots = _terraform_roots(files)
    kube = _kubernetes_manifests(files, charts)
    ci_files = tuple(
        p
        for p in files.paths
        if p.startswith(".github/workflows/")
        or p in {".gitlab-ci.yml", ".circleci/config.yml", ".travis.yml", "Jenkinsfile"}
    )
    ci = _ci_disagreements(files, ci_files, packages)
    for p in packages:
        notes.extend(f"{p.path or '.'}: {n}" for n in p.notes)
    return Analysis(
        name=name,
        packages=tuple(packages),
        monorepo=monorepo,
        services=tuple(services),
        dockerfiles=dockerfiles,
        helm_charts=charts,
        terraform_roots=terraform_roots,
        kubernetes_manifests=kube,
        ci_files=ci_files,
        ci=tuple(ci),
        notes=tuple(dict.fromkeys(notes)),
        files_seen=files.seen,
    )


def _hidden(base: str) -> bool:
    """Below a test, example or docs directory (whose manifests are not the project's)."""
    return bool(base) and any(part in NON_PACKAGE_DIRS for part in base.split("/"))


def _inside_claimed(base: str, language: str, claimed: set[tuple[str, str]]) -> bool:
    return any(lang == language and (d == "" or base.startswith(d + "/")) for lang, d in claimed)


def _unique_services(services: Iterable[Service]) -> list[Service]:
    seen: dict[str, Service] = {}
    for s in services:
        seen.setdefault(s.kind, s)
    return sorted(seen.values(), key=lambda s: s.kind)


def _with_services(p: Package, services: Sequence[Service], count: int) -> Package:
    if not services:
        return p
    mine = [
        s
        for s in services
        if count == 1 or not p.path or _dir(s.source) == "" or _dir(s.source).startswith(p.path)
    ]
    return p.model_copy(update={"services": tuple(mine)}) if mine else p


def _with_paths(p: Package, files: ProjectFiles) -> Package:
    if p.paths:
        return p
    own = [f"{m}/**" if m else "**" for m in (p.path, *p.members)]
    if p.install_path != p.path:
        own += [
            _join(p.install_path, n)
            for n in (
                "package.json",
                "pnpm-lock.yaml",
                "yarn.lock",
                "package-lock.json",
                "bun.lock",
                "bun.lockb",
                "uv.lock",
                "pyproject.toml",
                "go.work",
            )
            if _has(files, _join(p.install_path, n))
        ]
    return p.model_copy(update={"paths": tuple(dict.fromkeys(own))})


# Node packages and workspaces


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A workspace glob as workspaces read it: ``*`` within one directory, ``**`` across any
    number (``packages/**`` also matches ``packages/a/b``), ``./`` ignored."""
    parts = []
    pattern = pattern.strip().removeprefix("./").rstrip("/")
    for i, segment in enumerate(pattern.split("/")):
        if segment == "**":
            parts.append("(?:[^/]+(?:/[^/]+)*)?" if i else "(?:[^/]+/)*[^/]+")
        else:
            parts.append(
                "".join(
                    "[^/]*" if ch == "*" else "[^/]" if ch == "?" else re.escape(ch)
                    for ch in segment
                )
            )
    return re.compile("/".join(parts).replace("/(?:[^/]+(?:/[^/]+)*)?", "(?:/[^/]+)*") + "$")


def _globs(patterns: Iterable[str], candidates: Iterable[str]) -> list[str]:
    """The candidate directories that an include pattern matches and no ``!`` pattern does."""
    include = [_glob_regex(p) for p in patterns if not p.startswith("!")]
    exclude = [_glob_regex(p[1:]) for p in patterns if p.startswith("!")]
    return sorted(
        c
        for c in candidates
        if any(r.match(c) for r in include) and not any(r.match(c) for r in exclude)
    )


def _members(root: str, patterns: Sequence[str], dirs: Iterable[str]) -> list[str]:
    """The directories below ``root`` that its workspace patterns (relative to ``root``,
    ``!`` excluding) name."""
    prefix = root + "/" if root else ""
    rel = [d[len(prefix) :] for d in dirs if d.startswith(prefix) and d != root]
    return [_join(root, m) for m in _globs(patterns, rel)]


def _member_patterns(workspace: dict[str, Any]) -> list[str]:
    """A uv or Cargo ``[workspace]``'s members, then its excludes as ``!`` patterns."""
    members = [str(m) for m in workspace.get("members", [])]
    return members + [f"!{e}" for e in workspace.get("exclude", [])]


def _node_workspaces(
    files: ProjectFiles, by_name: dict[str, list[str]]
) -> tuple[dict[str, list[str]], str]:
    dirs = [_dir(p) for p in by_name.get("package.json", [])]
    found: dict[str, list[str]] = {}
    kind = "npm-workspaces"
    for path in by_name.get("pnpm-workspace.yaml", []):
        root = _dir(path)
        if _hidden(root):
            continue
        patterns = _dig(_yaml(files, path), "packages") or []
        found[root] = _members(root, [str(p) for p in patterns], dirs)
        kind = "pnpm-workspace"
    for path in by_name.get("package.json", []):
        root = _dir(path)
        if root in found or _hidden(root):
            continue
        workspaces = _json(files, path).get("workspaces")
        if isinstance(workspaces, dict):
            workspaces = workspaces.get("packages")
        if not isinstance(workspaces, list) or not workspaces:
            continue
        found[root] = _members(root, [str(p) for p in workspaces], dirs)
        manager, _, _ = _node_manager(files, root, _json(files, path))
        kind = {
            "yarn-classic": "yarn-workspaces",
            "yarn-berry": "yarn-workspaces",
            "bun": "bun-workspaces",
            "pnpm": "pnpm-workspace",
        }.get(manager, "npm-workspaces")
    return found, kind


def _node_packages(
    files: ProjectFiles, root: str, members: list[str], notes: list[str]
) -> list[Package]:
    manifest = _json(files, _join(root, "package.json"))
    manager, lockfile, manager_notes = _node_manager(files, root, manifest)
    install = NODE_INSTALL[manager] if lockfile else "npm install"
    targets = members or [root]
    if members and _script(manifest.get("scripts") or {}, "", "test"):
        notes.append(
            f"{_join(root, 'package.json')}: its test script is not run; each workspace package "
            "is tested on its own path filter"
        )
    out = []
    for base in targets:
        package = manifest if base == root else _json(files, _join(base, "package.json"))
        scripts = package.get("scripts") or {}
        if not isinstance(scripts, dict):
            scripts = {}
        run = NODE_RUN[manager]
        versions, source, version_notes, pinned = _node_versions(files, base, package)
        if base != root and source == "default":
            versions, source, version_notes, pinned = _node_versions(files, root, manifest)
        own_notes = list(version_notes) + (manager_notes if base == targets[0] else [])
        test = _script(scripts, run, "test", "test:unit")
        if test == f"{run} test" and manager in {"npm", "pnpm", "yarn-classic", "yarn-berry"}:
            test = {
                "npm": "npm test",
                "pnpm": "pnpm test",
                "yarn-classic": "yarn test",
                "yarn-berry": "yarn test",
            }[manager]
        if not test:
            own_notes.append("no test script in package.json: no test step")
        lint = _script(scripts, run, "lint", "check", "typecheck")
        if not lint:
            own_notes.append("no lint script in package.json: no lint step")
        out.append(
            Package(
                name=str(package.get("name") or _name(base)),
                path=base,
                language="node",
                versions=versions,
                version_source=source,
                pinned_version=pinned,
                package_manager=manager,
                lockfile=lockfile,
                install_path=root,
                install=install,
                lint=lint,
                test=test,
                integration=_script(
                    scripts, run, "test:integration", "test:e2e", "integration", "e2e"
                ),
                build=_script(scripts, run, "build"),
                entry=str(package["main"]) if package.get("main") else None,
                notes=tuple(own_notes),
            )
        )
    return out


# Python packages and uv workspaces


def _uv_workspaces(files: ProjectFiles, by_name: dict[str, list[str]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    dirs = [_dir(p) for p in by_name.get("pyproject.toml", [])]
    for path in by_name.get("pyproject.toml", []):
        pyproject = _toml(files, path)
        ws = _dig(pyproject, "tool", "uv", "workspace")
        if not isinstance(ws, dict):
            continue
        root = _dir(path)
        members = _members(root, _member_patterns(ws), dirs)
        # The root is a member too when it is a project itself.
        if _dig(pyproject, "project", "name"):
            members.insert(0, root)
        found[root] = members
    return found


def _python_package(files: ProjectFiles, base: str, install_root: str, notes: list[str]) -> Package:
    pyproject_path = _join(base, "pyproject.toml")
    pyproject = _toml(files, pyproject_path)
    project = pyproject.get("project") or {}
    versions, source, own, pinned = _python_versions(files, base, project)
    deps = _python_deps(files, base, pyproject)
    if install_root != base:  # a workspace member shares the root's dev tools
        root_toml = _toml(files, _join(install_root, "pyproject.toml"))
        deps += _python_deps(files, install_root, root_toml)
    tox_envs = re.findall(
        r"^\[testenv:([\w.-]+)\]", files.contents.get(_join(base, "tox.ini"), ""), re.M
    )
    lockfile: str | None
    if _has(files, _join(install_root, "uv.lock")):
        manager, lockfile = "uv", _join(install_root, "uv.lock")
        workspace = _dig(
            _toml(files, _join(install_root, "pyproject.toml")), "tool", "uv", "workspace"
        )
        install = "uv sync --locked --all-packages" if workspace else "uv sync --locked"
        runner = "uv run "
    elif _has(files, _join(base, "poetry.lock")) or _dig(pyproject, "tool", "poetry"):
        manager = "poetry"
        lockfile = _join(base, "poetry.lock") if _has(files, _join(base, "poetry.lock")) else None
        install = "poetry install --no-interaction"
        runner = "poetry run "
        if not lockfile:
            own.append("poetry project without poetry.lock: dependencies are resolved on each run")
    elif _has(files, _join(base, "Pipfile.lock")):
        manager, lockfile, install = "pipenv", _join(base, "Pipfile.lock"), "pipenv sync --dev"
        runner = "pipenv run "
    elif _has(files, _join(base, "tox.ini")) and (
        _has(files, _join(base, "setup.cfg")) or _has(files, _join(base, "setup.py")) or pyproject
    ):
        manager, install, runner = "tox", f"python -m pip install tox=={TOX_VERSION}", ""
        lockfile = next(
            (
                _join(base, n)
                for n in ("setup.cfg", "pyproject.toml", "setup.py")
                if _has(files, _join(base, n))
            ),
            None,
        )
    else:
        manager, runner = "pip", "python -m "
        reqs = sorted(
            p
            for p in files.paths
            if (_dir(p) == base and _name(p).startswith("requirements") and p.endswith(".txt"))
            or _dir(p) == _join(base, "requirements")
        )
        rel = [p[len(base) + 1 :] if base else p for p in reqs]
        # A dev/test file that includes the base one (-r requirements.txt) is installed alone.
        dev = [
            r
            for r, full in zip(rel, reqs, strict=True)
            if re.search(r"dev|test|ci", _name(r))
            and re.search(r"^\s*-r\s+\S+", files.contents.get(full, ""), re.M)
        ]
        chosen = dev[:1] or rel
        lockfile = reqs[rel.index(chosen[0])] if chosen else None
        if chosen:
            install = " && ".join(f"pip install -r {r}" for r in chosen)
        else:
            install = "pip install -e ."
            own.append("no requirements file or lockfile: installs are not reproducible")
    has_tests = _has_python_tests(files, base, pyproject)
    test: str | None
    if manager == "tox":
        test = "tox -e py"
    elif has_tests:
        test = f"{runner}pytest"
        if "pytest" not in deps:
            own.append("tests found but pytest is not declared: declare it in the dev dependencies")
    else:
        test = None
        own.append("no tests found (test_*.py, conftest.py, [tool.pytest]): no test step")
    lint = None
    lint_env = next(
        (e for e in tox_envs if e in {"lint", "flake8", "ruff", "style", "check"}), None
    )
    if manager == "tox" and lint_env:
        lint = f"tox -e {lint_env}"
    elif "ruff" in deps:
        lint = f"{runner}ruff check ."
    elif "flake8" in deps and manager != "tox":
        lint = f"{runner}flake8"
    else:
        own.append("no linter declared (ruff, flake8 in the dev dependencies): no lint step")
    integration = None
    if test and any(p.startswith(_join(base, "tests/integration/")) for p in files.paths):
        integration = f"{test} tests/integration"
    name = str(
        project.get("name")
        or _dig(pyproject, "tool", "poetry", "name")
        or _setup_name(files, base)
        or _name(base)
        or ""
    )
    return Package(
        name=name,
        path=base,
        language="python",
        versions=versions,
        version_source=source,
        pinned_version=pinned,
        package_manager=manager,
        lockfile=lockfile,
        install_path=install_root if manager == "uv" else base,
        install=install,
        lint=lint,
        test=test,
        integration=integration,
        notes=tuple(own),
    )


def _setup_name(files: ProjectFiles, base: str) -> str | None:
    match = re.search(
        r"^\s*name\s*=\s*(\S+)", files.contents.get(_join(base, "setup.cfg"), ""), re.M
    )
    return match.group(1) if match else None


# Go


def _go_workspaces(files: ProjectFiles, by_name: dict[str, list[str]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in by_name.get("go.work", []):
        root = _dir(path)
        text = files.contents.get(path, "")
        uses = re.findall(r"^\s*use\s+(\S+)", text, re.M)
        block = re.search(r"^\s*use\s*\((.*?)\)", text, re.M | re.S)
        if block:
            uses += [line.split("//")[0].strip() for line in block.group(1).splitlines()]
        members = sorted(
            {
                str(PurePosixPath(_join(root, u.strip().strip('"')))).lstrip("./")
                if u.strip() not in {".", "./"}
                else root
                for u in uses
                if u.strip()
            }
        )
        found[root] = [m for m in members if _has(files, _join(m, "go.mod"))]
    return found


def _go_package(files: ProjectFiles, base: str, notes: list[str]) -> Package:
    gomod = files.contents.get(_join(base, "go.mod"), "")
    own: list[str] = []
    match = re.search(r"^go\s+(\d+\.\d+(?:\.\d+)?)", gomod, re.M)
    toolchain = re.search(r"^toolchain\s+go(\d+\.\d+(?:\.\d+)?)", gomod, re.M)
    if match:
        versions: tuple[str, ...] = (_major_minor(match.group(1)),)
        source = f"{_join(base, 'go.mod')} go directive"
        if toolchain:
            own.append(
                f"toolchain go{toolchain.group(1)} builds; the matrix tests the go directive"
            )
    else:
        versions, source = (DEFAULT_VERSION["go"],), "default"
        own.append(f"go.mod has no go directive: using {DEFAULT_VERSION['go']}")
    module = re.search(r"^module\s+(\S+)", gomod, re.M)
    prefix = base + "/" if base else ""
    has_tests = any(p.startswith(prefix) and p.endswith("_test.go") for p in files.paths)
    if not has_tests:
        own.append("no _test.go files: no test step")
    lockfile = _join(base, "go.sum") if _has(files, _join(base, "go.sum")) else None
    return Package(
        name=(module.group(1).rsplit("/", 1)[-1] if module else _name(base)),
        path=base,
        language="go",
        versions=versions,
        version_source=source,
        package_manager="go",
        lockfile=lockfile,
        install_path=base,
        install="go mod download",
        lint="go vet ./...",
        test="go test ./..." if has_tests else None,
        build="go build ./...",
        notes=tuple(own),
    )


# Rust


def _cargo_workspaces(files: ProjectFiles, by_name: dict[str, list[str]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    dirs = [_dir(p) for p in by_name.get("Cargo.toml", [])]
    for path in by_name.get("Cargo.toml", []):
        ws = _toml(files, path).get("workspace")
        if not isinstance(ws, dict):
            continue
        root = _dir(path)
        found[root] = _members(root, _member_patterns(ws), dirs)
    return found


def _cargo_excluded(files: ProjectFiles, by_name: dict[str, list[str]]) -> set[str]:
    """Directories a Cargo workspace excludes (fuzz targets and the like: not packages)."""
    excluded: set[str] = set()
    for path in by_name.get("Cargo.toml", []):
        ws = _toml(files, path).get("workspace")
        if isinstance(ws, dict):
            excluded.update(_join(_dir(path), str(e).rstrip("/")) for e in ws.get("exclude", []))
    return excluded


def _rust_package(files: ProjectFiles, root: str, members: list[str], notes: list[str]) -> Package:
    cargo = _toml(files, _join(root, "Cargo.toml"))
    own: list[str] = []
    # `rust-version.workspace = true` in [package] is a table: the workspace's value counts.
    msrv = next(
        (
            v
            for v in (
                _dig(cargo, "package", "rust-version"),
                _dig(cargo, "workspace", "package", "rust-version"),
            )
            if isinstance(v, str)
        ),
        None,
    )
    source = f"{_join(root, 'Cargo.toml')} rust-version"
    if not msrv:
        for m in members:
            msrv = _dig(_toml(files, _join(m, "Cargo.toml")), "package", "rust-version")
            if isinstance(msrv, str):
                source = f"{_join(m, 'Cargo.toml')} rust-version"
                break
    toolchain = _toml(files, _join(root, "rust-toolchain.toml"))
    channel = _dig(toolchain, "toolchain", "channel") or _first_line(
        files, _join(root, "rust-toolchain")
    )
    versions: tuple[str, ...]
    if isinstance(msrv, str):
        versions = (msrv, "stable")
    elif isinstance(channel, str):
        versions, source = (channel,), _join(root, "rust-toolchain.toml")
    else:
        versions, source = ("stable",), "default"
        own.append("no rust-version or rust-toolchain: testing on stable only")
    lockfile = _join(root, "Cargo.lock") if _has(files, _join(root, "Cargo.lock")) else None
    locked = " --locked" if lockfile else ""
    if not lockfile:
        own.append("no Cargo.lock: builds are not reproducible (no --locked)")
    workspace = " --workspace" if "workspace" in cargo else ""
    name = _dig(cargo, "package", "name") or _name(root)
    return Package(
        name=str(name),
        path=root,
        language="rust",
        versions=versions,
        version_source=source,
        package_manager="cargo",
        lockfile=lockfile,
        install_path=root,
        install=f"cargo fetch{locked}",
        lint=(
            f"cargo fmt --all --check && "
            f"cargo clippy{locked}{workspace} --all-targets -- -D warnings"
        ),
        test=f"cargo test{locked}{workspace}",
        build=f"cargo build{locked}{workspace} --release",
        members=tuple(members),
        notes=tuple(own),
    )


# Java


def _java_roots(
    files: ProjectFiles, by_name: dict[str, list[str]], builder: str
) -> dict[str, list[str]]:
    names = (
        ("pom.xml",)
        if builder == "maven"
        else ("settings.gradle", "settings.gradle.kts", "build.gradle", "build.gradle.kts")
    )
    dirs = sorted(
        {_dir(p) for n in names for p in by_name.get(n, [])}, key=lambda d: (d.count("/"), d)
    )
    roots: dict[str, list[str]] = {}
    for d in dirs:
        owner = next((r for r in roots if r == "" or d.startswith(r + "/")), None)
        if owner is not None:
            roots[owner].append(d)
        elif any(part in NON_PACKAGE_DIRS for part in d.split("/")):
            continue
        else:
            roots[d] = []
    return roots


def _java_version_maven(pom: str) -> str | None:
    for tag in (
        "maven.compiler.release",
        "java.version",
        "maven.compiler.target",
        "maven.compiler.source",
        "release",
    ):
        match = re.search(rf"<{re.escape(tag)}>\s*(?:1\.)?(\d+)\s*</{re.escape(tag)}>", pom)
        if match:
            return match.group(1)
    return None


def _java_version_gradle(text: str) -> str | None:
    for pattern in (
        r"JavaLanguageVersion\.of\(\s*(\d+)\s*\)",
        r"(?:source|target)Compatibility\s*=\s*JavaVersion\.VERSION_(?:1_)?(\d+)",
        r"(?:source|target)Compatibility\s*=\s*['\"]?(?:1\.)?(\d+)",
        r"jvmToolchain\(\s*(\d+)\s*\)",
    ):
        match = re.search(pattern, text)
        if match:
            return match.group(1)
    return None


def _java_package(
    files: ProjectFiles, root: str, members: list[str], builder: str, notes: list[str]
) -> Package:
    own: list[str] = []
    version: str | None = None
    source = "default"
    if builder == "maven":
        for d in [root, *members]:
            version = _java_version_maven(files.contents.get(_join(d, "pom.xml"), ""))
            if version:
                source = f"{_join(d, 'pom.xml')} compiler release"
                break
        wrapper = _has(files, _join(root, "mvnw"))
        tool = "./mvnw" if wrapper else "mvn"
        install = f"{tool} -B -q dependency:go-offline"
        test = f"{tool} -B verify"
        lockfile: str | None = _join(root, "pom.xml")
    else:
        for d in [root, *members]:
            for n in ("build.gradle.kts", "build.gradle"):
                version = _java_version_gradle(files.contents.get(_join(d, n), ""))
                if version:
                    source = f"{_join(d, n)} toolchain"
                    break
            if version:
                break
        wrapper = _has(files, _join(root, "gradlew"))
        tool = "./gradlew" if wrapper else "gradle"
        install = f"{tool} --no-daemon dependencies"
        test = f"{tool} build"
        lockfile = next(
            (
                _join(root, n)
                for n in (
                    "gradle/libs.versions.toml",
                    "settings.gradle.kts",
                    "settings.gradle",
                    "build.gradle.kts",
                    "build.gradle",
                )
                if _has(files, _join(root, n))
            ),
            None,
        )
    for name in (".java-version", ".sdkmanrc"):
        line = _first_line(files, _join(root, name))
        if line and not version:
            match = re.search(r"(\d+)", line.split("=")[-1])
            if match:
                version, source = match.group(1), _join(root, name)
    if not wrapper:
        own.append(
            f"no {'mvnw' if builder == 'maven' else 'gradlew'} wrapper: "
            "the build tool's version is whatever the image has"
        )
    if not version:
        version = DEFAULT_VERSION["java"]
        own.append(f"no Java version declared: using {version}")
    settings = files.contents.get(_join(root, "settings.gradle.kts"), "") + files.contents.get(
        _join(root, "settings.gradle"), ""
    )
    named = re.search(r"rootProject\.name\s*=\s*['\"]([^'\"]+)['\"]", settings)
    gradle_name = named.group(1) if named else ""
    project = files.contents.get(_join(root, "pom.xml"), "")
    artifact = re.search(
        r"<artifactId>([^<]+)</artifactId>",
        re.sub(r"<parent>.*?</parent>", "", project, flags=re.S),
    )
    return Package(
        name=(artifact.group(1) if artifact else gradle_name) or _name(root),
        path=root,
        language="java",
        versions=(version,),
        version_source=source,
        package_manager=builder,
        lockfile=lockfile,
        install_path=root,
        install=install,
        test=test,
        members=tuple(members),
        notes=tuple(own),
    )


# Deployables


_BACKEND = re.compile(r"^\s*(?:backend\s+\"[\w-]+\"|cloud)\s*\{", re.M)
_PROVIDER = re.compile(r"^\s*provider\s+\"[\w-]+\"\s*\{", re.M)
_COMMENT = re.compile(r"(?m)(?:#|//).*$|/\*.*?\*/", re.S)


def _terraform_roots(files: ProjectFiles) -> tuple[str, ...]:
    """Directories whose HCL declares a backend/cloud block or a provider, outside ``modules``."""
    dirs: dict[str, str] = {}
    for path in files.paths:
        if path.endswith(".tf"):
            d = _dir(path)
            dirs[d] = dirs.get(d, "") + _COMMENT.sub("", files.contents.get(path, ""))
    roots = []
    for d, text in sorted(dirs.items()):
        if "modules" in d.split("/") and not _BACKEND.search(text):
            continue
        if _BACKEND.search(text) or _PROVIDER.search(text):
            roots.append(d or ".")
    return tuple(roots)


_KIND = re.compile(r"^kind:\s*([A-Za-z]+)\s*$", re.M)
_API = re.compile(r"^apiVersion:\s*\S+", re.M)


def _kubernetes_manifests(files: ProjectFiles, charts: Sequence[str]) -> tuple[str, ...]:
    found = []
    chart_dirs = tuple(c + "/" if c != "." else "" for c in charts)
    for path in files.paths:
        if not path.endswith((".yaml", ".yml")) or path.startswith(
            (".github/", ".gitlab", ".circleci/")
        ):
            continue
        if any(path.startswith(c) for c in chart_dirs):
            continue
        text = files.contents.get(path, "")
        if _API.search(text) and _KIND.search(text) and "{{" not in text:
            found.append(path)
    return tuple(found)


# The repository's own CI, against the manifests


_CI_VERSION = re.compile(
    r"(node|python|go|java)[-_]version[\"']?\s*:\s*(\[[^\]]*\]|[\"']?[\w.*x-]+[\"']?)", re.I
)
_CI_IMAGE = re.compile(
    r"\b(?:image|docker)\s*:\s*(?:-\s*image:\s*)?[\"']?(?:cimg/|circleci/|library/)?(node|python|golang|maven|gradle|eclipse-temurin|openjdk|rust):([\w.-]+)",
    re.I,
)
_CI_INSTALL = re.compile(
    r"\b(npm (?:ci|install|i)\b|yarn(?: install)?\b|pnpm (?:i|install)\b|bun install\b"
    r"|poetry install\b|uv sync\b|pipenv (?:install|sync)\b|pip install -r\b)"
)
_MANAGER_OF = {
    "npm": "npm",
    "yarn": "yarn",
    "pnpm": "pnpm",
    "bun": "bun",
    "poetry": "poetry",
    "uv": "uv",
    "pipenv": "pipenv",
    "pip": "pip",
}
_LANG_OF_IMAGE = {
    "node": "node",
    "python": "python",
    "golang": "go",
    "maven": "java",
    "gradle": "java",
    "eclipse-temurin": "java",
    "openjdk": "java",
    "rust": "rust",
}


def _version_line(lang: str, version: str) -> str:
    return _major_minor(version) if lang in {"python", "go"} else version.split(".")[0]


def _ci_disagreements(
    files: ProjectFiles, ci_files: Sequence[str], packages: Sequence[Package]
) -> list[CiFinding]:
    findings: list[CiFinding] = []
    by_lang: dict[str, list[Package]] = {}
    for p in packages:
        by_lang.setdefault(p.language, []).append(p)
    for path in ci_files:
        text = files.contents.get(path, "")
        if not text:
            continue
        versions: dict[str, set[str]] = {}
        for lang, raw in _CI_VERSION.findall(text):
            if "${{" in raw or "matrix." in raw:
                continue
            # Plain versions only: not "graalpy24.1", "pypy3.9" or "3.13t".
            for v in re.findall(r"(?<![\w.])\d+(?:\.\d+)*(?![\w.])", raw):
                versions.setdefault(lang.lower(), set()).add(v)
        for image, tag in _CI_IMAGE.findall(text):
            lang = _LANG_OF_IMAGE[image.lower()]
            if lang == "java" and image.lower() in {"maven", "gradle"}:
                found = re.search(r"(?:temurin|jdk|openjdk)-?(\d+)", tag)
            else:
                found = re.match(r"(\d+(?:\.\d+)?)", tag)
            if found:
                versions.setdefault(lang, set()).add(found.group(1))
        for lang, seen in sorted(versions.items()):
            # Compared with every package of the language: a CI version is off only when no
            # package declares it.
            declared = [p for p in by_lang.get(lang, []) if p.version_source != "default"]
            if not declared:
                continue
            wanted = {_version_line(lang, v) for p in declared for v in p.versions}
            off = sorted(v for v in seen if _version_line(lang, v) not in wanted)
            if off:
                said = "; ".join(
                    f"{p.version_source} says {', '.join(p.versions)}" for p in declared[:2]
                )
                findings.append(
                    CiFinding(
                        file=path,
                        disagreement=f"tests {lang} {', '.join(off)} but {said}: the manifests win",
                    )
                )
        commands = {m.split()[0] for m in _CI_INSTALL.findall(text)}
        for family, langs in (
            ({"npm", "yarn", "pnpm", "bun"}, "node"),
            ({"poetry", "uv", "pipenv", "pip"}, "python"),
        ):
            used = commands & family
            managers = {p.package_manager.split("-")[0] for p in by_lang.get(langs, [])}
            if used and managers and not used & managers:
                locks = sorted({p.lockfile for p in by_lang.get(langs, []) if p.lockfile})
                findings.append(
                    CiFinding(
                        file=path,
                        disagreement=(
                            f"installs with {', '.join(sorted(used))} but the lockfile is "
                            f"{', '.join(locks) or 'absent'} ({', '.join(sorted(managers))}): "
                            "the manifests win"
                        ),
                    )
                )
    return findings
