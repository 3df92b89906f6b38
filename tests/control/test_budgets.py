"""Budgets in the control plane (issue 10 item 5): spent per calendar period as the usage ledger
billed it; a tenant whose budget is spent has its waiting jobs held with a `budget:` reason and an
event, others go on; raising the budget (or the period's end) admits them."""

from __future__ import annotations

from pathlib import Path

from cpnet.control.loop import ManualClock
from cpnet.control.reconciler import Reconciler, ReconcilerConfig
from cpnet.control.store import Store
from cpnet.control.store.ledger import UsageRecord, append
from cpnet.control.throughput import ControlThroughput
from cpnet.core.states import JobState
from cpnet.core.tenancy import Budget, BudgetPeriod, BudgetUnit
from cpnet.executors.simulated import SimulatedExecutor

DAY = 86400.0
T0 = 10 * DAY + 3600.0  # 1970-01-11 01:00 UTC


def _spent(store: Store, tenant: str, t_s: float, usd: float, cu: float) -> None:
    rec = UsageRecord(t_s, tenant, "attempt", f"old-{tenant}-{t_s}", 1, "a", "V100", 1, t_s - 10, t_s, 10.0, cu, 0.0, "estimated", 0.0, "v", usd, 0.0, 0.0, usd)
    with store.engine.begin() as c:
        append(c, [rec])


def _reconciler(store: Store, tmp_path: Path, clock: ManualClock) -> Reconciler:
    ex = SimulatedExecutor(clock, ControlThroughput(None), {"a": {"V100": 4}})
    return Reconciler(store, ex, clock, ReconcilerConfig(run_dir=str(tmp_path), site_heartbeat_s=0.0, budget_check_s=5.0))


def test_a_spent_budget_holds_waiting_jobs_until_raised(store: Store, tmp_path: Path) -> None:
    clock = ManualClock(T0)
    rec = _reconciler(store, tmp_path, clock)
    for t in ("x", "y"):
        store.create_tenant(t, 1.0, 0.0)
    _spent(store, "x", T0 - 1800, 5.0, 100.0)  # today's
    _spent(store, "y", T0 - 2 * 3600, 50.0, 100.0)  # yesterday's: not in today's budget
    store.set_budget("x", Budget(5.0, BudgetUnit.USD, BudgetPeriod.DAY))
    store.set_budget("y", Budget(10.0, BudgetUnit.USD, BudgetPeriod.DAY))
    assert store.budgets() == {"x": Budget(5.0, BudgetUnit.USD, BudgetPeriod.DAY), "y": Budget(10.0, BudgetUnit.USD, BudgetPeriod.DAY)}
    jx, _ = store.submit_job("x", "kx", {"command": ["true"], "total_steps": 1e9}, T0)
    jy, _ = store.submit_job("y", "ky", {"command": ["true"], "total_steps": 1e9}, T0)
    rec.step()
    assert store.get_job(jy.id).state == JobState.RUNNING  # type: ignore[union-attr]
    x = store.get_job(jx.id)
    assert x is not None and x.state == JobState.PENDING
    assert x.reason == "budget: tenant x used $5.00 of $5.00 today (resets 1970-01-12 00:00 UTC)"
    assert [e["message"] for e in store.job_events(jx.id) if e["kind"] == "waiting"] == [f"not admitted: {x.reason}"]
    store.set_budget("x", Budget(6.0, BudgetUnit.USD, BudgetPeriod.DAY))
    clock.set(T0 + 1.0)
    rec.step()
    assert store.get_job(jx.id).state == JobState.PENDING  # type: ignore[union-attr]  # budgets are re-read every 5 s
    clock.set(T0 + 5.0)
    rec.step()
    assert store.get_job(jx.id).state == JobState.RUNNING  # type: ignore[union-attr]


def test_a_cu_budget_resets_when_its_period_ends(store: Store, tmp_path: Path) -> None:
    clock = ManualClock(T0)
    rec = _reconciler(store, tmp_path, clock)
    store.create_tenant("x", 1.0, 0.0)
    _spent(store, "x", T0 - 60, 0.0, 3600.0)
    store.set_budget("x", Budget(3600.0, BudgetUnit.CU, BudgetPeriod.DAY))
    j, _ = store.submit_job("x", "k", {"command": ["true"], "total_steps": 1e9}, T0)
    rec.step()
    x = store.get_job(j.id)
    assert x is not None and x.state == JobState.PENDING and x.reason is not None and x.reason.startswith("budget: tenant x used 3,600 of 3,600 CU today")
    clock.set(11 * DAY)  # midnight: a new day, nothing spent in it
    rec.step()
    assert store.get_job(j.id).state == JobState.RUNNING  # type: ignore[union-attr]
