"""classify_drift over real plans captured with the localfile test provider (and the plans of
data/plans: imports, moves, a failed plan)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shipflow.core.drift import DriftStatus, classify_drift, error_report
from shipflow.core.plans import Action

DATA = Path(__file__).parent / "data"


def load(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text())


def test_clean() -> None:
    report = classify_drift("net", load("drift_clean"))
    assert report.status is DriftStatus.CLEAN
    assert report.summary() == "clean"


def test_pending_code_change_is_not_drift() -> None:
    report = classify_drift("net", load("drift_pending"))
    assert report.status is DriftStatus.PENDING
    assert [(p.address, p.action) for p in report.pending] == [("localfile_file.b", Action.UPDATE)]
    assert report.pending[0].paths == ("content",)


def test_drift_names_resources_and_attribute_paths_and_keeps_pending_apart() -> None:
    report = classify_drift("net", load("drift_drifted_and_pending"))
    assert report.status is DriftStatus.DRIFTED
    assert [(d.address, d.paths) for d in report.drifted] == [
        ("localfile_file.a", ("sensitive_token", "tags.env"))
    ]
    # a's planned update only undoes the drift: it is not pending code
    assert [p.address for p in report.pending] == ["localfile_file.b"]
    text = report.to_markdown()
    assert "`tags.env`" in text
    assert "tok-CHANGED" not in text + json.dumps(report.model_dump(mode="json"))


def test_a_refresh_only_plan_shows_drift_and_nothing_pending() -> None:
    report = classify_drift("net", load("drift_refresh_only"))
    assert report.status is DriftStatus.DRIFTED
    assert report.drifted[0].address == "localfile_file.a"
    assert report.pending == ()


def captured(name: str) -> dict[str, Any]:
    return json.loads((DATA / "plans" / name / "plan.json").read_text())


def test_a_failed_plan_is_an_error_with_terraforms_reason_never_clean() -> None:
    report = classify_drift("shop", captured("aws_errored"))
    assert report.status is DriftStatus.ERROR
    assert report.reason.startswith("Terraform could not finish this plan")
    assert "reports need the web-v2 security group." in report.reason


def test_an_import_or_a_move_waiting_to_be_applied_is_pending() -> None:
    imported = classify_drift("shop", captured("local_import"))
    assert imported.status is DriftStatus.PENDING
    assert [p.address for p in imported.pending] == ["localfile_file.legacy"]
    moved = classify_drift("shop", captured("local_moved"))
    assert moved.status is DriftStatus.PENDING


def test_deleted_outside_terraform_is_drift_and_recreating_it_is_not_pending() -> None:
    report = classify_drift("net", load("drift_deleted_outside"))
    deleted = {d.address: d.action for d in report.drifted}
    assert deleted["localfile_file.b"] is Action.DELETE
    assert report.pending == ()


def test_fingerprint_changes_with_the_drift_not_with_time() -> None:
    a = classify_drift("net", load("drift_drifted_and_pending"), seconds=1.0)
    b = classify_drift("net", load("drift_drifted_and_pending"), seconds=9.0)
    c = classify_drift("net", load("drift_deleted_outside"))
    assert a.fingerprint == b.fingerprint != c.fingerprint


def test_error_report_carries_the_reason() -> None:
    report = error_report("net", "locked by alice@laptop")
    assert report.summary() == "error: locked by alice@laptop"
    assert report.row()["status"] == "error"
