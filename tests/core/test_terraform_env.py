"""The environment Terraform sees: the worker's, less what changes planning or output."""

from __future__ import annotations

from shipflow.core.terraform_env import parse_pass_env, terraform_environment

WORKER = {
    "PATH": "/usr/bin",
    "AWS_PROFILE": "prod",
    "HTTPS_PROXY": "http://proxy:3128",
    "TF_VAR_region": "eu-west-1",
    "TF_TOKEN_app_terraform_io": "tok",
    "TF_CLI_CONFIG_FILE": "/etc/terraformrc",
    "TF_PLUGIN_CACHE_DIR": "/cache",
    "TF_CLI_ARGS": "-parallelism=1",
    "TF_CLI_ARGS_plan": "-destroy",
    "TF_CLI_ARGS_apply": "-auto-approve",
    "TF_WORKSPACE": "staging",
    "TF_LOG": "TRACE",
    "TF_LOG_PATH": "/tmp/tf.log",
    "TF_DATA_DIR": "/elsewhere",
    "TF_REATTACH_PROVIDERS": "{}",
    "PREFECT_API_KEY": "pnu_secret",
}


def test_what_changes_planning_or_output_is_dropped_and_named() -> None:
    kept, dropped = terraform_environment(WORKER)
    assert dropped == (
        "TF_CLI_ARGS",
        "TF_CLI_ARGS_apply",
        "TF_CLI_ARGS_plan",
        "TF_DATA_DIR",
        "TF_LOG",
        "TF_LOG_PATH",
        "TF_REATTACH_PROVIDERS",
        "TF_WORKSPACE",
    )
    assert set(kept) == {
        "PATH",
        "AWS_PROFILE",
        "HTTPS_PROXY",
        "TF_VAR_region",
        "TF_TOKEN_app_terraform_io",
        "TF_CLI_CONFIG_FILE",
        "TF_PLUGIN_CACHE_DIR",
    }


def test_the_pass_list_lets_a_named_variable_through() -> None:
    kept, dropped = terraform_environment(WORKER, parse_pass_env("TF_LOG, TF_WORKSPACE"))
    assert kept["TF_LOG"] == "TRACE"
    assert kept["TF_WORKSPACE"] == "staging"
    assert "TF_LOG" not in dropped
    assert "TF_LOG_PATH" in dropped


def test_pass_env_parsing() -> None:
    assert parse_pass_env(None) == ()
    assert parse_pass_env("TF_LOG,TF_DATA_DIR  TF_WORKSPACE") == (
        "TF_LOG",
        "TF_DATA_DIR",
        "TF_WORKSPACE",
    )
