"""`shipflow scaffold`: golden files; every file `terraform fmt`-clean and parsed by
python-hcl2; provider-free roots pass `terraform init -backend=false` + `validate`; the cloud
modules (whose providers cannot be downloaded here) are checked for structure instead."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

from shipflow.adapters.terraform import find_terraform
from shipflow.errors import ConfigError
from shipflow.generators.scaffold import (
    MODULE_DIR,
    PROVIDERS,
    ScaffoldSpec,
    render_scaffold,
)

GOLDEN = Path(__file__).parent / "golden" / "scaffold"
SPECS = {
    "aws": ScaffoldSpec(provider="aws", project="shop"),
    "aws-dynamodb": ScaffoldSpec(
        provider="aws", project="shop", environments=("production",), components=("network",),
        dynamodb_table="shop-tflocks",
    ),
    "gcp": ScaffoldSpec(provider="gcp", project="shop", gcp_project="shop-prod-4711"),
    "azure": ScaffoldSpec(provider="azure", project="shop"),
}  # fmt: skip


def _write(files: dict[Path, str], root: Path) -> Path:
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    return root


@pytest.mark.parametrize("name", sorted(SPECS))
def test_output_matches_golden(name: str) -> None:
    files = render_scaffold(SPECS[name])
    golden = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        _write(files, golden)
    on_disk = {p.relative_to(golden) for p in golden.rglob("*") if p.is_file()}
    assert on_disk == set(files)
    for relative, text in files.items():
        assert (golden / relative).read_text() == text, f"{name}/{relative} differs"


def _terraform() -> str:
    return find_terraform().path


def test_every_file_is_terraform_fmt_clean_and_parses(tmp_path: Path) -> None:
    for name, spec in SPECS.items():
        _write(render_scaffold(spec), tmp_path / name)
    done = subprocess.run(
        [_terraform(), "fmt", "-check", "-recursive", "-diff", "-no-color", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    parsed = 0
    for path in tmp_path.rglob("*"):
        if path.suffix in {".tf", ".tfvars"}:
            hcl2.loads(path.read_text())
            parsed += 1
    assert parsed > 150


@pytest.mark.parametrize("provider", PROVIDERS)
def test_provider_free_roots_init_and_validate(provider: str, tmp_path: Path) -> None:
    """A scaffold of only the naming component uses no registry provider: Terraform itself
    initialises and validates every root (no download; the backend is skipped)."""
    spec = ScaffoldSpec(provider=provider, project="shop", components=())  # type: ignore[arg-type]
    _write(render_scaffold(spec), tmp_path)
    env = {**os.environ, "TF_IN_AUTOMATION": "1"}
    roots = sorted(p for p in (tmp_path / "environments").glob("*/*") if p.is_dir())
    assert [r.relative_to(tmp_path).as_posix() for r in roots] == [
        "environments/production/naming",
        "environments/staging/naming",
    ]
    for root in roots:
        for argv in (["init", "-backend=false", "-input=false"], ["validate"]):
            done = subprocess.run(
                [_terraform(), *argv, "-no-color"],
                cwd=root,
                capture_output=True,
                text=True,
                env=env,
            )
            assert done.returncode == 0, done.stdout + done.stderr
        assert "Success! The configuration is valid." in done.stdout


# Structure of the cloud modules, checked without their providers.


def _clean(value: Any) -> Any:
    """python-hcl2 keeps the quotes of strings and labels and marks blocks; drop both."""
    if isinstance(value, dict):
        return {
            k.strip('"'): _clean(v)
            for k, v in value.items()
            if k not in {"__is_block__", "__comments__"}
        }
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _load(root: Path) -> dict[str, Any]:
    merged: dict[str, list[Any]] = {}
    for path in sorted(root.glob("*.tf")):
        for key, value in _clean(hcl2.loads(path.read_text())).items():
            merged.setdefault(key, []).extend(value)
    return merged


def _names(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {k: v for entry in entries for k, v in entry.items()}


def _refs(text: str, kind: str) -> set[str]:
    return set(re.findall(rf"\b{kind}\.([A-Za-z_][\w-]*)", text))


@pytest.mark.parametrize("provider", PROVIDERS)
def test_cloud_modules_and_roots_fit_together(provider: str, tmp_path: Path) -> None:
    spec = SPECS[provider]
    _write(render_scaffold(spec), tmp_path)
    modules: dict[str, dict[str, Any]] = {}
    for directory in sorted((tmp_path / "modules").iterdir()):
        assert {p.name for p in directory.iterdir()} == {
            "main.tf", "variables.tf", "outputs.tf", "versions.tf",
        }  # fmt: skip
        body = _load(directory)
        variables = _names(body.get("variable", []))
        text = "".join(p.read_text() for p in directory.glob("*.tf"))
        undeclared = _refs(text, "var") - set(variables)
        assert not undeclared, f"{directory.name}: var.{undeclared} not declared"
        for required in body["terraform"][0].get("required_providers", [{}]):
            for local, pin in required.items():
                assert pin["version"].startswith("~> "), f"{directory.name}: {local} unpinned"
        modules[directory.name] = {
            "variables": variables,
            "required": {n for n, v in variables.items() if "default" not in v},
            "outputs": set(_names(body.get("output", []))),
        }
    keys = set()
    for root in sorted(p for p in (tmp_path / "environments").glob("*/*")):
        body = _load(root)
        text = "".join(p.read_text() for p in root.glob("*.tf"))
        variables = _names(body.get("variable", []))
        assert not _refs(text, "var") - set(variables), root
        tfvars = _clean(hcl2.loads((root / "terraform.tfvars").read_text()))
        missing = {n for n, v in variables.items() if "default" not in v} - set(tfvars)
        assert missing <= {"admin_password"}, f"{root}: no value for {missing}"
        # every module call passes each required variable and nothing undeclared
        for call in body.get("module", []):
            for name, args in call.items():
                source = args["source"].rsplit("/", 1)[-1]
                module = modules[source]
                given = set(args) - {"source"}
                assert given <= set(module["variables"]), (
                    f"{root}/{name}: {given - set(module['variables'])}"
                )
                assert module["required"] <= given, f"{root}/{name}: {module['required'] - given}"
                used = set(re.findall(rf"module\.{name}\.(\w+)", text))
                assert used <= module["outputs"], (
                    f"{root}: module.{name}.{used - module['outputs']}"
                )
        # the network's outputs read through remote state exist
        network = modules.get(MODULE_DIR[provider]["network"])
        for output in re.findall(r"terraform_remote_state\.network\.outputs\.(\w+)", text):
            assert network is not None
            assert output in network["outputs"], f"{root}: network has no output {output}"
        # remote state: one key per environment per component, never local
        (backend,) = (
            body["terraform"][1]["backend"]
            if "backend" in body["terraform"][1]
            else body["terraform"][0]["backend"]
        )
        ((kind, config),) = backend.items()
        assert kind.strip('"') in {"s3", "gcs", "azurerm"}
        key = config.get("key") or config.get("prefix")
        assert key not in keys
        keys.add(key)
        if kind == "s3":
            assert config["encrypt"] is True
            assert config.get("use_lockfile") is True or config.get("dynamodb_table")
    assert len(keys) == len(spec.environments) * 4


def test_s3_locking_uses_the_lockfile_unless_dynamodb_is_asked_for() -> None:
    files = render_scaffold(SPECS["aws"])
    backend = files[Path("environments/production/database/backend.tf")]
    assert "use_lockfile = true" in backend
    assert "dynamodb" not in backend
    assert 'key          = "shop/production/database/terraform.tfstate"' in backend
    old = render_scaffold(SPECS["aws-dynamodb"])[Path("environments/production/network/backend.tf")]
    assert 'dynamodb_table = "shop-tflocks"' in old
    assert "use_lockfile" not in old


def test_drift_deployment_points_at_every_root() -> None:
    files = render_scaffold(SPECS["gcp"])
    deployment = yaml.safe_load(files[Path("drift.prefect.yaml")])["deployments"][0]
    assert deployment["entrypoint"].endswith("detect_drift.py:detect_drift")
    assert deployment["parameters"]["stacks"] == [
        f"infra/environments/{env}/{c}"
        for env in ("staging", "production")
        for c in ("naming", "network", "cluster", "database")
    ]
    readme = files[Path("README.md")]
    assert "gs://shop-tfstate/shop/production/cluster/default.tfstate" in readme


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"provider": "openstack"}, "provider: 'openstack' is not one of aws, gcp, azure"),
        ({"components": ("cluster",)}, "modules: cluster needs network"),
        ({"components": ("network", "queue")}, "modules: queue unknown"),
        ({"environments": ("Prod",)}, "env: 'Prod'"),
        ({"provider": "gcp", "dynamodb_table": "locks"}, "dynamodb-table"),
    ],
)
def test_bad_specs_name_the_field(change: dict[str, Any], message: str) -> None:
    spec = ScaffoldSpec(**{"provider": "aws", "project": "shop", **change})
    with pytest.raises(ConfigError, match=re.escape(message)):
        render_scaffold(spec)
