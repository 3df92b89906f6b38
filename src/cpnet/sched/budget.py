"""Budgets per calendar period (UTC): a tenant, team or org over its budget has its tenants' new jobs wait.

Rule: a tenant's new job is admitted only while spent(n, period of n) < amount(n) for the tenant and every ancestor n with a budget.

Periods are UTC calendar days, ISO weeks (from Monday 00:00) and months; spent(n) counts the CU x s
(or USD) of n's tenants from the period's start to now, from the caller's ledger. Dates are computed
here from Unix seconds (Hinnant's civil-calendar algorithms), so the scheduler reads no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from cpnet.core.tenancy import Budget, BudgetPeriod, BudgetUnit, TenantTree

DAY_S = 86_400.0
_PERIOD_WORDS = {BudgetPeriod.DAY: "today", BudgetPeriod.WEEK: "this week", BudgetPeriod.MONTH: "this month"}


class SpendLedger(Protocol):
    """What budgets need of metering: the spending of some tenants in a time range."""

    def spent(self, tenants: frozenset[str], unit: BudgetUnit, start_s: float, end_s: float) -> float: ...


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to a proleptic Gregorian date."""
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


def civil_from_days(days: int) -> tuple[int, int, int]:
    """(year, month, day) of a day count from 1970-01-01."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def period_bounds(period: BudgetPeriod, t_s: float) -> tuple[float, float]:
    """[start, end) of the UTC calendar period holding Unix time t_s; end is when the budget resets."""
    days = int(t_s // DAY_S)
    if period is BudgetPeriod.DAY:
        start = days
        end = days + 1
    elif period is BudgetPeriod.WEEK:
        start = days - (days + 3) % 7  # 1970-01-01 was a Thursday: (days + 3) % 7 is 0 on Mondays
        end = start + 7
    else:
        year, month, _ = civil_from_days(days)
        start = days_from_civil(year, month, 1)
        end = days_from_civil(year + month // 12, month % 12 + 1, 1)
    return start * DAY_S, end * DAY_S


def format_utc(t_s: float) -> str:
    """'2026-12-01 00:00 UTC' (to the minute, rounded down)."""
    days = int(t_s // DAY_S)
    year, month, day = civil_from_days(days)
    minutes = int((t_s - days * DAY_S) // 60)
    return f"{year:04d}-{month:02d}-{day:02d} {minutes // 60:02d}:{minutes % 60:02d} UTC"


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    node: str
    kind: str  # org, team or tenant
    budget: Budget
    spent: float
    start_s: float
    resets_s: float

    @property
    def remaining(self) -> float:
        return max(0.0, self.budget.amount - self.spent)

    @property
    def exhausted(self) -> bool:
        return self.spent >= self.budget.amount

    def reason(self) -> str:
        """'budget: tenant acme used 1,204 of 1,200 CU this month (resets 2026-12-01 00:00 UTC)'."""
        if self.budget.unit is BudgetUnit.CU:
            amounts = f"{self.spent:,.0f} of {self.budget.amount:,.0f} CU"
        else:
            amounts = f"${self.spent:,.2f} of ${self.budget.amount:,.2f}"
        period = _PERIOD_WORDS[self.budget.period]
        return f"budget: {self.kind} {self.node} used {amounts} {period} (resets {format_utc(self.resets_s)})"


def budget_statuses(tree: TenantTree, tenant: str, now_s: float, ledger: SpendLedger) -> tuple[BudgetStatus, ...]:
    """The budgets that bind a tenant: its own, then its team's, then its org's (those declared)."""
    out: list[BudgetStatus] = []
    for node_id in (tenant, *tree.ancestors(tenant)):
        node = tree.node(node_id)
        if node.budget is None:
            continue
        start, end = period_bounds(node.budget.period, now_s)
        spent = ledger.spent(frozenset(tree.tenants(node_id)), node.budget.unit, start, now_s)
        out.append(BudgetStatus(node_id, str(node.kind), node.budget, spent, start, end))
    return tuple(out)


def budget_block(tree: TenantTree, tenant: str, now_s: float, ledger: SpendLedger) -> str | None:
    """Why the tenant's new jobs may not be admitted now (the first exhausted budget), or None."""
    for status in budget_statuses(tree, tenant, now_s, ledger):
        if status.exhausted:
            return status.reason()
    return None
