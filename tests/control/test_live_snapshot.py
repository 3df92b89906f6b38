"""The reconciler's incremental snapshot (cpnet.control.live) equals one rebuilt from the store.

A random sequence of submissions (some stamped earlier than jobs already queued), reconciler steps
(placements, starts, ends as the simulated executor's jobs finish, preemptions under `las`),
cancels (of waiting, placed and running jobs) and site losses and returns is driven through the
real reconciler. At every decision the Snapshot it builds is compared with one rebuilt from
scratch (`rebuilt_snapshot`: every active job read again from the store and viewed again, the
sites read again, as the reconciler did before it kept them live); after every operation a
separate LiveJobs, following the same store, is compared with the same rebuild.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cpnet.catalog import load_catalog, load_throughputs
from cpnet.control.live import LiveJobs, held_pool
from cpnet.control.loop import ManualClock
from cpnet.control.reconciler import Reconciler, ReconcilerConfig
from cpnet.control.store import Store
from cpnet.control.store.store import StoreError
from cpnet.control.throughput import ControlThroughput
from cpnet.core.model import Site, Tenant, Tier
from cpnet.core.snapshot import JobView, Snapshot
from cpnet.core.states import InvalidTransition, JobState, SiteState
from cpnet.executors.simulated import SimulatedExecutor
from cpnet.sched.runner import SchedulerConfig

SITES = (
    Site("a", Tier.CLOUD, "r1", 0.0, 0.0, {"V100": 4}),
    Site("b", Tier.CLOUD, "r2", 1.0, 1.0, {"K80": 2, "V100": 2}),
    Site("c", Tier.EDGE, "r3", 2.0, 2.0, {"T4": 3}),
)
_THROUGHPUT = ControlThroughput(load_throughputs(load_catalog()))


def rebuilt_views(rec: Reconciler, now: float) -> tuple[tuple[JobView, ...], dict[tuple[str, str], int]]:
    """Every active job's view, made again from a full read, in (submitted_s, seq) order; and the devices held per pool."""
    jobs = sorted(rec.store.active_jobs(), key=lambda j: (j.submitted_s, j.seq))
    held: dict[tuple[str, str], int] = {}
    for job in jobs:
        h = held_pool(job)
        if h is not None:
            held[h[0]] = held.get(h[0], 0) + h[1]
    views = tuple(v for v in (rec._view(j, now)[0] for j in jobs) if v is not None)
    return views, held


def rebuilt_snapshot(rec: Reconciler, now: float) -> Snapshot:
    """The Snapshot as the reconciler built it before it kept its view live: everything read again."""
    records = rec.store.list_sites()
    sites = tuple(r.site for r in records if r.state == SiteState.UP)
    down = tuple(r.site for r in records if r.state != SiteState.UP)
    views, held = rebuilt_views(rec, now)
    free = {(s.id, m): max(n - held.get((s.id, m), 0), 0) for s in sites for m, n in s.inventory.items() if n > 0}
    tenants = {tid: Tenant(tid, w) for tid, w in rec.store.tenants().items()}
    return Snapshot(now, sites, views, free, rec.throughput, rec.catalog, rec.links, tenants, rec.config.seed, rec._policy_state, down, rec.energy)


class Drive:
    """A reconciler on `url` with the simulated executor and a manual clock; every snapshot it builds is checked."""

    def __init__(self, url: str, policy: str) -> None:
        self.store = Store(url)
        self.store.migrate()
        for s in SITES:
            self.store.upsert_site(s, "scenario", 0.0)
        for t in ("t1", "t2"):
            self.store.create_tenant(t, 1.0, 0.0)
        self.clock = ManualClock(100.0)
        self.ex = SimulatedExecutor(self.clock, _THROUGHPUT, {s.id: dict(s.inventory) for s in SITES})
        params = {"round_s": 30.0} if policy == "las" else {}
        config = ReconcilerConfig(
            scheduler=SchedulerConfig(policy, params), run_dir=tempfile.mkdtemp(), site_heartbeat_s=0.0, lost_site_avoid_s=25.0, preempt_wait_s=0.5
        )
        self.rec = Reconciler(self.store, self.ex, self.clock, config, throughput=_THROUGHPUT)
        self.checked = 0
        built = self.rec.snapshot

        def checked_snapshot(now: float) -> Snapshot:
            snap = built(now)
            assert snap == rebuilt_snapshot(self.rec, now)
            self.checked += 1
            return snap

        self.rec.snapshot = checked_snapshot  # type: ignore[method-assign]
        self.follower = LiveJobs(self.store, self.rec._view)  # a second live view, refreshed after each operation
        self.n = 0
        self.avoid: dict[str, dict[str, float]] = {}

    def close(self) -> None:
        self.store.close()

    def submit(self, k: int, devices: int, back_s: float, model: str | None) -> None:
        for _ in range(k):
            self.n += 1
            spec: dict[str, Any] = {"command": ["true"], "devices": devices, "total_steps": 15.0 * devices * (1 + self.n % 4)}
            if model:
                spec["accelerator"] = model
            self.store.submit_job(f"t{1 + self.n % 2}", f"k{self.n}", spec, self.clock.now() - back_s)

    def step(self, dt: float) -> None:
        self.clock.advance(dt)
        self.rec.step()

    def cancel(self, pick: int) -> None:
        active = sorted(j.id for j in self.store.active_jobs() if j.state != JobState.CANCELLED)
        if active:
            try:
                self.store.cancel_job(active[pick % len(active)], self.clock.now())
            except (StoreError, InvalidTransition):
                pass

    def lose(self, site: int) -> None:
        self.ex.fail_site(SITES[site % len(SITES)].id)

    def restore(self, site: int) -> None:
        self.ex.restore_site(SITES[site % len(SITES)].id)

    def check(self) -> None:
        self.follower.refresh()
        # The reconciler invalidates its own views when a lost job's site avoidance expires; this follower is told here.
        avoid = {j: dict(sites) for j, sites in self.rec._avoid.items()}
        self.follower.invalidate(j for j in avoid.keys() | self.avoid.keys() if avoid.get(j) != self.avoid.get(j))
        self.avoid = avoid
        now = self.clock.now()
        views, held = rebuilt_views(self.rec, now)
        assert self.follower.views(now) == views
        assert dict(self.follower.held) == held
        assert {j.id: j.version for j in self.follower.jobs.values()} == {j.id: j.version for j in self.store.active_jobs()}
        assert self.follower.pending == sum(1 for j in self.store.active_jobs() if j.state == JobState.PENDING)

    def run(self, ops: list[tuple[Any, ...]]) -> None:
        actions: dict[str, Callable[..., None]] = {
            "submit": self.submit,
            "step": self.step,
            "cancel": self.cancel,
            "lose": self.lose,
            "restore": self.restore,
        }
        for op, *args in ops:
            actions[op](*args)
            self.check()
        for _ in range(3):  # let the last changes reach a decision
            self.step(31.0)
            self.check()


_OP = st.one_of(
    st.tuples(st.just("submit"), st.integers(1, 4), st.sampled_from([1, 1, 2, 4]), st.sampled_from([0.0, 0.0, 0.0, 50.0]), st.sampled_from([None, None, "T4"])),
    st.tuples(st.just("step"), st.sampled_from([0.0, 1.0, 5.0, 30.0, 31.0])),
    st.tuples(st.just("cancel"), st.integers(0, 50)),
    st.tuples(st.just("lose"), st.integers(0, 2)),
    st.tuples(st.just("restore"), st.integers(0, 2)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy=st.sampled_from(["fifo", "las"]), ops=st.lists(_OP, min_size=1, max_size=30))
def test_incremental_snapshot_equals_a_rebuilt_one(policy: str, ops: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as d:
        drive = Drive(f"sqlite:///{Path(d) / 'live.db'}", policy)
        try:
            drive.run(ops)
        finally:
            drive.close()


def _seeded_ops(seed: int, n: int) -> list[tuple[Any, ...]]:
    rng = random.Random(seed)
    ops: list[tuple[Any, ...]] = []
    for _ in range(n):
        kind = rng.choices(["submit", "step", "cancel", "lose", "restore"], [4, 6, 2, 1, 1])[0]
        if kind == "submit":
            ops.append((kind, rng.randint(1, 5), rng.choice([1, 1, 2, 4]), rng.choice([0.0, 0.0, 50.0]), rng.choice([None, None, "T4"])))
        elif kind == "step":
            ops.append((kind, rng.choice([0.0, 1.0, 5.0, 30.0, 31.0])))
        else:
            ops.append((kind, rng.randint(0, 50)))
    return ops


@pytest.mark.parametrize("policy", ["fifo", "las"])
def test_incremental_snapshot_on_both_backends(db_url: str, policy: str) -> None:
    """A longer seeded sequence on SQLite and on PostgreSQL (the feed's order is the advisory lock's there)."""
    drive = Drive(db_url, policy)
    try:
        drive.run(_seeded_ops(7, 120))
        assert drive.checked >= 10  # the comparison ran at real decisions
    finally:
        drive.close()


def test_a_long_queue_gets_every_wait_reason_in_bounded_batches(db_url: str, tmp_path: Path) -> None:
    """Past 3 x `wait_reason_batch` waiting jobs, a step works out (and writes) at most a few batches
    of wait reasons, and a pass through the queue reaches every job, also in steps without a decision."""
    store = Store(db_url)
    store.migrate()
    store.upsert_site(Site("a", Tier.CLOUD, "r", 0.0, 0.0, {"V100": 1}), "scenario", 0.0)
    store.create_tenant("t", 1.0, 0.0)
    clock = ManualClock(10.0)
    config = ReconcilerConfig(run_dir=str(tmp_path / "runs"), wait_reason_batch=2)
    rec = Reconciler(store, SimulatedExecutor(clock, _THROUGHPUT), clock, config, throughput=_THROUGHPUT)
    store.submit_job("t", "long", {"command": ["true"], "total_steps": 1e6}, clock.now())
    for i in range(20):
        store.submit_job("t", f"w{i}", {"command": ["true"]}, clock.now() + 0.1 * i)
    written: list[int] = []
    set_wait_reasons = store.set_wait_reasons

    def counted(reasons: Any) -> None:
        written.append(len(reasons))
        set_wait_reasons(reasons)

    store.set_wait_reasons = counted  # type: ignore[method-assign]
    try:
        for _ in range(12):
            clock.advance(1.0)
            rec.step()
        waiting = [j for j in store.active_jobs() if j.state == JobState.PENDING]
        assert len(waiting) == 20
        assert {j.reason for j in waiting} == {"capacity: wants 1 device; none free in its 1 usable pool"}
        assert written and max(written) <= 2 + 2  # the head and the arrivals, or one sweep batch
        assert sum(written) == 20  # each reason written once: unchanged ones are not written again
    finally:
        store.close()
