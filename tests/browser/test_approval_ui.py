"""The approval as a person does it: the paused run's page in Chromium, the Resume form filled
and submitted, the run going on to Completed (or Cancelled when rejected)."""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import Page, expect

from shipflow.flows.terraform_release import terraform_release
from tests.harness.browser import browser_page, shot
from tests.harness.prefect_api import BackgroundRun, logs, start_in_background
from tests.harness.stacks import S3Stack

pytestmark = pytest.mark.usefixtures("prefect_server")


def open_paused_run(page: Page, run: BackgroundRun) -> str:
    """The link the run logs while it waits ("open <link> to approve"), opened in the page."""
    paused = run.wait_paused()
    said = [line for line in logs(paused.id) if "to approve or reject it" in line]
    link = re.search(r"open (\S+) to approve", said[0])[1]  # type: ignore[index]
    assert link == f"{os.environ['PREFECT_UI_URL']}/runs/flow-run/{paused.id}"
    page.goto(link)
    expect(page.get_by_text("Paused").first).to_be_visible(timeout=30_000)
    return link


def answer_form(page: Page, name: str, approve: bool, approver: str, comment: str) -> None:
    page.get_by_role("button", name="Resume").click()
    form = page.get_by_role("dialog")
    expect(form.get_by_text("Approve", exact=True)).to_be_visible()
    expect(form.get_by_text("nothing is applied and the run ends Cancelled")).to_be_visible()
    expect(form.get_by_text("sha256").first).to_be_visible()
    if approve:
        form.get_by_role("switch").click()
    form.get_by_role("textbox").nth(0).fill(approver)
    form.get_by_role("textbox").nth(1).fill(comment)
    shot(page, f"{name}-form")
    # Wait for the UI's resume request itself: on a loaded machine the dialog can take the
    # click before its form is ready, and then nothing resumes the run.
    with page.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith("/resume"), timeout=60_000
    ) as sent:
        form.get_by_role("button", name="Submit").click()
    assert sent.value.ok, f"the UI's resume answered {sent.value.status}: {sent.value.text()}"


def test_a_plan_approved_in_the_ui_is_applied_and_the_run_completes(s3_stack: S3Stack) -> None:
    run = start_in_background(terraform_release, stack=str(s3_stack.path), approval_timeout=300)
    with browser_page() as page:
        open_paused_run(page, run)
        shot(page, "approve-paused-run")
        answer_form(page, "approve", True, "alice", "checked the subnets")
        state = run.join()
        assert state.is_completed(), state.message
        assert state.message.endswith("approved by alice: checked the subnets")
        page.reload()
        expect(page.get_by_text("Completed").first).to_be_visible(timeout=30_000)
        shot(page, "approve-completed-run")
    assert s3_stack.serial() == 1


def test_a_plan_rejected_in_the_ui_is_not_applied(s3_stack: S3Stack) -> None:
    run = start_in_background(terraform_release, stack=str(s3_stack.path), approval_timeout=300)
    with browser_page() as page:
        open_paused_run(page, run)
        answer_form(page, "reject", False, "bob", "wrong region")
        state = run.join()
        assert state.is_cancelled()
        assert state.message == "rejected by bob: wrong region"
        page.reload()
        expect(page.get_by_text("Cancelled").first).to_be_visible(timeout=30_000)
        shot(page, "reject-cancelled-run")
    assert s3_stack.serial() is None
