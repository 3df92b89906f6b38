"""The usage ledger: one hash-chained record per ended run, written with the end; tampering is found."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from cpnet.control.loop import ManualClock
from cpnet.control.reconciler import Reconciler, ReconcilerConfig
from cpnet.control.store import Store
from cpnet.control.store.ledger import UsageRecord, append
from cpnet.control.throughput import ControlThroughput
from cpnet.core.states import JobState
from cpnet.core.tariff import ANY_SITE, Tariff, TimeOfUse
from cpnet.executors.simulated import SimulatedExecutor

TARIFF = Tariff("test-1", {(ANY_SITE, "V100"): 3.6}, 1.0, carbon_usd_per_kg=0.1)


def _records(n: int) -> list[UsageRecord]:
    return [
        UsageRecord(
            float(i), "t", "attempt", f"job{i}", 1, "a", "V100", 2, 0.0, float(i), 2.0 * i, 2.0 * i, 0.1, "estimated", 0.05, "v1", 1.0, 0.01, 0.005, 1.015
        )
        for i in range(1, n + 1)
    ]


def _seeded(store: Store, n: int = 10) -> None:
    with store.engine.begin() as c:
        append(c, _records(n))


def test_an_intact_chain_verifies(store: Store) -> None:
    _seeded(store)
    v = store.verify_ledger()
    assert (v.ok, v.records, v.head_seq) == (True, 10, 10)


def _swap(a: int, b: int) -> str:
    """Rows a and b trade places (seq renumbered, each row intact)."""
    return f"update ledger set seq = -1 where seq = {a}; update ledger set seq = {a} where seq = {b}; update ledger set seq = {b} where seq = -1"


@pytest.mark.parametrize(
    ("tamper", "seq", "problem"),
    [
        ("update ledger set amount_usd = 0.5 where seq = 4", 4, "changed"),
        ("update ledger set amount_usd = 0.5 where seq = 5", 5, "changed"),  # the first record of a worker's range
        ("delete from ledger where seq = 1", 1, "removed"),
        ("delete from ledger where seq = 6", 6, "removed"),
        ("delete from ledger where seq = 4", 4, "removed"),  # the last record of a range
        ("delete from ledger where seq >= 5 and seq <= 8", 5, "removed"),  # a whole range
        ("delete from ledger where seq = 10", 10, "removed"),
        ("update ledger set amount_usd = 0.5 where seq = 9; delete from ledger where seq = 3", 3, "removed"),  # the first of two breaks
        (_swap(3, 4), 3, "reordered"),
        (_swap(4, 5), 4, "reordered"),  # across two ranges
        # record 5 removed and the rest renumbered down: the gap is gone, the link from 4 is not
        ("delete from ledger where seq = 5; " + "; ".join(f"update ledger set seq = {i - 1} where seq = {i}" for i in range(6, 11)), 5, "reordered"),
    ],
)
@pytest.mark.parametrize("workers", [1, 3])  # 3 workers: seq ranges 1-4, 5-8, 9-10
def test_tampering_names_the_first_broken_record(store: Store, tamper: str, seq: int, problem: str, workers: int) -> None:
    _seeded(store)
    with store.engine.begin() as c:
        for stmt in tamper.split("; "):
            c.execute(text(stmt))
    v = store.verify_ledger(workers=workers)
    assert not v.ok and v.first_break is not None
    assert (v.first_break.seq, v.first_break.problem) == (seq, problem), v.first_break


def test_parallel_verify_of_an_intact_chain_counts_every_record(store: Store) -> None:
    _seeded(store)
    assert [(v.ok, v.records, v.head_seq, v.head_hash) for v in (store.verify_ledger(workers=w) for w in (1, 3, 4))] == [
        (True, 10, 10, store.verify_ledger().head_hash)
    ] * 3


def test_each_ended_run_is_billed_once_with_the_tariff(store: Store, tmp_path: Path) -> None:
    """Two V100s for 100 s at 3.6 USD/h each = 0.2 USD compute; kWh from the V100 TDP and the site PUE."""
    clock = ManualClock(0.0)
    ex = SimulatedExecutor(clock, ControlThroughput(None), {"a": {"V100": 2}})
    from cpnet.catalog import load_catalog

    catalog = load_catalog()
    rec = Reconciler(store, ex, clock, ReconcilerConfig(run_dir=str(tmp_path), site_heartbeat_s=0.0, tariff=TARIFF), catalog=catalog)
    store.create_tenant("t", 1.0, 0.0)
    job, _ = store.submit_job("t", "k", {"command": ["true"], "total_steps": 200.0, "devices": 2}, 0.0)
    rec.step()
    clock.set(100.0)
    rec.step()
    rec.step()
    assert store.get_job(job.id).state == JobState.SUCCEEDED  # type: ignore[union-attr]
    rows = store.ledger_records("t")
    assert len(rows) == 1
    r = rows[0]
    site = store.get_site("a").site  # type: ignore[union-attr]
    kwh = 200.0 * (catalog["V100"].tdp_w or 0) / 1000 / 3600 * site.pue
    assert (r["ref"], r["device_s"], r["energy_source"], r["tariff"]) == (job.id, 200.0, "estimated", "test-1")
    assert r["compute_usd"] == pytest.approx(0.2)
    assert r["energy_kwh"] == pytest.approx(kwh)
    assert r["energy_usd"] == pytest.approx(kwh * site.price_usd_per_kwh)
    assert r["carbon_usd"] == pytest.approx(kwh * site.carbon_g_per_kwh / 1000 * 0.1)
    assert r["amount_usd"] == pytest.approx(r["compute_usd"] + r["energy_usd"] + r["carbon_usd"])
    assert r["cu"] == pytest.approx(200.0)  # V100 is the reference: 1 CU per device-second
    assert store.verify_ledger().ok
    # a removed bill is found through its attempt even when the chain's tip is rewritten with it
    with store.engine.begin() as c:
        c.execute(text("delete from ledger"))
        c.execute(text("update ledger_head set seq = 0, hash = :h"), {"h": "0" * 64})
    v = store.verify_ledger()
    assert v.first_break is None and v.unbilled == ((job.id, 1),)


def test_a_preemptible_run_is_billed_at_the_discount(store: Store, tmp_path: Path) -> None:
    """The same 2 x V100 for 100 s as above, submitted preemptible: compute at 1 - 0.6 of 0.2 USD."""
    spot = Tariff("test-1", {(ANY_SITE, "V100"): 3.6}, 1.0, preemptible_discount=0.6)
    clock = ManualClock(0.0)
    ex = SimulatedExecutor(clock, ControlThroughput(None), {"a": {"V100": 2}})
    rec = Reconciler(store, ex, clock, ReconcilerConfig(run_dir=str(tmp_path), site_heartbeat_s=0.0, tariff=spot))
    store.create_tenant("t", 1.0, 0.0)
    job, _ = store.submit_job("t", "k", {"command": ["true"], "total_steps": 200.0, "devices": 2, "preemptible": True}, 0.0)
    rec.step()
    clock.set(100.0)
    rec.step()
    rec.step()
    (r,) = store.ledger_records("t")
    assert r["ref"] == job.id and r["compute_usd"] == pytest.approx(0.2 * 0.4)


def test_time_of_use_splits_at_hour_boundaries() -> None:
    night = Tariff("tou", {(ANY_SITE, "V100"): 1.0}, 1.0, periods=(TimeOfUse(22, 6, 0.5),), preemptible_discount=0.6)
    # 21:30-22:30 UTC on day 0: half an hour at 1x, half at 0.5x
    assert night.compute_usd("a", "V100", 2, 21.5 * 3600, 22.5 * 3600) == pytest.approx(2 * (0.5 + 0.25))
    assert night.compute_usd("a", "V100", 1, 5 * 3600, 7 * 3600) == pytest.approx(0.5 + 1.0)  # 05-06 night, 06-07 day
    assert night.compute_usd("a", "V100", 1, 0, 3600, preemptible=True) == pytest.approx(0.5 * 0.4)
    assert night.rate("b", "T4") == 1.0  # no rate: the default
