from __future__ import annotations

import pytest

from shipflow.core.worker import terraform_version_problem


@pytest.mark.parametrize(
    ("version", "problem"),
    [
        ("1.11.4", None),
        ("1.10.0", None),
        ("v1.10.0-beta1", None),
        ("1.15.5", None),
        ("2.0.0", None),
        ("1.9.8", "older than 1.10"),
        ("0.15.5", "older than 1.10"),
        ("unknown", "cannot read a version"),
    ],
)
def test_terraform_version_problem(version: str, problem: str | None) -> None:
    found = terraform_version_problem(version)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found
