"""The error-budget gate as a table: counts over the window and the burn window in, verdict out."""

from __future__ import annotations

import pytest

from shipflow.core.slo import (
    SLO,
    BudgetOverride,
    SliCounts,
    assess_budget,
    unreadable_budget,
)

SLO_999 = SLO(objective=0.999)
LATENCY = SLO(objective=0.99, latency_threshold_seconds=0.25)
OVERRIDE = BudgetOverride(approved_by="alice", reason="hotfix for INC-42")


@pytest.mark.parametrize(
    ("window", "burn", "slo", "allowed", "says"),
    [
        # 1,000,000 requests at 99.9 %: a budget of 1000 bad requests.
        (SliCounts(total=1e6, errors=0), None, SLO_999, True, "100.0% left"),
        (SliCounts(total=1e6, errors=500), None, SLO_999, True, "50.0% left"),
        (SliCounts(total=1e6, errors=999), None, SLO_999, True, "0.1% left"),
        # exactly spent is spent
        (SliCounts(total=1e6, errors=1000), None, SLO_999, False, "error budget spent"),
        (SliCounts(total=1e6, errors=2500), None, SLO_999, False, "overspent by 150.0%"),
        (SliCounts(total=1e6, errors=2500), None, SLO_999, False, "SLI 99.750%"),
        # the burn rate: 0.5 % errors in the last hour against a 0.1 % allowance is 5x
        (
            SliCounts(total=1e6, errors=100),
            SliCounts(total=1000, errors=5),
            SLO_999,
            True,
            "burn rate 5.00x over 1 h",
        ),
        (SliCounts(total=1e6, errors=100), SliCounts(), SLO_999, True, "no requests in the last"),
        # latency: slow requests spend the budget too
        (
            SliCounts(total=10_000, errors=10, fast=9_900, latency_bound=0.25),
            None,
            LATENCY,
            False,
            "110 bad of 10000",
        ),
        (
            SliCounts(total=10_000, errors=10, fast=9_950, latency_bound=0.25),
            None,
            LATENCY,
            True,
            "slower than 0.25 s are bad",
        ),
        # no data: refuse unless told a new service may proceed
        (SliCounts(), None, SLO_999, False, "the SLI cannot be judged"),
        (SliCounts(), None, SLO(on_no_data="proceed"), True, "on_no_data = proceed"),
        (SliCounts(total=100, errors=1), None, SLO(objective=0.99), False, "1 requests, 0.0% left"),
        (SliCounts(total=50, errors=0), None, SLO(window_seconds=60), True, "over 60 s"),
        (SliCounts(total=50, errors=0), None, SLO(), True, "over 30 d"),
    ],
)
def test_budget_verdicts(
    window: SliCounts, burn: SliCounts | None, slo: SLO, allowed: bool, says: str
) -> None:
    verdict = assess_budget(window, burn, slo)
    assert verdict.allowed is allowed, verdict.reason
    assert says in verdict.reason
    assert verdict.overridden_by is None


def test_a_spent_budget_names_its_numbers() -> None:
    verdict = assess_budget(SliCounts(total=200_000, errors=400), None, SLO_999)
    assert not verdict.allowed
    assert verdict.reason == (
        "error budget spent: SLO 99.900% over 30 d: SLI 99.800% (400 bad of 200000 requests), "
        "error budget 200 requests, 0.0% left (overspent by 100.0%), no requests in the last "
        "1 h; deployments are frozen until it recovers"
    )
    assert verdict.budget_remaining == pytest.approx(-1.0)


def test_an_override_lets_a_refusal_through_and_names_who() -> None:
    verdict = assess_budget(SliCounts(total=1e6, errors=5000), None, SLO_999, OVERRIDE)
    assert verdict.allowed
    assert verdict.overridden_by == "alice"
    assert verdict.reason.startswith("overridden by alice (hotfix for INC-42): error budget spent")


def test_an_override_is_not_recorded_when_the_budget_is_left() -> None:
    verdict = assess_budget(SliCounts(total=1e6, errors=1), None, SLO_999, OVERRIDE)
    assert verdict.allowed
    assert verdict.overridden_by is None


def test_an_unreadable_sli_refuses_unless_overridden() -> None:
    refused = unreadable_budget("prometheus unreachable", SLO_999)
    assert not refused.allowed
    assert "could not read the SLI" in refused.reason
    assert unreadable_budget("down", SLO_999, OVERRIDE).overridden_by == "alice"


@pytest.mark.parametrize(
    ("counts", "bad"),
    [
        (SliCounts(total=100, errors=3), 3),
        (SliCounts(total=100, errors=3, fast=90), 13),  # a slow error may count twice
        (SliCounts(total=100, errors=60, fast=10), 100),  # never more than all
        (SliCounts(total=100, errors=0, fast=100), 0),
    ],
)
def test_bad_requests(counts: SliCounts, bad: float) -> None:
    assert counts.bad == bad


@pytest.mark.parametrize(
    ("field", "value"),
    [("objective", 1.0), ("objective", 0), ("window_seconds", 0), ("on_no_data", "maybe")],
)
def test_bad_slo_fields_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        SLO(**{field: value})
