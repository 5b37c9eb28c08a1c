"""The plan review over real plans captured by data/capture_plans.py: Terraform's own JSON
and its own human output side by side, so every count is checked against Terraform's line."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from shipflow.core.plan_paths import shapes_from_schemas
from shipflow.core.plan_review import plan_event_payload, review_json, review_markdown, review_rows
from shipflow.core.plans import Action, Risk, parse_plan
from shipflow.errors import ConfigError

DATA = Path(__file__).parent / "data"
CASES = sorted(p.name for p in (DATA / "plans").iterdir() if p.is_dir())
SHAPES = shapes_from_schemas(json.loads((DATA / "schemas.json").read_text()))


def load(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text())


def case(name: str) -> tuple[dict[str, Any], str, dict[str, Any]]:
    folder = DATA / "plans" / name
    return (
        json.loads((folder / "plan.json").read_text()),
        (folder / "plan.txt").read_text(),
        json.loads((folder / "meta.json").read_text()),
    )


def terraform_line(human: str) -> dict[str, int]:
    """The numbers of Terraform's own ``Plan:`` line (all zero when it printed none)."""
    found = re.search(
        r"^Plan: (?:(\d+) to import, )?(\d+) to add, (\d+) to change, (\d+) to destroy\.",
        human,
        re.MULTILINE,
    )
    if found is None:
        return {"import": 0, "add": 0, "change": 0, "destroy": 0}
    imp, add, change, destroy = (int(g or 0) for g in found.groups())
    return {"import": imp, "add": add, "change": change, "destroy": destroy}


@pytest.mark.parametrize("name", CASES)
def test_counts_equal_terraforms_own_plan_line(name: str) -> None:
    doc, human, meta = case(name)
    summary = parse_plan(doc, SHAPES)
    counts = summary.counts.as_dict()
    assert {k: counts[k] for k in ("import", "add", "change", "destroy")} == terraform_line(human)
    # exit code of `plan -detailed-exitcode`: 1 failed, 2 changes, 0 none
    assert summary.errored is (meta["exit_code"] == 1)
    if meta["exit_code"] != 1:
        assert summary.has_changes is (meta["exit_code"] == 2)
        assert summary.approvable


@pytest.mark.parametrize(
    ("name", "headline"),
    [
        ("local_import", "Plan: 1 to import, 0 to add, 0 to change, 0 to destroy"),
        ("aws_import", "Plan: 1 to import, 0 to add, 0 to change, 0 to destroy"),
        ("local_moved", "Plan: 0 to add, 0 to change, 0 to destroy; 1 moved"),
        ("aws_moved", "Plan: 0 to add, 0 to change, 0 to destroy; 1 moved"),
        ("local_forget", "Plan: 0 to add, 0 to change, 0 to destroy, 1 to forget"),
        ("aws_forget", "Plan: 0 to add, 0 to change, 0 to destroy, 1 to forget"),
        (
            "aws_everything",
            "Plan: 1 to import, 1 to add, 1 to change, 0 to destroy, 1 to forget; 1 moved",
        ),
        (
            "local_everything",
            "Plan: 1 to import, 1 to add, 1 to change, 0 to destroy, 1 to forget; 1 moved",
        ),
        ("aws_check_fails", "No changes"),
        ("local_errored", "Planning failed. Plan: 1 to add, 0 to change, 0 to destroy (partial)"),
        ("aws_errored", "Planning failed. Plan: 1 to add, 0 to change, 0 to destroy (partial)"),
    ],
)
def test_headline_follows_terraforms_wording_with_imports_forgets_and_moves(
    name: str, headline: str
) -> None:
    assert parse_plan(case(name)[0], SHAPES).headline() == headline


def test_import_only_and_move_only_plans_are_changes_to_approve() -> None:
    imported = parse_plan(case("aws_import")[0])
    assert imported.has_changes
    assert imported.approvable
    assert imported.imports == ("aws_s3_bucket.legacy",)
    legacy = next(c for c in imported.changes if c.address == "aws_s3_bucket.legacy")
    assert legacy.action is Action.NO_OP
    assert legacy.importing
    assert legacy.import_id == "shop-legacy-made-by-hand"
    moved = parse_plan(case("aws_moved")[0])
    assert moved.has_changes
    [move] = moved.moves
    assert (move.previous_address, move.address) == (
        "aws_s3_bucket.logs",
        "aws_s3_bucket.access_logs",
    )
    text = review_markdown(moved, stack="shop")
    assert "move `aws_s3_bucket.logs` → `aws_s3_bucket.access_logs`" in text


def test_forget_is_counted_and_never_called_a_destroy() -> None:
    summary = parse_plan(case("aws_forget")[0])
    assert summary.counts.forget == 1
    assert summary.counts.destroy == 0
    assert summary.risk is Risk.MEDIUM
    text = review_markdown(summary, stack="shop")
    assert "`aws_s3_bucket.old_exports` will be **removed from state**, not destroyed" in text
    assert "destroyed**" not in text


def test_a_failed_plan_says_so_first_and_can_never_be_approved() -> None:
    summary = parse_plan(case("aws_errored")[0])
    assert summary.errored
    assert not summary.complete
    assert not summary.approvable
    text = review_markdown(summary, stack="shop")
    first = text.splitlines()[2]
    assert first.startswith(":no_entry: **Terraform could not finish this plan")
    assert [f.address for f in summary.failing_checks] == ["aws_s3_bucket.reports"]
    assert "reports need the web-v2 security group." in text


def test_failing_checks_are_listed_even_without_changes() -> None:
    summary = parse_plan(case("aws_check_fails")[0])
    assert not summary.has_changes
    assert summary.approvable
    [check] = summary.failing_checks
    assert check.address == "check.assets_have_an_owner"
    assert check.problems == ("The assets bucket has no owner tag.",)
    assert "## Failing checks" in review_markdown(summary, stack="shop")


def test_list_positions_and_set_elements_in_terraforms_notation() -> None:
    summary = parse_plan(case("aws_list_and_set")[0], SHAPES)
    paths = {c.address: c.paths for c in summary.changes if c.paths}
    assert paths == {
        "aws_s3_bucket_lifecycle_configuration.assets": ("rule[1].expiration[0].days",),
        "aws_security_group.web": ("ingress[*]",),  # a set: no position
    }


def test_map_keys_are_written_as_map_keys() -> None:
    summary = parse_plan(case("aws_everything")[0], SHAPES)
    assets = next(c for c in summary.changes if c.address == "aws_s3_bucket.assets")
    assert assets.paths == ('tags["team"]', 'tags_all["team"]')


def test_a_sensitive_map_is_one_path() -> None:
    summary = parse_plan(case("local_sensitive_map")[0])
    keys = next(c for c in summary.changes if c.address == "localfile_file.keys")
    assert keys.paths == ("tags",)


def sensitive_leaves(doc: dict[str, Any]) -> tuple[set[str], set[str]]:
    """Every value and key below a node Terraform marks sensitive, in every change; keys that
    Terraform itself shows elsewhere unmarked are left out (AWS's ``tags_all`` copies the keys
    of ``tags`` without the mark, and Terraform prints them)."""
    values: set[str] = set()
    hidden_keys: set[str] = set()
    shown_keys: set[str] = set()

    def walk(value: Any, marks: Any, inside: bool) -> None:
        inside = inside or marks is True
        if isinstance(value, dict):
            for k, v in value.items():
                (hidden_keys if inside else shown_keys).add(k)
                walk(v, marks.get(k) if isinstance(marks, dict) else None, inside)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                sub = marks[i] if isinstance(marks, list) and i < len(marks) else None
                walk(v, sub, inside)
        elif inside and isinstance(value, str):
            values.add(value)

    entries = [*doc.get("resource_changes", []), *doc.get("resource_drift", [])]
    changes = [e["change"] for e in entries] + list(doc.get("output_changes", {}).values())
    for change in changes:
        walk(change.get("before"), change.get("before_sensitive"), False)
        walk(change.get("after"), change.get("after_sensitive"), False)
    for name, var in (doc.get("variables") or {}).items():
        declared = doc.get("configuration", {}).get("root_module", {}).get("variables") or {}
        if declared.get(name, {}).get("sensitive"):
            walk(var.get("value"), True, True)
    return {v for v in values if len(v) >= 4}, hidden_keys - shown_keys


@pytest.mark.parametrize("name", CASES)
def test_no_sensitive_key_or_value_reaches_markdown_json_artifact_or_event(name: str) -> None:
    doc, _, _ = case(name)
    values, keys = sensitive_leaves(doc)
    summary = parse_plan(doc, SHAPES)
    published = "\n".join(
        [
            review_markdown(summary, stack="shop", plan_sha256="ab" * 32),
            json.dumps(review_json(summary)),
            json.dumps(review_rows(summary)),
            json.dumps(plan_event_payload(summary, "ab" * 32)),
            summary.model_dump_json(),
        ]
    )
    for secret in values:
        assert secret not in published, f"{name}: a sensitive value reached the review"
    for key in keys:
        assert key not in published, f"{name}: the key {key!r} of a sensitive value"


def test_the_captured_plans_do_hold_sensitive_values() -> None:
    values, keys = sensitive_leaves(case("local_sensitive_map")[0])
    assert {"s3cr3t-value-2"} <= values
    assert "secret-name" in keys
    aws_values, _ = sensitive_leaves(case("aws_sensitive_map")[0])
    assert {"acme-bank", "cc-2077"} <= aws_values


def test_mixed_plan_groups_every_action_and_calls_out_destruction() -> None:
    summary = parse_plan(load("plan_mixed"))
    assert summary.creates == ("terraform_data.new",)
    assert summary.updates == ("terraform_data.web",)
    assert summary.deletes == ("terraform_data.old",)
    assert summary.replaces == ("terraform_data.db",)
    assert summary.risk is Risk.HIGH
    assert summary.headline() == "Plan: 2 to add, 1 to change, 2 to destroy"
    web = next(c for c in summary.changes if c.address == "terraform_data.web")
    assert "input.size" in web.paths
    db = next(c for c in summary.changes if c.address == "terraform_data.db")
    assert db.replace_paths == ("triggers_replace",)
    assert {o.name: o.sensitive for o in summary.output_changes} == {
        "db_secret": True,
        "web_size": False,
    }
    text = review_markdown(summary, stack="prod/web", plan_sha256="ab" * 32)
    assert "hunter2" not in text
    assert text.index("## Destroys and forgets") < text.index("## Resources")


def test_unchanged_plan_has_no_changes() -> None:
    summary = parse_plan(load("plan_nochange"))
    assert not summary.has_changes
    assert summary.risk is Risk.NONE
    assert summary.headline() == "No changes"
    assert review_rows(summary) == []


def minimal(**fields: Any) -> dict[str, Any]:
    return {"format_version": "1.2", "terraform_version": "1.15.5", **fields}


def test_deferred_changes_make_the_plan_incomplete_and_are_listed() -> None:
    # Terraform writes deferred_changes only with deferral allowed (an experiment not in
    # release builds), so this one case follows the documented JSON format.
    doc = minimal(
        complete=False,
        deferred_changes=[
            {
                "reason": "provider_config_unknown",
                "resource_change": {
                    "address": "kubernetes_namespace.app",
                    "mode": "managed",
                    "type": "kubernetes_namespace",
                    "name": "app",
                    "change": {"actions": ["create"], "before": None, "after": {}},
                },
            }
        ],
    )
    summary = parse_plan(doc)
    assert not summary.approvable
    assert summary.headline() == "Plan incomplete. No changes; 1 deferred"
    assert "provider_config_unknown" in review_markdown(summary, stack="k8s")
    assert review_json(summary)["deferred"] == [
        {
            "address": "kubernetes_namespace.app",
            "action": "create",
            "reason": "provider_config_unknown",
        }
    ]


def test_action_invocations_are_changes_and_listed() -> None:
    # The shape Terraform ≥ 1.14 writes (terraform-json's testdata/actions).
    doc = minimal(
        action_invocations=[
            {
                "address": "action.aws_lambda_invoke.notify",
                "type": "aws_lambda_invoke",
                "name": "notify",
                "provider_name": "registry.terraform.io/hashicorp/aws",
                "lifecycle_action_trigger": {
                    "triggering_resource_address": "aws_s3_bucket.assets",
                    "action_trigger_event": "after_create",
                    "action_trigger_block_index": 0,
                    "actions_list_index": 0,
                },
            }
        ]
    )
    summary = parse_plan(doc)
    assert summary.has_changes
    assert summary.headline().endswith("; 1 action(s) to invoke")
    assert summary.actions[0].trigger == "after_create of aws_s3_bucket.assets"


def test_a_newer_format_minor_is_read_with_a_warning() -> None:
    summary = parse_plan(minimal(format_version="1.3"))
    assert summary.warnings
    assert "1.3" in summary.warnings[0]
    assert ":information_source:" in review_markdown(summary, stack="s")


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ([], "plan"),
        ({"format_version": "2.0"}, "plan.format_version"),
        ({"format_version": "0.2"}, "plan.format_version"),
        ({}, "plan.format_version"),
        (minimal(resource_changes={}), "plan.resource_changes"),
        (
            minimal(resource_changes=[{"address": "a.b", "change": {}}]),
            "plan.resource_changes[0].change.actions",
        ),
        (
            minimal(resource_changes=[{"address": "a.b", "change": {"actions": ["explode"]}}]),
            "plan.resource_changes[0].change.actions[0]",
        ),
        (
            minimal(resource_changes=[{"address": "a.b", "change": {"actions": [["create"]]}}]),
            "plan.resource_changes[0].change.actions[0]",
        ),
        (
            minimal(
                resource_changes=[{"address": "a.b", "change": {"actions": ["create", "read"]}}]
            ),
            "plan.resource_changes[0].change.actions",
        ),
        (
            minimal(resource_changes=[{"change": {"actions": ["create"]}}]),
            "plan.resource_changes[0].address",
        ),
        (minimal(errored="maybe"), "plan.errored"),
        (minimal(checks=[{"status": "fail"}]), "plan.checks[0].address"),
        (minimal(output_changes={"x": {"actions": "create"}}), "plan.output_changes.x.actions"),
    ],
)
def test_malformed_plans_are_a_config_error_naming_the_json_path(doc: Any, field: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_plan(doc)
    assert err.value.field == field
