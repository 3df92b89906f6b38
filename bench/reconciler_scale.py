"""Reconciler cycle time and memory at scale (not a test): 100,000 queued jobs on 1,000 emulated sites.

The real control plane minus HTTP: a Store (SQLite in a temporary directory, or a temporary
PostgreSQL server, `cpnet.control.store.tempserver`), --sites emulated sites written as a scenario
would write them (--devices-per-site devices each, one or two models), --jobs `generic` jobs
submitted up front in batches (Store.submit_batch, the path of POST /v1/jobs:batch), and the
Reconciler with the simulated executor on the wall clock and policy fifo (cpnet serve's default).
On PostgreSQL the bulk load is followed by ANALYZE (what autovacuum does within a minute).

Phases: the first step (recovery, the first full read of the active jobs, the first placement of
every free device and its launches) is timed on its own as `first_step_s`; then --cycles steps are
timed one by one, --interval-s apart (the loop's period), while the API side keeps writing: with
--workers N, N processes (what `cpnet serve --workers N` runs beside the reconciler) each submit
jobs (Store.submit_jobs, the API batcher's group commit) and cancel queued ones at --submit-rate /
--cancel-rate per second in all; with --workers 0 this process does the same between steps, untimed.
Jobs last 1 step/s per device (`generic`), so with --min-s/--max-s some end and free devices every
cycle and the policy places others.

Prints one JSON object: cycle ms (p50/p99/max of whole steps, and of decisions), snapshot-build ms
(Reconciler.snapshot), RSS now and peak (VmRSS/VmHWM of this process, which holds the reconciler),
jobs queued and running, sites, db, churn per cycle, /proc/loadavg, and `met` against the targets
(cycle p99 <= 200 ms, peak RSS <= 2 GB).

    .venv/bin/python bench/reconciler_scale.py                          # SQLite, API in this process
    .venv/bin/python bench/reconciler_scale.py --db postgres --workers 2
    .venv/bin/python bench/reconciler_scale.py --profile /tmp/rec.prof  # cProfile of the timed cycles
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import math
import multiprocessing as mp
import os
import pstats
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TARGET_CYCLE_MS = 200.0
TARGET_RSS_MB = 2048.0
MODELS = ("V100", "P100", "K80", "A100", "T4")
TENANTS = 10


def _rss_mb() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process in MB."""
    got = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            got[key] = int(rest.split()[0]) / 1024
    return round(got["VmRSS"], 1), round(got["VmHWM"], 1)


def _pct(xs: list[float], p: float) -> float | None:
    """Nearest-rank percentile."""
    if not xs:
        return None
    s = sorted(xs)
    return round(s[max(math.ceil(p * len(s)) - 1, 0)], 2)


def _spec(rng: random.Random, lo_s: float, hi_s: float) -> dict[str, Any]:
    n = rng.choice((1, 1, 1, 2, 4))
    return {"command": ["true"], "name": "scale", "devices": n, "total_steps": round(rng.uniform(lo_s, hi_s) * n, 1)}


def _writer(url: str, k: int, submit_per_s: float, cancel_per_s: float, cancel_ids: list[str], lo_s: float, hi_s: float, stop: Any, counts: Any) -> None:
    """One API worker's writes: group-committed submissions and cancels, until `stop` is set."""
    from cpnet.control.store import Store
    from cpnet.control.store.store import StoreError
    from cpnet.core.states import InvalidTransition

    store = Store(url, pool_size=2)
    rng = random.Random(1000 + k)
    tick, n, submitted, cancelled = 0.1, 0, 0, 0
    try:
        while not stop.is_set():
            t0 = time.monotonic()
            n += 1
            want = int(submit_per_s * tick * n) - submitted
            if want > 0:
                now = time.time()
                items = [(f"t{rng.randrange(TENANTS)}", f"w{k}-{submitted + i}", _spec(rng, lo_s, hi_s), now) for i in range(want)]
                store.submit_jobs(items)
                submitted += want
            while cancel_ids and cancelled < int(cancel_per_s * tick * n):
                try:
                    store.cancel_job(cancel_ids.pop(), time.time(), "bench cancel")
                except (StoreError, InvalidTransition):
                    pass
                cancelled += 1
            stop.wait(max(tick - (time.monotonic() - t0), 0.0))
    finally:
        with counts.get_lock():
            counts[0] += submitted
            counts[1] += cancelled
        store.close()


class _InProcessApi:
    """--workers 0: the API's writes made by this process between steps (not timed)."""

    def __init__(self, store: Any, submit_per_s: float, cancel_per_s: float, cancel_ids: list[str], lo_s: float, hi_s: float) -> None:
        self.store, self.submit_per_s, self.cancel_per_s, self.cancel_ids = store, submit_per_s, cancel_per_s, cancel_ids
        self.lo_s, self.hi_s = lo_s, hi_s
        self.rng = random.Random(999)
        self.t0 = time.monotonic()
        self.submitted = self.cancelled = 0

    def catch_up(self) -> None:
        from cpnet.control.store.store import StoreError
        from cpnet.core.states import InvalidTransition

        elapsed = time.monotonic() - self.t0
        want = int(self.submit_per_s * elapsed) - self.submitted
        if want > 0:
            now = time.time()
            items = [(f"t{self.rng.randrange(TENANTS)}", f"a-{self.submitted + i}", _spec(self.rng, self.lo_s, self.hi_s), now) for i in range(want)]
            self.store.submit_jobs(items)
            self.submitted += want
        while self.cancel_ids and self.cancelled < int(self.cancel_per_s * elapsed):
            try:
                self.store.cancel_job(self.cancel_ids.pop(), time.time(), "bench cancel")
            except (StoreError, InvalidTransition):
                pass
            self.cancelled += 1


def _timed(fn: Callable[..., Any], into: list[float]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            into.append((time.perf_counter() - t0) * 1000)

    return wrapper


def run(args: argparse.Namespace, url: str, run_dir: Path) -> dict[str, Any]:
    from cpnet.catalog import load_catalog
    from cpnet.control.loop import WallClock
    from cpnet.control.reconciler import Reconciler, ReconcilerConfig
    from cpnet.control.store import Store
    from cpnet.control.throughput import load_control_throughput
    from cpnet.core.model import Site, Tier
    from cpnet.core.states import JobState
    from cpnet.executors.simulated import SimulatedExecutor

    store = Store(url)
    store.migrate()
    clock = WallClock()
    now = clock.now()
    rng = random.Random(0)
    devices = 0
    for i in range(args.sites):
        a, b = rng.sample(MODELS, 2)
        d = args.devices_per_site
        inv = {a: d} if d < 2 or i % 3 == 0 else {a: d - d // 2, b: d // 2}
        devices += d
        store.upsert_site(Site(f"s{i:04d}", Tier.CLOUD, f"r{i % 20}", 0.0, 0.0, inv, emulated=frozenset(inv)), "scenario", now)
    for k in range(TENANTS):
        store.create_tenant(f"t{k}", 1.0 + k % 3, now)
    t0 = time.perf_counter()
    ids: list[str] = []
    per = args.jobs // TENANTS
    for k in range(TENANTS):
        for lo in range(0, per, 10_000):
            n = min(10_000, per - lo)
            specs = [json.dumps(_spec(rng, args.min_s, args.max_s)) for _ in range(n)]
            got, _ = store.submit_batch(f"t{k}", f"b{k}-{lo}", [f"b{k}-{lo}#{i}" for i in range(n)], specs, time.time())
            ids += got
    submit_s = time.perf_counter() - t0
    if not store.sqlite:  # planner statistics after the bulk load, as autovacuum gathers them within a minute on a running server
        with store.engine.begin() as c:
            c.exec_driver_sql("ANALYZE")
    rng.shuffle(ids)

    catalog = load_catalog()
    throughput = load_control_throughput(catalog)
    executor = SimulatedExecutor(clock, throughput, {})
    rec = Reconciler(store, executor, clock, ReconcilerConfig(run_dir=str(run_dir)), throughput=throughput, catalog=catalog)
    snap_ms: list[float] = []
    rec.snapshot = _timed(rec.snapshot, snap_ms)  # type: ignore[method-assign]

    t0 = time.perf_counter()
    first = rec.step()
    first_step_s = time.perf_counter() - t0
    first_snap_ms = snap_ms[:]
    snap_ms.clear()

    cancel_ids = ids[: args.cancel_rate * int(args.cycles * (args.interval_s + 0.5) + 10)]
    stop = mp.get_context("spawn").Event()
    counts = mp.get_context("spawn").Array("i", 2)
    procs = []
    api: _InProcessApi | None = None
    if args.workers > 0:
        ctx = mp.get_context("spawn")
        for k in range(args.workers):
            mine = cancel_ids[k :: args.workers]
            p = ctx.Process(
                target=_writer,
                args=(url, k, args.submit_rate / args.workers, args.cancel_rate / args.workers, mine, args.min_s, args.max_s, stop, counts),
            )
            p.start()
            procs.append(p)
    else:
        api = _InProcessApi(store, args.submit_rate, args.cancel_rate, cancel_ids, args.min_s, args.max_s)

    gc_ms: list[float] = []  # full (generation 2) collections during the timed cycles
    gc_t0 = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if info.get("generation") == 2:
            if phase == "start":
                gc_t0[0] = time.perf_counter()
            else:
                gc_ms.append((time.perf_counter() - gc_t0[0]) * 1000)

    gc.callbacks.append(on_gc)
    slowest: list[tuple[float, bool, int, int, float]] = []  # (ms, decided, launched, ended, gc ms in it)
    cycle_ms: list[float] = []
    cpu_ms: list[float] = []  # this process's CPU time in each step: the machine is shared, wall time also counts waiting for a core
    decide_ms: list[float] = []
    ended = launched = decided = 0
    prof = cProfile.Profile() if args.profile else None
    try:
        for _ in range(args.cycles):
            if api is not None:
                api.catch_up()
            if prof is not None:
                prof.enable()
            n_gc = len(gc_ms)
            c0 = time.process_time()
            t0 = time.perf_counter()
            r = rec.step()
            dt = time.perf_counter() - t0
            cpu_ms.append((time.process_time() - c0) * 1000)
            slowest.append((round(dt * 1000, 1), r.decided, len(r.launched), len(r.ended), round(sum(gc_ms[n_gc:]), 1)))
            if prof is not None:
                prof.disable()
            cycle_ms.append(dt * 1000)
            if r.decide_s is not None:
                decide_ms.append(r.decide_s * 1000)
                decided += 1
            ended += len(r.ended)
            launched += len(r.launched)
            time.sleep(max(args.interval_s - dt, 0.0))
    finally:
        gc.callbacks.remove(on_gc)
        stop.set()
        for p in procs:
            p.join(30)
    rss_mb, peak_mb = _rss_mb()
    active = store.active_jobs()
    pending = sum(1 for j in active if j.state == JobState.PENDING)
    running = sum(1 for j in active if j.state == JobState.RUNNING)
    submitted = counts[0] if procs else (api.submitted if api else 0)
    cancelled = counts[1] if procs else (api.cancelled if api else 0)
    store.close()
    p99 = _pct(cycle_ms, 0.99)
    out: dict[str, Any] = {
        "db": "sqlite" if url.startswith("sqlite") else "postgresql",
        "workers": args.workers,
        "sites": args.sites,
        "devices": devices,
        "jobs": args.jobs,
        "jobs_queued_at_end": len(active),
        "pending_at_end": pending,
        "running_at_end": running,
        "cycles": len(cycle_ms),
        "interval_s": args.interval_s,
        "cycle_ms": {"p50": _pct(cycle_ms, 0.5), "p99": p99, "max": round(max(cycle_ms), 2), "mean": round(statistics.fmean(cycle_ms), 2)},
        "cycle_cpu_ms": {"p50": _pct(cpu_ms, 0.5), "p99": _pct(cpu_ms, 0.99), "max": round(max(cpu_ms), 2)},
        "decide_ms": {"p50": _pct(decide_ms, 0.5), "p99": _pct(decide_ms, 0.99), "decisions": decided},
        "snapshot_build_ms": {"p50": _pct(snap_ms, 0.5), "p99": _pct(snap_ms, 0.99), "first": round(first_snap_ms[0], 1) if first_snap_ms else None},
        "slowest_cycles": [dict(zip(("ms", "decided", "launched", "ended", "gc_ms"), c, strict=True)) for c in sorted(slowest, reverse=True)[:3]],
        "gc_full_collections": {"n": len(gc_ms), "ms_max": round(max(gc_ms), 1) if gc_ms else None},
        "first_step_s": round(first_step_s, 2),
        "first_step_launched": len(first.launched),
        "submit_batch_s": round(submit_s, 2),
        "per_cycle": {"ended": round(ended / len(cycle_ms), 2), "launched": round(launched / len(cycle_ms), 2)},
        "api_writes": {"submitted": submitted, "cancelled": cancelled, "submit_rate": args.submit_rate, "cancel_rate": args.cancel_rate},
        "rss_mb": rss_mb,
        "peak_rss_mb": peak_mb,
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        "cpus": os.cpu_count(),
        "targets": {"cycle_p99_ms": TARGET_CYCLE_MS, "peak_rss_mb": TARGET_RSS_MB},
        "met": {"cycle_p99<=200ms": p99 is not None and p99 <= TARGET_CYCLE_MS, "peak_rss<=2GB": peak_mb <= TARGET_RSS_MB},
    }
    if prof is not None:
        prof.dump_stats(args.profile)
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(25)
        print(buf.getvalue(), file=sys.stderr)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite", help="postgres starts a temporary server")
    ap.add_argument("--jobs", type=int, default=100_000)
    ap.add_argument("--sites", type=int, default=1000)
    ap.add_argument("--devices-per-site", type=int, default=4)
    ap.add_argument("--cycles", type=int, default=300)
    ap.add_argument("--interval-s", type=float, default=0.5, help="time from one step's start to the next (cpnet serve --interval-s)")
    ap.add_argument("--workers", type=int, default=0, help="API writer processes beside the reconciler (cpnet serve --workers); 0: this process writes")
    ap.add_argument("--submit-rate", type=float, default=20.0, help="jobs/s submitted during the timed cycles, all writers together")
    ap.add_argument("--cancel-rate", type=int, default=2, help="queued jobs/s cancelled during the timed cycles")
    ap.add_argument("--min-s", type=float, default=20.0, help="shortest job, seconds")
    ap.add_argument("--max-s", type=float, default=2000.0, help="longest job, seconds")
    ap.add_argument("--profile", default=None, help="write a cProfile of the timed cycles here (top 25 on stderr)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cpnet-recscale-"))
    if args.db == "postgres":
        from cpnet.control.store.tempserver import TemporaryPostgres

        with TemporaryPostgres() as pg:
            out = run(args, pg.create_database("recscale"), work / "runs")
    else:
        out = run(args, f"sqlite:///{work / 'cpnet.db'}", work / "runs")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
