"""`shipflow pipeline`: golden output for every fixture and platform, and each platform's own
validator on all of it (actionlint, jactionlint, check-jsonschema's vendored GitLab CI and
CircleCI schemas, the structural Jenkinsfile check)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from shipflow.generators.detect import Analysis, analyse_path
from shipflow.generators.pipeline import (
    ACTIONS,
    PLATFORMS,
    SERVICE_IMAGES,
    PipelineOptions,
    plan_pipeline,
    render_pipeline,
)
from tests.generators.jenkinsfile import check_jenkinsfile

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures"
GOLDEN = HERE / "golden" / "pipeline"
BIN = Path(sys.executable).parent
NAMES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())


def _analysis(name: str) -> Analysis:
    return analyse_path(FIXTURES / name)


def _render(name: str, platform: str, **options: object) -> str:
    plan = plan_pipeline(_analysis(name), PipelineOptions(platform=platform, **options))  # type: ignore[arg-type]
    (text,) = render_pipeline(plan).values()
    return text


@pytest.fixture(scope="module")
def rendered() -> dict[tuple[str, str], str]:
    return {(n, p): _render(n, p) for n in NAMES for p in PLATFORMS}


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("name", NAMES)
def test_output_matches_golden(
    name: str, platform: str, rendered: dict[tuple[str, str], str]
) -> None:
    golden = GOLDEN / name / platform
    text = rendered[(name, platform)]
    if os.environ.get("UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert golden.read_text() == text, f"{name}/{platform} differs from its golden file"


def _workflows(rendered: dict[tuple[str, str], str], root: Path) -> list[Path]:
    files = []
    for name in NAMES:
        path = root / ".github" / "workflows" / f"{name}.yml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered[(name, "github-actions")])
        files.append(path)
    return files


@pytest.mark.parametrize("linter", ["actionlint", "jactionlint"])
def test_github_workflows_pass_actionlint_and_jactionlint(
    linter: str, rendered: dict[tuple[str, str], str], tmp_path: Path
) -> None:
    """Both with shellcheck on PATH, so every run: script is checked too; jactionlint adds
    permissions, job timeouts, concurrency groups, actions and images pinned by digest."""
    files = _workflows(rendered, tmp_path)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        [BIN / linter, "--no-color", *files], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "shellcheck was not found" not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("platform", "schema"), [("gitlab-ci", "vendor.gitlab-ci"), ("circleci", "vendor.circle-ci")]
)
def test_gitlab_and_circleci_configs_pass_their_schemas(
    platform: str, schema: str, rendered: dict[tuple[str, str], str], tmp_path: Path
) -> None:
    files = []
    for name in NAMES:
        path = tmp_path / f"{name}.yml"
        path.write_text(rendered[(name, platform)])
        files.append(path)
    done = subprocess.run(
        [BIN / "check-jsonschema", "--builtin-schema", schema, *files],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", NAMES)
def test_jenkinsfiles_are_structurally_sound(
    name: str, rendered: dict[tuple[str, str], str]
) -> None:
    assert check_jenkinsfile(rendered[(name, "jenkins")]) == []


def test_the_jenkinsfile_check_catches_what_it_claims() -> None:
    broken = """pipeline {
      agent any
      stages {
        stage('a') { steps { sh 'x' }
                     stages { stage('b') { steps { sh 'y' } } } }
        stage('a') { when { sometimes 'x' } steps { echo 'hi' } }
        stage('c') { input { ok 'y' } matrix { axes { axis { name 'V' } } } }
        stage('d') { agent { docker { reuseNode true } } steps { } }
      }
    }"""
    problems = "\n".join(check_jenkinsfile(broken))
    for expected in (
        "needs exactly one of steps, stages",
        "duplicate stage name",
        "'sometimes' is not allowed in when",
        "input without a message",
        "matrix needs axes and stages",
        "docker agent without an image",
        "empty steps",
    ):
        assert expected in problems
    assert check_jenkinsfile("pipeline { agent any\n stages { stage('x') { steps { sh 'a") != []


# The install command always matches the lockfile present, the versions the manifests.
INSTALLS = {
    "node-npm": ("npm ci", ["20", "22", "24", "26"]),
    "node-yarn-classic": ("yarn install --frozen-lockfile", ["20.18.0"]),
    "node-yarn-berry": ("yarn install --immutable", ["18", "20", "22"]),
    "node-pnpm": ("pnpm install --frozen-lockfile", ["20", "22"]),
    "node-bun": ("bun install --frozen-lockfile", ["22"]),
    "python-pip": ("pip install -r requirements-dev.txt", ["3.11"]),
    "python-poetry": (
        "poetry install --no-interaction",
        ["3.10", "3.11", "3.12", "3.13", "3.14", "3.15"],
    ),
    "python-uv": ("uv sync --locked", ["3.11", "3.12", "3.13", "3.14", "3.15"]),
    "python-uv-workspace": ("uv sync --locked --all-packages", ["3.12", "3.13", "3.14", "3.15"]),
    "python-tox": ("python -m pip install tox==", ["3.9", "3.10", "3.11", "3.12"]),
    "go-service": ("go mod download", ["1.22"]),
    "java-maven": ("./mvnw -B -q dependency:go-offline", ["21"]),
    "java-gradle": ("./gradlew --no-daemon dependencies", ["17"]),
    "rust-workspace": ("cargo fetch --locked", ["1.75", "stable"]),
}
TESTS = {
    "go-service": "go test ./...",
    "java-maven": "./mvnw -B verify",
    "java-gradle": "./gradlew build",
    "rust-workspace": "cargo test --locked --workspace",
    "python-tox": "tox -e py",
    "python-uv": "uv run pytest",
}


@pytest.mark.parametrize("name", sorted(INSTALLS))
def test_install_command_and_versions_follow_the_manifests(
    name: str, rendered: dict[tuple[str, str], str]
) -> None:
    install, versions = INSTALLS[name]
    workflow = yaml.safe_load(rendered[(name, "github-actions")])
    runs = [s.get("run", "") for job in workflow["jobs"].values() for s in job.get("steps", [])]
    assert any(install in r for r in runs), runs
    tests = [job for job in workflow["jobs"].values() if job["name"].startswith("Test ")] or [
        job for job in workflow["jobs"].values() if job["name"].startswith("Lint ")
    ]
    matrix = tests[0].get("strategy", {}).get("matrix", {}).get("version")
    assert (matrix or [_setup_version(tests[0])]) == versions
    if name in TESTS:
        assert any(r == TESTS[name] for r in runs)
    for platform in ("gitlab-ci", "circleci", "jenkins"):
        assert install in rendered[(name, platform)]


def _setup_version(job: dict[str, object]) -> str:
    for step in job["steps"]:  # type: ignore[attr-defined]
        for key, value in step.get("with", {}).items():
            if key.endswith("-version"):
                return str(value)
        if "rustup default" in step.get("run", ""):
            return step["run"].rsplit(" ", 1)[-1]
    raise AssertionError("no version set up")


def test_no_test_script_means_no_test_step_and_it_is_said(
    rendered: dict[tuple[str, str], str],
) -> None:
    workflow = yaml.safe_load(rendered[("node-yarn-classic", "github-actions")])
    assert not any(j.startswith("test-") for j in workflow["jobs"])
    assert "lint-marketing-site" in workflow["jobs"]
    assert "no test script in package.json: no test step" in " ".join(
        _analysis("node-yarn-classic").notes
    )


def test_github_workflow_rules(rendered: dict[tuple[str, str], str]) -> None:
    workflow = yaml.safe_load(rendered[("node-npm", "github-actions")])
    jobs = workflow["jobs"]
    assert workflow["permissions"] == {}
    assert (
        workflow["concurrency"]["cancel-in-progress"]
        == "${{ github.event_name == 'pull_request' }}"
    )
    for job in jobs.values():
        assert job["timeout-minutes"] <= 30
        assert "write" not in json.dumps(job["permissions"]) or job["permissions"] == {
            "contents": "read",
            "packages": "write",
        }
        for step in job["steps"]:
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
    # fail fast: lint → unit tests (matrix) → integration tests with the services
    assert jobs["test-orders-api"]["needs"] == ["lint-orders-api"]
    assert jobs["integration-orders-api"]["needs"] == ["test-orders-api"]
    assert (
        jobs["integration-orders-api"]["services"]["postgres"]["image"]
        == SERVICE_IMAGES["postgres"]
    )
    # audits start at once, in parallel
    assert "needs" not in jobs["dependency-audit"]
    assert "needs" not in jobs["iac-scan"]
    # build once (sha tag), scan and deploy that digest; production waits for staging
    build = jobs["build-orders-api"]
    assert build["needs"] == ["integration-orders-api", "dependency-audit", "iac-scan"]
    push = next(s for s in build["steps"] if s.get("id") == "build")
    assert push["with"]["tags"].endswith(":${{ github.sha }}")
    staging = jobs["deploy-staging"]
    assert staging["environment"] == {"name": "staging"}
    assert staging["concurrency"] == {"group": "deploy-staging", "cancel-in-progress": False}
    script = staging["steps"][0]
    assert "${{ needs.build-orders-api.outputs.digest }}" in script["env"]["IMAGE_ORDERS_API"]
    assert 'orders-api="$IMAGE_ORDERS_API"' in script["run"]
    assert jobs["deploy-production"]["needs"][0] == "deploy-staging"
    assert jobs["deploy-production"]["environment"] == {"name": "production"}
    # caching keyed on the lockfile
    cache = next(
        s for s in jobs["lint-orders-api"]["steps"] if s["uses"] == ACTIONS["cache"] if "uses" in s
    )
    assert "hashFiles('package-lock.json')" in cache["with"]["key"]


def test_monorepo_packages_run_on_their_own_paths(rendered: dict[tuple[str, str], str]) -> None:
    workflow = yaml.safe_load(rendered[("monorepo-pnpm", "github-actions")])
    jobs = workflow["jobs"]
    assert set(jobs["changes"]["outputs"]) == {"apps_api", "apps_web", "packages_ui"}
    assert jobs["test-apps-web"]["if"] == "needs.changes.outputs.apps_web == 'true'"
    assert "test-packages-ui" not in jobs  # packages/ui has no test script
    gitlab = yaml.safe_load(rendered[("monorepo-pnpm", "gitlab-ci")])
    assert gitlab["test-apps-api"]["rules"] == [
        {"changes": ["apps/api/**/*", "package.json", "pnpm-lock.yaml"]}
    ]
    assert "changeset 'apps/web/**'" in rendered[("monorepo-pnpm", "jenkins")]


def test_manual_gate_on_every_platform(rendered: dict[tuple[str, str], str]) -> None:
    gitlab = yaml.safe_load(rendered[("go-service", "gitlab-ci")])
    assert gitlab["deploy-production"]["rules"][0]["when"] == "manual"
    assert gitlab["deploy-production"]["resource_group"] == "production"
    circle = yaml.safe_load(rendered[("go-service", "circleci")])
    jobs = circle["workflows"]["shipflow"]["jobs"]
    approval = next(j for j in jobs if isinstance(j, dict) and "approve-production" in j)
    assert approval["approve-production"]["type"] == "approval"
    assert "input {" in rendered[("go-service", "jenkins")]


def test_shipflow_handoff_runs_the_release_deployment() -> None:
    text = _render("go-service", "github-actions", shipflow_deployment="release/release")
    production = yaml.safe_load(text)["jobs"]["deploy-production"]
    assert 'prefect deployment run "release/release"' in production["steps"][0]["run"]
    assert production["steps"][0]["env"]["PREFECT_API_KEY"] == "${{ secrets.PREFECT_API_KEY }}"


def test_long_pipelines_are_flagged() -> None:
    plan = plan_pipeline(_analysis("java-maven"), PipelineOptions(platform="github-actions"))
    minutes, _ = plan.critical_path()
    assert minutes > 15
    assert any("over 15 min" in n for n in plan.notes)
