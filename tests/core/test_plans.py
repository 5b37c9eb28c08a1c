"""parse_plan over real `terraform show -json` plans captured by data/capture_plans.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shipflow.core.plans import Risk, changed_paths, parse_plan
from shipflow.errors import ConfigError

DATA = Path(__file__).parent / "data"


def load(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text())


def test_mixed_plan_groups_every_action_and_calls_out_destruction() -> None:
    summary = parse_plan(load("plan_mixed"))
    assert summary.creates == ("terraform_data.new",)
    assert summary.updates == ("terraform_data.web",)
    assert summary.deletes == ("terraform_data.old",)
    assert summary.replaces == ("terraform_data.db",)
    assert summary.risk is Risk.HIGH
    assert summary.headline() == "1 to add, 1 to change, 1 to destroy, 1 to replace"
    web = next(c for c in summary.changes if c.address == "terraform_data.web")
    assert "input.size" in web.changed_attributes
    assert "input.tags.env" not in web.changed_attributes
    db = next(c for c in summary.changes if c.address == "terraform_data.db")
    assert db.replace_paths == ("triggers_replace",)
    assert {o.name: o.sensitive for o in summary.output_changes} == {
        "db_secret": True,
        "web_size": False,
    }


def test_markdown_names_destroys_first_and_never_shows_values() -> None:
    plan = load("plan_mixed")
    assert "hunter2-hunter2" in json.dumps(plan)  # the raw plan does hold the secret
    text = parse_plan(plan).to_markdown(stack="prod/web", plan_sha256="ab" * 32)
    assert "hunter2" not in text
    assert text.index("## Destroys") < text.index("## Resources")
    assert "`terraform_data.db` will be **replaced** (forced by triggers_replace)" in text
    assert "ab" * 32 in text


def test_create_only_plan_is_low_risk() -> None:
    summary = parse_plan(load("plan_create"))
    assert summary.risk is Risk.LOW
    assert len(summary.creates) == 4
    assert summary.has_changes


def test_unchanged_plan_has_no_changes() -> None:
    summary = parse_plan(load("plan_nochange"))
    assert not summary.has_changes
    assert summary.risk is Risk.NONE
    assert summary.headline() == "no changes"
    assert summary.to_rows() == []


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ([], "plan"),
        ({"format_version": "2.0"}, "plan.format_version"),
        ({}, "plan.format_version"),
        ({"format_version": "1.2", "resource_changes": {}}, "plan.resource_changes"),
        (
            {"format_version": "1.2", "resource_changes": [{"address": "a.b", "change": {}}]},
            "plan.resource_changes[0].change.actions",
        ),
        (
            {
                "format_version": "1.2",
                "resource_changes": [{"address": "a.b", "change": {"actions": ["explode"]}}],
            },
            "plan.resource_changes[0].change.actions",
        ),
        (
            {"format_version": "1.2", "resource_changes": [{"change": {"actions": ["create"]}}]},
            "plan.resource_changes[0].address",
        ),
    ],
)
def test_malformed_plans_name_the_bad_field(doc: Any, field: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_plan(doc)
    assert err.value.field == field


@pytest.mark.parametrize(
    ("before", "after", "paths"),
    [
        ({"a": 1}, {"a": 1}, []),
        ({"a": 1}, {"a": 2}, ["a"]),
        ({"a": {"b": 1, "c": 2}}, {"a": {"b": 1, "c": 3}}, ["a.c"]),
        ({"l": [1, 2]}, {"l": [1, 3]}, ["l[1]"]),
        ({"l": [1, 2]}, {"l": [1]}, ["l"]),
        ({}, {"new": "x"}, ["new"]),
        ("x", "y", ["(value)"]),
    ],
)
def test_changed_paths(before: Any, after: Any, paths: list[str]) -> None:
    assert changed_paths(before, after) == paths
