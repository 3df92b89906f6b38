"""Budgets: UTC calendar periods, the exhausted reason, and which budgets bind a tenant."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cpnet.core.tenancy import Budget, BudgetPeriod, BudgetUnit, NodeKind, TenantNode, TenantTree
from cpnet.sched.budget import BudgetStatus, budget_block, budget_statuses, civil_from_days, days_from_civil, format_utc, period_bounds


def utc(text: str) -> float:
    return float(calendar.timegm(datetime.fromisoformat(text).timetuple()))


@pytest.mark.parametrize(
    ("period", "at", "start", "end"),
    [
        (BudgetPeriod.DAY, "2026-11-18 13:45", "2026-11-18 00:00", "2026-11-19 00:00"),
        (BudgetPeriod.WEEK, "2026-11-18 13:45", "2026-11-16 00:00", "2026-11-23 00:00"),  # a Wednesday: from Monday
        (BudgetPeriod.WEEK, "2026-11-22 23:59", "2026-11-16 00:00", "2026-11-23 00:00"),  # Sunday night: same week
        (BudgetPeriod.WEEK, "2026-11-23 00:00", "2026-11-23 00:00", "2026-11-30 00:00"),  # Monday: the next
        (BudgetPeriod.MONTH, "2026-11-18 13:45", "2026-11-01 00:00", "2026-12-01 00:00"),
        (BudgetPeriod.MONTH, "2026-12-31 23:59", "2026-12-01 00:00", "2027-01-01 00:00"),  # over the year's end
        (BudgetPeriod.MONTH, "2024-02-29 12:00", "2024-02-01 00:00", "2024-03-01 00:00"),  # leap February
        (BudgetPeriod.MONTH, "2026-12-01 00:00", "2026-12-01 00:00", "2027-01-01 00:00"),  # the first second of a month
        (BudgetPeriod.WEEK, "1970-01-04 10:00", "1969-12-29 00:00", "1970-01-05 00:00"),  # before the epoch
    ],
)
def test_period_bounds(period: BudgetPeriod, at: str, start: str, end: str) -> None:
    assert period_bounds(period, utc(at)) == (utc(start), utc(end))


@given(st.integers(-719_162, 2_932_896))  # what datetime.date holds: years 1 to 9999
def test_civil_calendar_matches_the_standard_library(days: int) -> None:
    d = date(1970, 1, 1) + timedelta(days=days)
    assert civil_from_days(days) == (d.year, d.month, d.day)
    assert days_from_civil(d.year, d.month, d.day) == days


@given(st.floats(-2e9, 4e9), st.sampled_from(list(BudgetPeriod)))
def test_a_period_holds_its_time_and_starts_at_midnight(t: float, period: BudgetPeriod) -> None:
    start, end = period_bounds(period, t)
    assert start <= t < end
    begin = datetime.fromtimestamp(start, UTC)
    assert (begin.hour, begin.minute, begin.second) == (0, 0, 0)
    if period is BudgetPeriod.WEEK:
        assert begin.weekday() == 0 and end - start == 7 * 86_400
    if period is BudgetPeriod.MONTH:
        assert begin.day == 1 and datetime.fromtimestamp(end, UTC).day == 1


def test_format_utc() -> None:
    assert format_utc(utc("2026-12-01 00:00")) == "2026-12-01 00:00 UTC"
    assert format_utc(utc("2026-11-18 13:45") + 59.9) == "2026-11-18 13:45 UTC"


NOW = utc("2026-11-18 13:45")
CU_MONTH = Budget(1200.0, BudgetUnit.CU, BudgetPeriod.MONTH)
USD_WEEK = Budget(500.0, BudgetUnit.USD, BudgetPeriod.WEEK)


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (
            BudgetStatus("acme", "tenant", CU_MONTH, 1204.0, utc("2026-11-01 00:00"), utc("2026-12-01 00:00")),
            "budget: tenant acme used 1,204 of 1,200 CU this month (resets 2026-12-01 00:00 UTC)",
        ),
        (
            BudgetStatus("ml", "team", USD_WEEK, 530.25, utc("2026-11-16 00:00"), utc("2026-11-23 00:00")),
            "budget: team ml used $530.25 of $500.00 this week (resets 2026-11-23 00:00 UTC)",
        ),
        (
            BudgetStatus("x", "org", Budget(10.0, BudgetUnit.CU, BudgetPeriod.DAY), 10.0, utc("2026-11-18 00:00"), utc("2026-11-19 00:00")),
            "budget: org x used 10 of 10 CU today (resets 2026-11-19 00:00 UTC)",
        ),
    ],
)
def test_reason(status: BudgetStatus, reason: str) -> None:
    assert status.exhausted
    assert status.reason() == reason


@pytest.mark.parametrize(("spent", "remaining", "exhausted"), [(0.0, 1200.0, False), (1199.5, 0.5, False), (1200.0, 0.0, True), (1300.0, 0.0, True)])
def test_remaining_and_exhausted(spent: float, remaining: float, exhausted: bool) -> None:
    s = BudgetStatus("a", "tenant", CU_MONTH, spent, 0.0, 1.0)
    assert (s.remaining, s.exhausted) == (remaining, exhausted)


class Ledger:
    """Spending per tenant, recorded as (unit, start) -> amount; remembers what it was asked."""

    def __init__(self, by_tenant: dict[str, float]) -> None:
        self.by_tenant = by_tenant
        self.asked: list[tuple[frozenset[str], BudgetUnit, float, float]] = []

    def spent(self, tenants: frozenset[str], unit: BudgetUnit, start_s: float, end_s: float) -> float:
        self.asked.append((tenants, unit, start_s, end_s))
        return sum(self.by_tenant.get(t, 0.0) for t in tenants)


TREE = TenantTree(
    (
        TenantNode("acme", NodeKind.ORG, budget=Budget(5000.0, BudgetUnit.CU, BudgetPeriod.MONTH)),
        TenantNode("ml", NodeKind.TEAM, parent="acme", budget=USD_WEEK),
        TenantNode("alice", parent="ml", budget=Budget(100.0, BudgetUnit.CU, BudgetPeriod.DAY)),
        TenantNode("bob", parent="ml"),
        TenantNode("carol", parent="acme"),
    )
)


@pytest.mark.parametrize(
    ("spending", "tenant", "reason"),
    [
        ({}, "alice", None),
        ({"alice": 99.0}, "alice", None),
        ({"alice": 100.0}, "alice", "budget: tenant alice used 100 of 100 CU today (resets 2026-11-19 00:00 UTC)"),
        # bob has no budget of his own, but his team has (the ledger sums alice's and bob's spending)
        ({"alice": 50.0, "bob": 460.0}, "bob", "budget: team ml used $510.00 of $500.00 this week (resets 2026-11-23 00:00 UTC)"),
        ({"alice": 50.0, "bob": 460.0}, "carol", None),  # not in ml
        ({"carol": 5000.0}, "bob", "budget: org acme used 5,000 of 5,000 CU this month (resets 2026-12-01 00:00 UTC)"),
    ],
)
def test_budget_block(spending: dict[str, float], tenant: str, reason: str | None) -> None:
    assert budget_block(TREE, tenant, NOW, Ledger(spending)) == reason


def test_each_budget_is_asked_for_its_subtree_and_period() -> None:
    ledger = Ledger({})
    statuses = budget_statuses(TREE, "alice", NOW, ledger)
    assert [s.node for s in statuses] == ["alice", "ml", "acme"]  # own first, then up the tree
    assert ledger.asked == [
        (frozenset({"alice"}), BudgetUnit.CU, utc("2026-11-18 00:00"), NOW),
        (frozenset({"alice", "bob"}), BudgetUnit.USD, utc("2026-11-16 00:00"), NOW),
        (frozenset({"alice", "bob", "carol"}), BudgetUnit.CU, utc("2026-11-01 00:00"), NOW),
    ]
