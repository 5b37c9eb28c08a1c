"""The ladder as the UI shows it: steps, weights, holds, thresholds, current step, verdicts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shipflow.core.canary import CanaryPolicy, Step
from shipflow.core.ladder import Ladder, render_ladder, thresholds

AT = datetime(2026, 11, 26, 23, 0, 5, tzinfo=UTC)
POLICY = CanaryPolicy(
    steps=(Step(weight=5, hold_seconds=600), Step(weight=25, hold_seconds=60)),
    check_interval_seconds=30,
)


def rows(markdown: str) -> list[list[str]]:
    table = [line for line in markdown.splitlines() if line.startswith("| ")][1:]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in table]


def test_a_new_ladder_shows_every_step_pending_and_the_promotion_last() -> None:
    text = render_ladder(Ladder.start("web", "shop/web@sha256:ab", POLICY))
    assert "Status: **starting**" in text
    assert [(r[1], r[2], r[3], r[5]) for r in rows(text)] == [
        ("1", "5 %", "10 min", "pending"),
        ("2", "25 %", "60 s", "pending"),
        ("-", "100 %", "-", "pending"),
    ]


def test_the_current_step_is_marked_with_its_check_and_latest_reason() -> None:
    ladder = Ladder.start("web", "img", POLICY).step(0, verdict="passed", reason="ok", ended=AT)
    ladder = ladder.step(1, verdict="watching", started=AT, checks=3, reason="successful: 0.1%")
    text = render_ladder(ladder)
    assert "Status: step 2 of 2: **25 %** on the canary, check 3" in text
    first, second, _ = rows(text)
    assert first[0] == "✓"
    assert first[7] == "23:00:05"
    assert (second[0], second[6], second[8]) == ("▶", "23:00:05", "successful: 0.1%")


@pytest.mark.parametrize(
    ("outcome", "reason", "status", "last"),
    [
        ("promoted", "all 2 steps passed", "Status: **promoted**: all 2 steps passed", "promoted"),
        (
            "rolled back",
            "at 25 %: failed: 9%",
            "Status: **rolled back**: at 25 %: failed: 9%",
            "pending",
        ),
    ],
)
def test_the_end_says_how_and_why(outcome: str, reason: str, status: str, last: str) -> None:
    text = render_ladder(Ladder.start("web", "img", POLICY).end(outcome, reason))
    assert status in text
    assert rows(text)[-1][5] == last


def test_a_reason_with_a_pipe_keeps_the_table_whole() -> None:
    ladder = Ladder.start("web", "img", POLICY).step(0, verdict="failed", reason="a | b\nc")
    assert rows(render_ladder(ladder))[0][8] == "a \\| b c"


def test_thresholds_carry_the_policy_numbers() -> None:
    lines = thresholds(POLICY)
    assert lines[0].startswith("error rate ≤ max(1.5x baseline, 1.00%) and ≤ 5.00% absolute")
    assert "≤ 500 ms absolute" in lines[1]
    assert "a check every 30 s" in lines[3]
