"""The SLO error-budget gate: may a deployment start, given what users saw over the SLO window?

An SLO says what share of requests must be good over a window (e.g. 99.9 % over 30 days). Good
means "not an error" (availability) and, when a latency threshold is set, also "answered
within the threshold". The *error budget* is the bad requests the objective allows:
``(1 - objective) x total``. With the budget spent, feature deployments stop until it recovers
(the SRE book's error-budget policy); only an explicit override naming who approved it lets a
deployment through.

The counts come from the same PromQL definitions as the canary analysis
(:class:`shipflow.core.metrics.HttpMetrics`), read by an adapter; this module only judges them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DAY = 86400.0


class SLO(BaseModel):
    """A service level objective over a rolling window (a flow parameter: a form in the UI)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    objective: float = Field(
        default=0.999, gt=0, lt=1, description="Share of good requests, e.g. 0.999 for 99.9 %."
    )
    window_seconds: float = Field(
        default=30 * DAY, gt=0, description="The SLO window (default 30 days)."
    )
    latency_threshold_seconds: float | None = Field(
        default=None,
        gt=0,
        description="A request slower than this is bad too (a bucket bound of the latency "
        "histogram). None: availability only.",
    )
    burn_window_seconds: float = Field(
        default=3600, gt=0, description="Window of the burn rate shown beside the budget."
    )
    on_no_data: Literal["refuse", "proceed"] = Field(
        default="refuse",
        description="No requests in the window: refuse (the SLI cannot be judged; is the app "
        "label right?) or proceed (a new service).",
    )


class SliCounts(BaseModel):
    """Requests over one window: all of them, the errors, and (with a latency threshold) those
    answered within it. ``latency_bound`` is the histogram bucket bound actually used."""

    model_config = ConfigDict(frozen=True)

    total: float = Field(default=0, ge=0)
    errors: float = Field(default=0, ge=0)
    fast: float | None = Field(default=None, ge=0)
    latency_bound: float | None = None

    @property
    def bad(self) -> float:
        """Errors plus requests slower than the threshold, at most all requests. The counters
        cannot tell a slow error from a slow success, so a slow error counts twice: the
        budget errs on the side of stopping."""
        slow = 0.0 if self.fast is None else max(0.0, self.total - self.fast)
        return min(self.total, self.errors + slow)


class BudgetOverride(BaseModel):
    """Deploy although the budget is spent: who approved it and why (recorded)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    approved_by: str = Field(min_length=1, description="Who approved deploying anyway.")
    reason: str = Field(min_length=1, description="Why (an incident fix, a rollback forward).")


class BudgetVerdict(BaseModel):
    """The gate's answer, with the numbers in ``reason``."""

    model_config = ConfigDict(frozen=True)

    allowed: bool
    reason: str
    sli: float | None = None
    budget_remaining: float | None = None  # share of the budget left (negative: overspent)
    burn_rate: float | None = None
    overridden_by: str | None = None


def _pct(x: float) -> str:
    return f"{x:.3%}" if x < 1 else "100%"


def _span(seconds: float) -> str:
    if seconds >= DAY and seconds % DAY == 0:
        return f"{seconds / DAY:g} d"
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    return f"{seconds:g} s"


def assess_budget(
    window: SliCounts,
    burn: SliCounts | None,
    slo: SLO,
    override: BudgetOverride | None = None,
) -> BudgetVerdict:
    """Whether a deployment may start.

    SLI = good / total over the window; budget remaining = 1 - bad / ((1 - objective) x total);
    burn rate = (bad / total over ``burn_window_seconds``) / (1 - objective), where 1 spends
    the budget exactly over the window. REFUSED when the remaining budget is 0 or less (spent),
    or, with ``on_no_data`` "refuse", when the window holds no request. An ``override`` turns a
    refusal into a pass that names who approved it.
    """
    allowed_bad = 1 - slo.objective
    what = f"SLO {slo.objective:.3%} over {_span(slo.window_seconds)}"
    if slo.latency_threshold_seconds is not None:
        bound = window.latency_bound or slo.latency_threshold_seconds
        what += f" (errors and requests slower than {bound:g} s are bad)"
    burn_rate = None
    if burn is not None and burn.total > 0:
        burn_rate = (burn.bad / burn.total) / allowed_bad
    burn_text = (
        f"burn rate {burn_rate:.2f}x over {_span(slo.burn_window_seconds)}"
        if burn_rate is not None
        else f"no requests in the last {_span(slo.burn_window_seconds)}"
    )

    if window.total <= 0:
        reason = f"{what}: no requests in the window, so the SLI cannot be judged"
        if slo.on_no_data == "proceed":
            return _verdict(True, f"{reason}; proceeding (on_no_data = proceed)", override=None)
        return _verdict(
            False,
            f"{reason} (is the app label right? for a new service set on_no_data = proceed)",
            override=override,
        )

    sli = 1 - window.bad / window.total
    budget = allowed_bad * window.total
    remaining = 1 - window.bad / budget
    numbers = (
        f"SLI {_pct(sli)} ({window.bad:.0f} bad of {window.total:.0f} requests), error budget "
        f"{budget:.0f} requests, {max(remaining, 0):.1%} left"
        + (f" (overspent by {-remaining:.1%})" if remaining < 0 else "")
        + f", {burn_text}"
    )
    if remaining > 1e-9:  # 1 - 0.999 is not exactly 0.001: exactly spent is spent
        return _verdict(True, f"{what}: {numbers}", sli=sli, remaining=remaining, burn=burn_rate)
    return _verdict(
        False,
        f"error budget spent: {what}: {numbers}; deployments are frozen until it recovers",
        sli=sli,
        remaining=remaining,
        burn=burn_rate,
        override=override,
    )


def unreadable_budget(
    problem: str, slo: SLO, override: BudgetOverride | None = None
) -> BudgetVerdict:
    """The SLI could not be read (Prometheus down, a bad query): REFUSED, since nobody can
    say the budget is left, unless overridden."""
    return _verdict(
        False,
        f"could not read the SLI of the SLO {slo.objective:.3%} over "
        f"{_span(slo.window_seconds)}: {problem}",
        override=override,
    )


def _verdict(
    allowed: bool,
    reason: str,
    *,
    sli: float | None = None,
    remaining: float | None = None,
    burn: float | None = None,
    override: BudgetOverride | None = None,
) -> BudgetVerdict:
    if not allowed and override is not None:
        return BudgetVerdict(
            allowed=True,
            reason=f"overridden by {override.approved_by} ({override.reason}): {reason}",
            sli=sli,
            budget_remaining=remaining,
            burn_rate=burn,
            overridden_by=override.approved_by,
        )
    return BudgetVerdict(
        allowed=allowed, reason=reason, sli=sli, budget_remaining=remaining, burn_rate=burn
    )
