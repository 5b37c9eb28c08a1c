"""The demo as a newcomer meets it, in Chromium: `shipflow demo` (without --yes) prints the
link to the paused Terraform plan; the page opens from that link, the form is filled and
submitted, and the release goes on to Completed. Then the canary runs read in the UI: the
ladder card and one measurement table per step for the promoted version, the ladder of the
faulty one saying it was rolled back. Screenshots are kept under test-output/browser."""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.browser.test_approval_ui import answer_form
from tests.harness.browser import browser_page, shot

CLI = str(Path(sys.executable).with_name("shipflow"))
LINK = re.compile(r"waits for approval: (\S+)")


def canary_run(api: str, release_run: str) -> str:
    children = httpx.post(
        f"{api}/flow_runs/filter",
        json={"flow_runs": {"parent_flow_run_id": {"any_": [release_run]}}},
    ).json()
    flows = {f["id"]: f["name"] for f in httpx.post(f"{api}/flows/filter", json={}).json()}
    [run] = [c["id"] for c in children if flows[c["flow_id"]] == "promote_canary"]
    return str(run)


def open_artifacts(page: Page, ui: str, run: str, name: str) -> None:
    page.goto(f"{ui}/runs/flow-run/{run}")
    expect(page.get_by_text("Artifacts", exact=True).first).to_be_visible(timeout=30_000)
    shot(page, f"{name}-run")
    page.get_by_text("Artifacts", exact=True).first.click()
    page.wait_for_timeout(1000)
    shot(page, f"{name}-artifacts")
    expect(page.get_by_text("canary-ladder-local-web").first).to_be_visible(timeout=30_000)


def test_the_demo_is_approved_in_the_browser_and_its_canary_runs_read_there(
    tmp_path: Path,
) -> None:
    root = tmp_path / "sandbox"
    env = {**os.environ, "SHIPFLOW_SANDBOX_DIR": str(root), "COLUMNS": "400"}
    env.pop("KUBECONFIG", None)
    demo = subprocess.Popen(
        [CLI, "demo", "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    said: queue.Queue[str | None] = queue.Queue()
    heard: list[str] = []

    def listen() -> None:
        assert demo.stderr is not None
        for line in demo.stderr:
            said.put(line)
        said.put(None)

    threading.Thread(target=listen, daemon=True).start()
    try:
        with browser_page() as page:
            approved = 0
            while (line := said.get(timeout=600)) is not None:
                heard.append(line)
                if (found := LINK.search(line)) is None:
                    continue
                page.goto(found[1])  # the link exactly as the demo printed it
                expect(page.get_by_text("Paused").first).to_be_visible(timeout=30_000)
                approved += 1
                shot(page, f"demo-paused-plan-{approved}")
                answer_form(page, f"demo-{approved}", True, "carol", "read the plan")
            assert demo.wait(timeout=60) == 0, "".join(heard)[-3000:]
            assert approved >= 1
            assert demo.stdout is not None
            result: dict[str, Any] = json.loads(demo.stdout.read())
            ui, (good, faulty) = result["ui"], result["releases"]
            api = f"{ui}/api"
            assert "approved by carol: read the plan" in good["stages"][1]["message"]

            page.goto(f"{ui}/runs/flow-run/{good['run_id']}")
            expect(page.get_by_text("Completed").first).to_be_visible(timeout=30_000)
            shot(page, "demo-release-completed")

            open_artifacts(page, ui, canary_run(api, good["run_id"]), "demo-canary")
            for step in (1, 2, 3):
                expect(page.get_by_text(f"canary-local-web-step-{step}").first).to_be_visible()
            page.get_by_text("canary-ladder-local-web").first.click()
            expect(page.get_by_text("Canary of").first).to_be_visible(timeout=30_000)
            expect(page.get_by_text("promoted").first).to_be_visible()
            shot(page, "demo-canary-ladder")

            open_artifacts(page, ui, canary_run(api, faulty["run_id"]), "demo-faulty-canary")
            expect(page.get_by_text("canary-local-web-step-1").first).to_be_visible()
            expect(page.get_by_text("canary-local-web-step-2")).to_have_count(0)
            page.get_by_text("canary-ladder-local-web").first.click()
            expect(page.get_by_text("rolled back").first).to_be_visible(timeout=30_000)
            shot(page, "demo-canary-rolled-back")
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        subprocess.run([CLI, "sandbox", "down"], env=env, check=False, timeout=120)
