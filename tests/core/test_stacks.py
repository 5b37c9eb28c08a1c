"""Stack configuration read from HCL: state declared or not, and the Terraform it needs."""

from __future__ import annotations

import pytest

from shipflow.core.stacks import parse_version, read_stack_config, satisfies, version_problems
from shipflow.errors import ConfigError

S3_LOCKFILE = """
terraform {
  required_version = ">= 1.5"
  backend "s3" {
    bucket       = "state"
    key          = "web/terraform.tfstate"
    use_lockfile = true
  }
}
"""


@pytest.mark.parametrize(
    ("files", "backend", "keeps_state"),
    [
        ({"backend.tf": S3_LOCKFILE}, "s3", True),
        ({"main.tf": 'terraform {\n  cloud {\n    organization = "acme"\n  }\n}\n'}, None, True),
        ({"main.tf": 'terraform {\n  backend "local" {}\n}\n'}, "local", True),
        # a module: resources only; the words in a comment or a string are not a block
        (
            {
                "main.tf": '# backend "s3" lives in the root\nresource "terraform_data" "a" {\n'
                '  input = "backend \\"s3\\" {"\n}\n'
            },
            None,
            False,
        ),
        ({"main.tf.json": '{"terraform": {"backend": {"gcs": {"bucket": "b"}}}}'}, "gcs", True),
        ({}, None, False),
    ],
)
def test_backend_detection_parses_the_hcl(
    files: dict[str, str], backend: str | None, keeps_state: bool
) -> None:
    config = read_stack_config(files)
    assert config.backend == backend
    assert config.keeps_state is keeps_state


def test_invalid_hcl_is_a_config_error_naming_the_file() -> None:
    with pytest.raises(ConfigError) as err:
        read_stack_config({"broken.tf": "resource {\n"})
    assert err.value.field == "broken.tf"


@pytest.mark.parametrize(
    ("found", "files", "problems"),
    [
        ("1.11.4", {"backend.tf": S3_LOCKFILE}, []),
        (
            "1.9.8",
            {"backend.tf": S3_LOCKFILE},
            ["use_lockfile needs Terraform ≥ 1.10, found 1.9.8 (backend.tf)"],
        ),
        (
            "1.4.6",
            {"backend.tf": S3_LOCKFILE, "imports.tf": 'import {\n  to = a.b\n  id = "x"\n}\n'},
            [
                'required_version ">= 1.5" excludes Terraform 1.4.6',
                "use_lockfile needs Terraform ≥ 1.10, found 1.4.6 (backend.tf)",
                "an `import` block needs Terraform ≥ 1.5, found 1.4.6 (imports.tf)",
            ],
        ),
        (
            "1.6.0",
            {"r.tf": "removed {\n  from = a.b\n  lifecycle {\n    destroy = false\n  }\n}\n"},
            ["a `removed` block needs Terraform ≥ 1.7, found 1.6.0 (r.tf)"],
        ),
        (
            "1.13.0",
            {"a.tf": 'action "aws_lambda_invoke" "n" {\n}\n'},
            ["an `action` block needs Terraform ≥ 1.14, found 1.13.0 (a.tf)"],
        ),
        (
            "1.15.5",
            {"v.tf": 'terraform {\n  required_version = "~> 1.11.0"\n}\n'},
            ['required_version "~> 1.11.0" excludes Terraform 1.15.5'],
        ),
    ],
)
def test_version_problems_say_what_needs_which_version(
    found: str, files: dict[str, str], problems: list[str]
) -> None:
    assert version_problems(found, read_stack_config(files)) == problems


@pytest.mark.parametrize(
    ("version", "constraint", "ok"),
    [
        ("1.11.4", ">= 1.10", True),
        ("1.9.8", ">= 1.10", False),
        ("1.11.4", ">= 1.5, < 2.0", True),
        ("2.0.0", ">= 1.5, < 2.0", False),
        ("1.15.5", "~> 1.10", True),
        ("2.1.0", "~> 1.10", False),
        ("1.10.7", "~> 1.10.2", True),
        ("1.11.0", "~> 1.10.2", False),
        ("1.11.4", "= 1.11.4", True),
        ("1.11.4", "1.11.4", True),
        ("1.11.4", "!= 1.11.4", False),
    ],
)
def test_version_constraints(version: str, constraint: str, ok: bool) -> None:
    assert satisfies(parse_version(version), constraint) is ok


def test_a_bad_version_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        parse_version("latest")
