"""The canary's ladder as a person reads it (as Argo Rollouts' dashboard shows a rollout): the
steps with their weights and holds, the thresholds every check applies, the current step and
each step's verdict with its reason. Pure: the flow records what happened, the times included,
and renders the markdown that the UI shows (one artifact, updated in place)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from shipflow.core.canary import CanaryPolicy

# What a step's verdict looks like in the table: signs any text font has (a browser without
# an emoji font shows emoji as empty boxes).
MARKS = {
    "pending": "·",
    "watching": "▶",
    "passed": "✓",
    "failed": "✗",
    "error": "⚠",
    "inconclusive": "?",
    "stopped": "■",
}


@dataclass(frozen=True)
class StepRecord:
    """One rung and what happened on it."""

    weight: int
    hold_seconds: float
    verdict: str = "pending"  # one of MARKS
    checks: int = 0
    reason: str = ""
    started: datetime | None = None
    ended: datetime | None = None


@dataclass(frozen=True)
class Ladder:
    """A canary run's ladder: its steps, where it is, and how it ended."""

    app: str
    image: str
    policy: CanaryPolicy
    steps: tuple[StepRecord, ...]
    router: str = ""
    current: int | None = None  # index of the step being watched
    outcome: str = "starting"  # starting, climbing, promoted, rolled back, stopped
    reason: str = ""

    @classmethod
    def start(cls, app: str, image: str, policy: CanaryPolicy) -> Ladder:
        steps = tuple(StepRecord(s.weight, s.hold_seconds) for s in policy.steps)
        return cls(app=app, image=image, policy=policy, steps=steps)

    def step(self, index: int, **changes: object) -> Ladder:
        """The ladder with step ``index`` changed (and watched, while its verdict is
        ``watching``)."""
        steps = list(self.steps)
        steps[index] = replace(steps[index], **changes)  # type: ignore[arg-type]
        current = index if steps[index].verdict == "watching" else self.current
        return replace(self, steps=tuple(steps), current=current, outcome="climbing")

    def end(self, outcome: str, reason: str) -> Ladder:
        return replace(self, outcome=outcome, reason=reason, current=None)


def _seconds(value: float) -> str:
    return f"{value:g} s" if value < 120 else f"{value / 60:g} min"


def thresholds(policy: CanaryPolicy) -> list[str]:
    """What every check applies, in words with the numbers."""
    return [
        f"error rate ≤ max({policy.max_error_ratio:g}x baseline, "
        f"{policy.error_rate_floor:.2%}) and ≤ {policy.max_error_rate:.2%} absolute "
        f"(failing needs {policy.confidence:.0%} confidence)",
        f"P99 latency ≤ {policy.max_latency_ratio:g}x baseline and ≤ "
        f"{policy.max_p99_seconds * 1000:g} ms absolute",
        f"at least {policy.min_requests} canary and {policy.min_baseline_requests} baseline "
        "requests before a step can pass",
        f"a check every {_seconds(policy.check_interval_seconds)}; per step "
        f"{policy.failure_limit} failed check(s), {policy.inconclusive_limit} inconclusive "
        f"hold end(s) and {policy.consecutive_error_limit} unmeasurable check(s) in a row "
        f"tolerated; beyond the inconclusive limit: {policy.on_inconclusive}",
    ]


def render_ladder(ladder: Ladder) -> str:
    """The ladder as markdown: a status line, the steps table (▶ marks the current step) and
    the thresholds."""
    total = len(ladder.steps)
    if ladder.current is not None:
        step = ladder.steps[ladder.current]
        status = (
            f"step {ladder.current + 1} of {total}: **{step.weight} %** on the canary, "
            f"check {step.checks}"
        )
    else:
        status = f"**{ladder.outcome}**"
    if ladder.reason:
        status += f": {ladder.reason}"
    lines = [
        f"# Canary of `{ladder.app}`",
        "",
        f"`{ladder.image}`",
        "",
        f"Status: {status}",
        "",
        "| | step | weight | hold | checks | verdict | started | ended | reason |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for i, s in enumerate(ladder.steps):
        cells = [
            MARKS.get(s.verdict, s.verdict),
            f"{i + 1}",
            f"{s.weight} %",
            _seconds(s.hold_seconds),
            str(s.checks) if s.checks else "-",
            s.verdict,
            s.started.strftime("%H:%M:%S") if s.started else "-",
            s.ended.strftime("%H:%M:%S") if s.ended else "-",
            _cell(s.reason) or "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    promoted = ladder.outcome == "promoted"
    final = [MARKS["passed"] if promoted else MARKS["pending"], "-", "100 %", "-", "-"]
    final += ["promoted" if promoted else "pending", "-", "-", "stable takes the image"]
    lines.append("| " + " | ".join(final) + " |")
    if ladder.router:
        lines += ["", f"Router: {ladder.router}"]
    lines += ["", "Every check:", ""] + [f"- {t}" for t in thresholds(ladder.policy)]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """Text that keeps a markdown table whole."""
    return text.replace("|", "\\|").replace("\n", " ")
