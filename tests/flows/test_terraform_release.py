"""terraform_release against real Terraform, S3 state on moto and a real Prefect server."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest
from prefect.blocks.system import Secret

from shipflow.adapters.terraform import Terraform, find_terraform
from shipflow.flows.terraform_release import terraform_release
from tests.harness.prefect_api import (
    api,
    artifacts,
    events,
    logs,
    read_flow_run,
    resume_as_ui,
    start_in_background,
)
from tests.harness.stacks import S3Stack, make_s3_stack
from tests.harness.tfprovider.install import PROVIDER_BLOCK, install

pytestmark = pytest.mark.usefixtures("prefect_server")


def resource_id(stack: S3Stack) -> str:
    return f"shipflow.terraform.stack.{stack.name}"


def test_approved_plan_is_applied_and_state_in_s3_holds_the_new_serial(s3_stack: S3Stack) -> None:
    run = start_in_background(terraform_release, stack=str(s3_stack.path), approval_timeout=120)
    paused = run.wait_paused()
    assert s3_stack.serial() is None  # nothing applied while waiting
    response = resume_as_ui(paused.id, {"approve": True, "approver": "alice", "comment": "lgtm"})
    assert response.status_code == 201, response.text
    state = run.join()
    assert state.is_completed(), state.message
    assert state.message == (
        f"applied {s3_stack.name}: Plan: 3 to add, 0 to change, 0 to destroy; "
        "approved by alice: lgtm"
    )
    assert s3_stack.serial() == 1
    assert len(s3_stack.state()["resources"][0]["instances"]) == 3

    keys = {a["key"] for a in artifacts(paused.id)}
    assert {
        f"plan-{s3_stack.name}",
        f"plan-resources-{s3_stack.name}",
        f"outputs-{s3_stack.name}",
    } <= keys
    plan_md = next(a for a in artifacts(paused.id) if a["key"] == f"plan-{s3_stack.name}")
    assert "3 to add" in plan_md["data"]
    found = events(resource_id(s3_stack), until=lambda n: "shipflow.terraform.applied" in n)
    names = [e["event"] for e in found]
    assert names == [
        "shipflow.terraform.planned",
        "shipflow.terraform.approved",
        "shipflow.terraform.applied",
    ]


def test_rejection_applies_nothing_and_cancels_with_the_comment(s3_stack: S3Stack) -> None:
    run = start_in_background(terraform_release, stack=str(s3_stack.path), approval_timeout=120)
    paused = run.wait_paused()
    resume_as_ui(paused.id, {"approve": False, "approver": "bob", "comment": "wrong region"})
    state = run.join()
    assert state.is_cancelled()
    assert state.message == "rejected by bob: wrong region"
    assert s3_stack.serial() is None
    found = events(resource_id(s3_stack), until=lambda n: "shipflow.terraform.rejected" in n)
    assert "shipflow.terraform.rejected" in [e["event"] for e in found]


def test_the_form_asks_for_a_choice_and_a_second_plan_of_the_stack_is_refused(
    s3_stack: S3Stack,
) -> None:
    run = start_in_background(terraform_release, stack=str(s3_stack.path), approval_timeout=120)
    paused = run.wait_paused()
    keyset = read_flow_run(paused.id).state.state_details.run_input_keyset
    schema = httpx.get(api(f"/flow_runs/{paused.id}/input/{keyset['schema']}")).json()
    # A person must choose: no default, and the switch says what each position does.
    assert "approve" in schema["required"]
    assert "default" not in schema["properties"]["approve"]
    assert "nothing is applied" in schema["properties"]["approve"]["description"]
    description = httpx.get(api(f"/flow_runs/{paused.id}/input/{keyset['description']}")).json()
    assert "sha256" in description

    second = terraform_release(stack=str(s3_stack.path), approval_timeout=60, return_state=True)
    assert second.is_cancelled()
    assert "already has a plan awaiting approval" in second.message
    assert str(paused.id) in second.message  # the link to the run that waits
    assert read_flow_run(paused.id).state.is_paused()

    resume_as_ui(paused.id, {"approve": False, "approver": "dan", "comment": "not today"})
    assert run.join().message == "rejected by dan: not today"
    assert any("open " in line and str(paused.id) in line for line in logs(paused.id))


def test_approval_timeout_cancels_and_applies_nothing(s3_stack: S3Stack) -> None:
    state = terraform_release(stack=str(s3_stack.path), approval_timeout=2, return_state=True)
    assert state.is_cancelled()
    assert "approval timed out after 2s" in state.message
    assert s3_stack.serial() is None


def test_invalid_form_input_is_refused_and_the_run_stays_paused(s3_stack: S3Stack) -> None:
    run = start_in_background(terraform_release, stack=str(s3_stack.path), approval_timeout=120)
    paused = run.wait_paused()
    refused = resume_as_ui(paused.id, {"approve": "maybe", "approver": "mallory"})
    assert refused.json()["status"] == "REJECT", refused.text
    assert "approve" in refused.json()["details"]["reason"]
    assert read_flow_run(paused.id).state.is_paused()
    assert (
        resume_as_ui(paused.id, {"approve": False, "approver": "carol"}).json()["status"]
        == "ACCEPT"
    )
    assert run.join().is_cancelled()
    assert s3_stack.serial() is None


def test_a_stale_plan_is_refused_when_state_moved_while_waiting(
    s3_stack: S3Stack, tmp_path: Path
) -> None:
    run = start_in_background(terraform_release, stack=str(s3_stack.path), approval_timeout=120)
    paused = run.wait_paused()
    # Someone else applies to the same state while the plan waits for approval.
    other = tmp_path / "other"
    shutil.copytree(s3_stack.path, other, ignore=shutil.ignore_patterns(".terraform*"))
    tf = Terraform(workdir=other, binary=find_terraform())
    tf.init()
    tf.apply(tf.plan(tmp_path / "other.tfplan").plan_file)
    assert s3_stack.serial() == 1
    resume_as_ui(paused.id, {"approve": True, "approver": "alice"})
    state = run.join()
    assert state.is_failed()
    assert "stale plan, re-plan" in state.message
    assert "serial 1" in state.message
    assert s3_stack.serial() == 1  # our plan was not applied on top


def test_a_held_lock_fails_with_its_owner_and_is_never_removed(s3_stack: S3Stack) -> None:
    s3_stack.write_lock(who="alice@laptop", lock_id="lock-7")
    state = terraform_release(stack=str(s3_stack.path), auto_approve=True, return_state=True)
    assert state.is_failed()
    assert "locked by alice@laptop (lock ID lock-7" in state.message
    assert s3_stack.lock_exists()
    assert s3_stack.serial() is None


def test_no_changes_completes_without_a_pause(s3_stack: S3Stack) -> None:
    first = terraform_release(stack=str(s3_stack.path), auto_approve=True, return_state=True)
    assert first.is_completed()
    second = terraform_release(stack=str(s3_stack.path), approval_timeout=1, return_state=True)
    assert second.is_completed()
    assert second.message == f"no changes for {s3_stack.name}"
    assert s3_stack.serial() == 1


def test_dynamodb_locking_stack_is_applied(moto, tmp_path: Path) -> None:
    stack = make_s3_stack(tmp_path, moto.endpoint, dynamodb=True)
    state = terraform_release(stack=str(stack.path), auto_approve=True, return_state=True)
    assert state.is_completed(), state.message
    assert stack.serial() == 1


def test_secrets_never_reach_logs_artifacts_events_or_state_messages(
    s3_stack: S3Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_secret = "env-s3cret-d0-not-leak"
    block_secret = "block-s3cret-d0-not-leak"
    Secret(value=block_secret).save("tf-api-token", overwrite=True)
    monkeypatch.setenv("TF_VAR_db_password", env_secret)
    (s3_stack.path / "secrets.tf").write_text(
        'variable "db_password" {\n  type = string\n  sensitive = true\n}\n'
        'variable "api_token" {\n  type = string\n  sensitive = true\n}\n'
        'resource "terraform_data" "db" { input = var.db_password }\n'
        'resource "terraform_data" "api" { input = var.api_token }\n'
        'output "db" {\n  value = terraform_data.db.output\n  sensitive = true\n}\n'
    )
    run = start_in_background(
        terraform_release,
        stack=str(s3_stack.path),
        approval_timeout=120,
        secret_vars={"api_token": "tf-api-token"},
    )
    paused = run.wait_paused()
    resume_as_ui(paused.id, {"approve": True, "approver": "alice"})
    state = run.join()
    assert state.is_completed(), state.message
    raw_state = json.dumps(s3_stack.state())
    assert env_secret in raw_state  # both secrets really were used
    assert block_secret in raw_state
    seen = json.dumps(
        {
            "logs": logs(paused.id),
            "artifacts": artifacts(paused.id),
            "events": events(resource_id(s3_stack), until=lambda n: len(n) >= 3),
            "message": state.message,
            "run": read_flow_run(paused.id).model_dump(mode="json"),
        }
    )
    assert "alice" in seen
    assert env_secret not in seen
    assert block_secret not in seen

    # A failing command's error is redacted too.
    (s3_stack.path / "broken.tf").write_text('resource "terraform_data" "x" { input = var.nope }\n')
    failed = terraform_release(stack=str(s3_stack.path), auto_approve=True, return_state=True)
    assert failed.is_failed()
    assert env_secret not in failed.message


@pytest.fixture
def provider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The `shipflow/localfile` test provider (it can import: an existing file)."""
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(install(tmp_path / "tf")))


def state_list(path: Path) -> list[str]:
    if not (path / "terraform.tfstate").exists():
        return []
    tf = Terraform(workdir=path, binary=find_terraform())
    return tf.run(["state", "list"]).stdout.split()


def file_resource(name: str, path: Path, content: str) -> str:
    body = f'  path    = "{path}"\n  content = "{content}"\n'
    return f'resource "localfile_file" "{name}" {{\n{body}}}\n'


def test_an_import_only_plan_pauses_for_approval_and_imports(
    provider: None, tmp_path: Path
) -> None:
    made_by_hand = tmp_path / "legacy.json"
    made_by_hand.write_text(json.dumps({"content": "by hand", "tags": None}))
    stack = tmp_path / "stack"
    stack.mkdir()
    (stack / "main.tf").write_text(
        PROVIDER_BLOCK
        + file_resource("legacy", made_by_hand, "by hand")
        + f'import {{\n  to = localfile_file.legacy\n  id = "{made_by_hand}"\n}}\n'
    )
    run = start_in_background(terraform_release, stack=str(stack), approval_timeout=120)
    paused = run.wait_paused()  # an import is a change: it waits for a human
    review = next(a for a in artifacts(paused.id) if a["key"] == "plan-stack")
    assert "Plan: 1 to import, 0 to add, 0 to change, 0 to destroy" in review["data"]
    assert "localfile_file.legacy" not in state_list(stack)
    resume_as_ui(paused.id, {"approve": True, "approver": "alice"})
    state = run.join()
    assert state.is_completed(), state.message
    assert state_list(stack) == ["localfile_file.legacy"]
    assert made_by_hand.read_text() == json.dumps({"content": "by hand", "tags": None})


def test_a_move_only_plan_is_applied_once_approved(provider: None, tmp_path: Path) -> None:
    stack = tmp_path / "stack"
    stack.mkdir()
    target = tmp_path / "motd.json"
    (stack / "main.tf").write_text(PROVIDER_BLOCK + file_resource("motd", target, "hello"))
    first = terraform_release(stack=str(stack), auto_approve=True, return_state=True)
    assert first.is_completed(), first.message
    (stack / "main.tf").write_text(
        PROVIDER_BLOCK
        + file_resource("banner", target, "hello")
        + "moved {\n  from = localfile_file.motd\n  to   = localfile_file.banner\n}\n"
    )
    run = start_in_background(terraform_release, stack=str(stack), approval_timeout=120)
    paused = run.wait_paused()
    resume_as_ui(paused.id, {"approve": True, "approver": "alice"})
    state = run.join()
    assert state.is_completed(), state.message
    assert state.message == (
        "applied stack: Plan: 0 to add, 0 to change, 0 to destroy; 1 moved; "
        "approved by alice: no comment"
    )
    assert state_list(stack) == ["localfile_file.banner"]


def test_a_plan_that_fails_part_way_is_shown_and_never_offered_for_approval(
    s3_stack: S3Stack,
) -> None:
    (s3_stack.path / "gate.tf").write_text(
        'resource "terraform_data" "gate" {\n  input = "x"\n  lifecycle {\n'
        "    precondition {\n      condition     = length(terraform_data.item) > 5\n"
        '      error_message = "need more than five items before the gate"\n    }\n  }\n}\n'
    )
    state = terraform_release(stack=str(s3_stack.path), approval_timeout=1, return_state=True)
    assert state.is_failed()
    assert "need more than five items before the gate" in state.message
    run_id = state.state_details.flow_run_id
    review = next(a for a in artifacts(run_id) if a["key"] == f"plan-{s3_stack.name}")
    assert "Terraform could not finish this plan" in review["data"]
    assert s3_stack.serial() is None  # nothing applied


def test_tf_cli_args_on_the_worker_change_nothing_and_are_reported(
    s3_stack: S3Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = terraform_release(stack=str(s3_stack.path), auto_approve=True, return_state=True)
    assert first.is_completed(), first.message
    monkeypatch.setenv("TF_CLI_ARGS_plan", "-destroy")
    monkeypatch.setenv("TF_CLI_ARGS_apply", "-parallelism=1")
    s3_stack.write_resources(4)
    state = terraform_release(stack=str(s3_stack.path), auto_approve=True, return_state=True)
    assert state.is_completed(), state.message
    # exactly what it plans without the variable: one more item, nothing destroyed
    assert state.message == (
        f"applied {s3_stack.name}: Plan: 1 to add, 0 to change, 0 to destroy; "
        "approved by auto_approve: no comment"
    )
    assert len(s3_stack.state()["resources"][0]["instances"]) == 4
    seen = logs(state.state_details.flow_run_id)
    ignored = [line for line in seen if line.startswith("Ignored ")]
    assert len(ignored) == 1
    assert ignored[0].startswith("Ignored TF_CLI_ARGS_apply, TF_CLI_ARGS_plan from the worker")
