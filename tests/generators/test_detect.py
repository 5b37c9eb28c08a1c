"""Project analysis on the fixture repositories: what each one really uses, and a fast walk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shipflow.generators.detect import ProjectFiles, analyse, analyse_path, scan

FIXTURES = Path(__file__).parent / "fixtures"

# fixture → [(path, language, package manager, versions, lockfile, lint, test)]
EXPECTED = {
    "node-npm": [
        (
            ".",
            "node",
            "npm",
            ("20", "22", "24", "26"),
            "package-lock.json",
            "npm run lint",
            "npm test",
        )
    ],
    "node-yarn-classic": [
        (".", "node", "yarn-classic", ("20.18.0",), "yarn.lock", "yarn run lint", None)
    ],
    "node-yarn-berry": [
        (".", "node", "yarn-berry", ("18", "20", "22"), "yarn.lock", "yarn run lint", "yarn test")
    ],
    "node-pnpm": [
        (".", "node", "pnpm", ("20", "22"), "pnpm-lock.yaml", "pnpm run lint", "pnpm test")
    ],
    "node-bun": [(".", "node", "bun", ("22",), "bun.lock", "bun run typecheck", "bun run test")],
    "python-pip": [
        (
            ".",
            "python",
            "pip",
            ("3.11",),
            "requirements-dev.txt",
            "python -m ruff check .",
            "python -m pytest",
        )
    ],
    "python-poetry": [
        (
            ".",
            "python",
            "poetry",
            ("3.10", "3.11", "3.12", "3.13", "3.14", "3.15"),
            "poetry.lock",
            "poetry run ruff check .",
            "poetry run pytest",
        )
    ],
    "python-uv": [
        (
            ".",
            "python",
            "uv",
            ("3.11", "3.12", "3.13", "3.14", "3.15"),
            "uv.lock",
            "uv run ruff check .",
            "uv run pytest",
        )
    ],
    "python-tox": [
        (
            ".",
            "python",
            "tox",
            ("3.9", "3.10", "3.11", "3.12"),
            "setup.cfg",
            "tox -e lint",
            "tox -e py",
        )
    ],
    "go-service": [(".", "go", "go", ("1.22",), "go.sum", "go vet ./...", "go test ./...")],
    "java-maven": [(".", "java", "maven", ("21",), "pom.xml", None, "./mvnw -B verify")],
    "java-gradle": [
        (".", "java", "gradle", ("17",), "settings.gradle.kts", None, "./gradlew build")
    ],
    "rust-workspace": [
        (
            ".",
            "rust",
            "cargo",
            ("1.75", "stable"),
            "Cargo.lock",
            "cargo fmt --all --check && "
            "cargo clippy --locked --workspace --all-targets -- -D warnings",
            "cargo test --locked --workspace",
        )
    ],
    "python-uv-workspace": [
        (
            ".",
            "python",
            "uv",
            ("3.12", "3.13", "3.14", "3.15"),
            "uv.lock",
            "uv run ruff check .",
            "uv run pytest",
        ),
        (
            "packages/api",
            "python",
            "uv",
            ("3.12", "3.13", "3.14", "3.15"),
            "uv.lock",
            "uv run ruff check .",
            "uv run pytest",
        ),
        (
            "packages/core",
            "python",
            "uv",
            ("3.12", "3.13", "3.14", "3.15"),
            "uv.lock",
            "uv run ruff check .",
            "uv run pytest",
        ),
        # excluded from the workspace: a project of its own, with nothing to run
        ("packages/legacy", "python", "pip", ("3.12",), None, None, None),
    ],
    "monorepo-pnpm": [
        ("apps/api", "node", "pnpm", ("22",), "pnpm-lock.yaml", "pnpm run lint", "pnpm test"),
        ("apps/web", "node", "pnpm", ("22",), "pnpm-lock.yaml", "pnpm run lint", "pnpm test"),
        ("packages/ui", "node", "pnpm", ("22",), "pnpm-lock.yaml", "pnpm run lint", None),
    ],
    "monorepo-polyglot": [
        (
            "services/api",
            "go",
            "go",
            ("1.23",),
            "services/api/go.sum",
            "go vet ./...",
            "go test ./...",
        ),
        (
            "services/web",
            "node",
            "npm",
            ("22",),
            "services/web/package-lock.json",
            "npm run lint",
            "npm test",
        ),
        (
            "services/worker",
            "python",
            "uv",
            ("3.12", "3.13"),
            "services/worker/uv.lock",
            "uv run ruff check .",
            "uv run pytest",
        ),
    ],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_packages_versions_managers_and_commands(name: str) -> None:
    analysis = analyse_path(FIXTURES / name)
    got = [
        (p.path or ".", p.language, p.package_manager, p.versions, p.lockfile, p.lint, p.test)
        for p in analysis.packages
    ]
    assert got == EXPECTED[name]


def test_every_fixture_is_covered() -> None:
    assert sorted(p.name for p in FIXTURES.iterdir() if p.is_dir()) == sorted(EXPECTED)


@pytest.mark.parametrize(
    ("name", "services"),
    [
        ("node-npm", ["postgres"]),  # docker-compose.yml
        ("node-yarn-berry", ["redis"]),  # .env.test
        ("python-pip", ["postgres", "redis"]),  # .env.test
        ("python-poetry", ["mongodb"]),  # docker-compose.test.yml
        ("java-maven", ["mysql"]),  # application-test.properties
        ("monorepo-pnpm", ["postgres"]),  # apps/api/docker-compose.yml
        ("go-service", []),
    ],
)
def test_services_the_tests_need(name: str, services: list[str]) -> None:
    assert [s.kind for s in analyse_path(FIXTURES / name).services] == services


def test_monorepo_kinds_and_path_filters() -> None:
    pnpm = analyse_path(FIXTURES / "monorepo-pnpm")
    assert pnpm.monorepo == "pnpm-workspace"
    api = next(p for p in pnpm.packages if p.path == "apps/api")
    assert api.paths == ("apps/api/**", "package.json", "pnpm-lock.yaml")
    assert api.install_path == ""  # installed once, at the workspace root
    assert api.integration == "pnpm run test:integration"
    assert [s.kind for s in api.services] == ["postgres"]
    web = next(p for p in pnpm.packages if p.path == "apps/web")
    assert web.services == ()  # the compose file is apps/api's
    polyglot = analyse_path(FIXTURES / "monorepo-polyglot")
    assert polyglot.monorepo == "polyglot"
    assert polyglot.terraform_roots == ("infra/envs/production",)  # modules/ is not a root
    assert polyglot.helm_charts == ("charts/web",)
    assert polyglot.kubernetes_manifests == ("deploy/k8s/api.yaml",)
    assert len(polyglot.dockerfiles) == 3
    assert analyse_path(FIXTURES / "rust-workspace").monorepo == "cargo-workspace"
    assert analyse_path(FIXTURES / "rust-workspace").packages[0].members == (
        "crates/cli",
        "crates/core",
    )
    assert analyse_path(FIXTURES / "java-gradle").packages[0].members == ("app", "lib")
    assert analyse_path(FIXTURES / "python-uv-workspace").monorepo == "uv-workspace"


def test_gitignored_and_test_directories_are_not_packages() -> None:
    polyglot = analyse_path(FIXTURES / "monorepo-polyglot")
    paths = [p.path for p in polyglot.packages]
    assert "scratch" not in paths  # .gitignore: scratch/
    assert "tests/e2e" not in paths
    assert any("tests/e2e/package.json: skipped" in n for n in polyglot.notes)


@pytest.mark.parametrize(
    ("name", "disagreement"),
    [
        ("node-npm", "tests node 16 but package.json engines.node '>=20' says 20, 22, 24, 26"),
        ("node-pnpm", "installs with npm but the lockfile is pnpm-lock.yaml (pnpm)"),
        ("node-pnpm", "tests node 18.20 but package.json engines.node '^20 || ^22' says 20, 22"),
        ("go-service", "tests go 1.20, 1.21 but go.mod go directive says 1.22"),
        ("monorepo-polyglot", "installs with pip but the lockfile is services/worker/uv.lock (uv)"),
        ("monorepo-polyglot", "tests python 3.9 but services/worker/pyproject.toml"),
    ],
)
def test_where_ci_disagrees_the_manifests_win(name: str, disagreement: str) -> None:
    findings = [c.disagreement for c in analyse_path(FIXTURES / name).ci]
    assert any(disagreement in f and f.endswith("the manifests win") for f in findings), findings


def test_the_lockfile_wins_over_package_manager_field() -> None:
    files = {
        "package.json": json.dumps(
            {"name": "x", "packageManager": "yarn@4.5.0", "scripts": {"test": "jest"}}
        ),
        "package-lock.json": "{}",
    }
    (package,) = analyse(ProjectFiles.from_mapping(files)).packages
    assert package.package_manager == "npm"
    assert package.install == "npm ci"
    assert any("the lockfile wins" in n for n in package.notes)


def test_npm_init_placeholder_test_script_is_no_test() -> None:
    files = {
        "package.json": json.dumps(
            {"name": "x", "scripts": {"test": 'echo "Error: no test specified" && exit 1'}}
        ),
    }
    (package,) = analyse(ProjectFiles.from_mapping(files)).packages
    assert package.test is None
    assert package.install == "npm install"


def test_walk_prunes_dependencies_virtualenvs_and_build_outputs(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text('{"name": "app"}')
    for noise in ("node_modules/left-pad", "dist", ".git/objects", "env/lib", "target/debug"):
        (tmp_path / noise).mkdir(parents=True)
        (tmp_path / noise / "package.json").write_text('{"name": "noise"}')
    (tmp_path / "env" / "pyvenv.cfg").write_text("home = /usr\n")  # a virtualenv of any name
    (tmp_path / ".gitignore").write_text("generated/\n")
    (tmp_path / "generated").mkdir()
    (tmp_path / "generated" / "package.json").write_text('{"name": "ignored"}')
    found = scan(tmp_path)
    assert found.paths == (".gitignore", "package.json") or found.paths == ("package.json",)
    assert [p.name for p in analyse(found).packages] == ["app"]


def test_unknown_project_says_what_it_looks_for(tmp_path: Path) -> None:
    from shipflow.errors import ConfigError

    (tmp_path / "README.md").write_text("hi")
    with pytest.raises(ConfigError, match=r"package\.json \(node\).*Cargo\.toml \(rust\)"):
        analyse_path(tmp_path)


# Rules fixed after running the detector on public repositories (vitejs/vite,
# BurntSushi/ripgrep, astral-sh/uv, spring-projects/spring-petclinic).


def _one(files: dict[str, str]) -> tuple[object, ...]:
    analysis = analyse(ProjectFiles.from_mapping(files))
    return analysis.packages


@pytest.mark.parametrize(
    ("engines", "lines"),
    [
        ("^20.19.0 || >=22.12.0", ("20", "22", "24", "26")),  # vite: the 20 line is in
        (">=18 <23", ("18", "20", "22")),
        ("22.x", ("22",)),
        ("^18.0.0", ("18",)),
    ],
)
def test_a_release_line_is_in_when_some_release_satisfies_the_range(
    engines: str, lines: tuple[str, ...]
) -> None:
    (package,) = _one({"package.json": json.dumps({"name": "x", "engines": {"node": engines}})})
    assert package.versions == lines  # type: ignore[attr-defined]


def test_package_json_with_a_byte_order_mark_is_read() -> None:
    (package,) = _one({"package.json": "\ufeff" + json.dumps({"name": "bom"})})
    assert package.name == "bom"  # type: ignore[attr-defined]


def test_rust_version_inherited_from_the_workspace() -> None:
    files = {
        "Cargo.toml": '[package]\nname = "rg"\nrust-version.workspace = true\n\n'
        '[workspace]\nmembers = ["crates/*"]\n\n[workspace.package]\nrust-version = "1.80"\n',
        "Cargo.lock": "version = 3\n",
        "fuzz/Cargo.toml": '[package]\nname = "fuzz"\n\n[workspace]\nmembers = ["."]\n',
    }
    (package,) = _one(files)  # the cargo-fuzz directory is not a package
    assert package.versions == ("1.80", "stable")  # type: ignore[attr-defined]


def test_ci_versions_are_plain_versions_only() -> None:
    files = {
        "pyproject.toml": '[project]\nname = "x"\nrequires-python = ">=3.12"\n',
        ".github/workflows/ci.yml": "jobs:\n  t:\n    steps:\n      - with:\n"
        '          python-version: "graalpy24.1"\n      - with:\n          python-version: 3.12\n',
    }
    assert analyse(ProjectFiles.from_mapping(files)).ci == ()


def test_dev_container_and_fixture_dockerfiles_are_not_images() -> None:
    files = {
        "pom.xml": "<project><artifactId>app</artifactId></project>",
        ".devcontainer/Dockerfile": "FROM x",
        "src/test/resources/Dockerfile": "FROM y",
        "Dockerfile": "FROM z",
    }
    assert analyse(ProjectFiles.from_mapping(files)).dockerfiles == ("Dockerfile",)


def test_a_large_workspace_runs_through_its_root_and_nested_fixtures_are_skipped() -> None:
    files = {
        "package.json": json.dumps({"name": "mono", "scripts": {"test": "vitest", "lint": "x"}}),
        "pnpm-lock.yaml": "lockfileVersion: '9.0'\n",
        "pnpm-workspace.yaml": "packages:\n  - 'packages/*'\n",
        "playground/package.json": json.dumps({"name": "pg", "scripts": {"test": "x"}}),
        "packages/x/test/fixtures/yarn/package.json": json.dumps({"workspaces": ["a"]}),
        **{
            f"packages/p{i}/package.json": json.dumps({"name": f"p{i}", "scripts": {"test": "t"}})
            for i in range(15)
        },
    }
    analysis = analyse(ProjectFiles.from_mapping(files))
    (package,) = analysis.packages  # playground/ has no lockfile: installed by the workspace
    assert package.test == "pnpm test"
    assert len(package.members) == 15
    assert analysis.monorepo == "pnpm-workspace"


def test_services_of_sample_projects_are_not_the_projects_own() -> None:
    # Found running the detector on shipflow itself: its generator fixtures' compose files
    # and test settings read as services shipflow's own tests need.
    analysis = analyse(
        ProjectFiles.from_mapping(
            {
                "pyproject.toml": '[project]\nname = "tool"\nrequires-python = ">=3.11"\n',
                "tests/docker-compose.yml": "services:\n  cache:\n    image: redis:7\n",
                "tests/fixtures/shop/docker-compose.yml": (
                    "services:\n  db:\n    image: postgres:16\n"
                ),
                "examples/api/.env.test": "MONGO_URL=mongodb://localhost:27017/test\n",
            }
        )
    )
    assert [s.kind for s in analysis.services] == ["redis"]
