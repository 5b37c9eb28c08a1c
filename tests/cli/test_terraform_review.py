"""`shipflow terraform review` on every captured plan, from a file and from stdin."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SHIPFLOW = str(Path(sys.executable).with_name("shipflow"))
DATA = Path(__file__).resolve().parents[1] / "core" / "data"
CASES = sorted(p.name for p in (DATA / "plans").iterdir() if p.is_dir())


def review(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SHIPFLOW, "terraform", "review", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def expected_exit(name: str) -> int:
    """Terraform's own verdict: errored plans 1, changes 2 (its -detailed-exitcode), none 0."""
    return int(json.loads((DATA / "plans" / name / "meta.json").read_text())["exit_code"])


@pytest.mark.parametrize("name", CASES)
def test_review_from_a_file_and_from_stdin_with_the_exit_codes(name: str) -> None:
    plan = DATA / "plans" / name / "plan.json"
    from_file = review(str(plan), "--schema", str(DATA / "schemas.json"), "--stack", "shop")
    assert from_file.returncode == expected_exit(name), from_file.stderr
    assert from_file.stdout.startswith("# Terraform plan for `shop`")
    from_stdin = review("-", "--json", stdin=plan.read_text())
    assert from_stdin.returncode == expected_exit(name), from_stdin.stderr
    result = json.loads(from_stdin.stdout)
    assert set(result) >= {
        "headline",
        "errored",
        "counts",
        "resources",
        "failing_checks",
        "deferred",
    }
    assert set(result["counts"]) == {
        "add",
        "change",
        "destroy",
        "replace",
        "import",
        "move",
        "forget",
        "read",
    }
    for resource in result["resources"]:
        assert set(resource) >= {"address", "previous_address", "action", "paths"}
    assert result["errored"] is (expected_exit(name) == 1)


def test_markdown_goes_out_verbatim() -> None:
    """Paths hold brackets (tags["team"]); nothing may read them as console markup."""
    plan = DATA / "plans" / "aws_everything" / "plan.json"
    done = review(str(plan), "--schema", str(DATA / "schemas.json"))
    assert '`tags["team"]`' in done.stdout


@pytest.mark.parametrize(
    ("args", "stdin", "code", "message"),
    [
        (["/no/such/plan.json"], None, 64, "plan: /no/such/plan.json is not a file"),
        (["-"], "not json", 1, "stdin: not JSON (Expecting value at line 1, column 1)"),
        (["-"], '{"format_version": "0.2"}', 1, "plan.format_version"),
        (
            ["-"],
            '{"format_version": "1.2", "resource_changes": '
            '[{"address": "a.b", "change": {"actions": [["create"]]}}]}',
            1,
            "plan.resource_changes[0].change.actions[0]",
        ),
    ],
)
def test_bad_input_is_one_line_without_a_traceback(
    args: list[str], stdin: str | None, code: int, message: str
) -> None:
    done = review(*args, stdin=stdin)
    assert done.returncode == code
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr
