"""Capacity plans (issue 12 item 5): targets, the search rule on known response curves, and whole
plans replayed through the simulator on a one-site network, serially, in processes and by the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from cpnet.core.errors import CpnetError
from cpnet.plan.run import PlanRequest, make_plan
from cpnet.plan.search import Candidate, search
from cpnet.plan.target import Target
from cpnet.sim.records import JobOutcome, JobRecord, SimulationResult

H = 3600.0


@pytest.mark.parametrize(
    ("text", "stat", "metric", "bound_s", "inclusive"),
    [
        ("p90 queueing < 1h", "p90", "queueing", H, False),
        ("P99.5 JCT <= 36h", "p99.5", "jct", 36 * H, True),
        ("mean queueing < 30m", "mean", "queueing", 1800.0, False),
        ("p50 jct < 2d", "p50", "jct", 2 * 86400.0, False),
    ],
)
def test_targets_parse(text: str, stat: str, metric: str, bound_s: float, inclusive: bool) -> None:
    t = Target.parse(text)
    assert (t.stat, t.metric, t.bound_s, t.inclusive) == (stat, metric, bound_s, inclusive)


@pytest.mark.parametrize("text", ["p90 queueing 1h", "p100 queueing < 1h", "p90 waiting < 1h", "p90 queueing < 1 year", ""])
def test_bad_targets_say_what_is_expected(text: str) -> None:
    with pytest.raises(CpnetError, match=r"expected|percentile"):
        Target.parse(text)


def test_a_bound_is_strict_unless_inclusive() -> None:
    assert not Target.parse("p90 queueing < 1h").met(H) and Target.parse("p90 queueing <= 1h").met(H)


def _result(queues_s: Sequence[float | None], until_s: float = 10 * H) -> SimulationResult:
    """Jobs arriving at 0, 1 h, 2 h, ... with these queueing delays (None: never started)."""
    recs = []
    for i, q in enumerate(queues_s):
        a = i * H
        start = None if q is None else a + q
        recs.append(
            JobRecord(i, f"j{i}", "t", "a", 1, a, JobOutcome.FINISHED if start else JobOutcome.UNFINISHED, start, None if start is None else start + 60)
        )
    return SimulationResult("fifo", 0, None, tuple(recs), 0.0, until_s, {}, (), {}, {})


def test_jobs_never_started_count_their_wait_until_the_end() -> None:
    from cpnet.sim.metrics import censored_times_s

    # arrivals at 0, 1, 2 h; the third never starts: it has waited 10 - 2 = 8 h when the replay ends
    assert censored_times_s(_result([0.0, 1800.0, None]), "queueing", 10 * H) == [0.0, 1800.0, 8 * H]


CHEAP, DEAR = Candidate("T4", "s1", 1000.0, "test", 0.3), Candidate("A100", "s2", 10000.0, "test", 3.0)


def _replayer(needs: dict[str, int], calls: list[tuple[str | None, int]]):  # type: ignore[no-untyped-def]
    """A known response: the target (p50 queueing < 1 h) is met once a candidate adds `needs[model]` devices."""

    def replay(batch):  # type: ignore[no-untyped-def]
        out = []
        for cand, devices in batch:
            calls.append((None if cand is None else cand.model, devices))
            short = 1.0 if cand is None else max(0, needs[cand.model] - devices) / needs[cand.model]
            out.append(_result([short * 5 * H] * 3))
        return out

    return replay


def test_search_doubles_then_bisects_and_picks_the_cheapest_that_meets() -> None:
    calls: list[tuple[str | None, int]] = []
    # p50 queueing = 5 h x the share of the need still missing: met above 80 % of it, i.e. T4 at 36 (of 44), A100 at 12 (of 12)
    plan = search([CHEAP, DEAR], Target.parse("p50 queueing < 1h"), 10 * H, _replayer({"T4": 44, "A100": 12}, calls), block=4, max_add=256)
    assert plan.chosen is not None and plan.chosen.candidate == CHEAP and (plan.chosen.devices, plan.chosen.cost_usd) == (36, 36_000.0)
    assert plan.baseline.met is False and plan.due_s == 0.0
    assert calls == [
        (None, 0),
        *[(m, d) for d in (4, 8, 16) for m in ("T4", "A100")],  # doubling in lockstep; A100 meets at 16 (USD 160k)
        ("T4", 32),
        ("T4", 64),  # T4 meets at 64 (USD 64k)
        ("T4", 48),
        ("T4", 40),
        ("T4", 36),  # bisection; A100 is never bisected: its 12 would cost 120k, more than T4's 36k
    ]


def test_a_network_that_meets_needs_nothing_and_a_tight_budget_says_so() -> None:
    calls: list[tuple[str | None, int]] = []

    def fine(batch):  # type: ignore[no-untyped-def]
        calls.extend((None, d) for _, d in batch)
        return [_result([0.0, 0.0]) for _ in batch]

    assert search([CHEAP], Target.parse("p90 queueing < 1h"), 10 * H, fine).chosen is None and calls == [(None, 0)]
    plan = search([CHEAP, DEAR], Target.parse("p50 queueing < 1h"), 10 * H, _replayer({"T4": 44, "A100": 12}, []), block=4, max_runs=4)
    assert plan.chosen is None and plan.exhausted and plan.runs <= 4


SCENARIO = """schema_version: 1
name: one-site
sites:
  - id: s1
    tier: cloud
    region: test
    lat: 30.0
    lon: 110.0
    inventory: {V100: 8}
    pue: 1.2
    price_usd_per_kwh: 0.1
    carbon_g_per_kwh: 500.0
tenants:
  - id: default
    weight: 1.0
"""
HISTORY = "gavel-continuous:rate=1,jobs=120,seed=3"


def _request(tmp_path: Path, **kw: object) -> PlanRequest:
    path = tmp_path / "one-site.yaml"
    path.write_text(SCENARIO)
    args: dict[str, object] = dict(models=1, block=8, max_add=512, max_runs=20, start_s=1798761600.0)  # 2027-01-01
    args.update(kw)
    return PlanRequest(str(path), HISTORY, 72, Target.parse("p90 queueing < 2h"), **args)  # type: ignore[arg-type]


def test_a_plan_replayed_meets_its_target_where_the_network_as_it_is_misses(tmp_path: Path) -> None:
    plan = make_plan(_request(tmp_path))
    r = plan.result
    assert not r.baseline.met and r.chosen is not None and r.chosen.met
    assert r.chosen.candidate is not None and (r.chosen.candidate.model, r.chosen.candidate.site) == ("V100", "s1")
    assert r.chosen.devices % 8 == 0 and r.chosen.cost_usd == r.chosen.devices * 11500.0
    fewer = [e for e in r.tried if e.devices == r.chosen.devices - 8]
    assert all(not e.met for e in fewer)  # the fewest blocks: one block less misses (or was known to by the bisection's bracket)
    assert plan.answer().startswith(f"add {r.chosen.devices} x V100 at s1 by 2027-01-0")
    # the same plan in 2 worker processes: every replay is identical, so is the answer
    par = make_plan(_request(tmp_path, workers=2))
    assert par.to_json() == plan.to_json()


def test_the_cli_writes_the_plan_and_its_plot(tmp_path: Path) -> None:
    req = _request(tmp_path)
    out = tmp_path / "out"
    args = ["plan", "--scenario", req.scenario, "--history", HISTORY, "--horizon", "3d", "--target", "p90 queueing < 2h", "--models", "1", "--max-add", "512"]
    proc = subprocess.run(
        [sys.executable, "-m", "cpnet.cli.main", *args, "--max-runs", "20", "--start", "2027-01-01", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out / "plan.json").read_text())
    assert proc.stdout.strip() == doc["answer"] and doc["answer"].startswith("add ")
    assert doc["baseline"]["met"] is False and doc["chosen"]["met"] is True and len(doc["baseline"]["daily_s"]) == 3
    assert (out / "plan.png").stat().st_size > 10_000
    bad = subprocess.run([sys.executable, "-m", "cpnet.cli.main", "plan", "--target", "p90 queue < 1h"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "expected '<pNN|mean>" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_a_replay_that_certainly_misses_stops_early_and_one_that_meets_runs_out(tmp_path: Path) -> None:
    from dataclasses import replace

    from cpnet.catalog import load_catalog, load_throughputs
    from cpnet.plan.demand import future_demand
    from cpnet.plan.target import certain_misses
    from cpnet.scenario import load_scenario
    from cpnet.sim.driver import run_simulation
    from cpnet.sim.early_stop import MissWatch
    from cpnet.sim.metrics import censored_times_s
    from cpnet.sim.traces import open_trace

    req = _request(tmp_path)
    catalog = load_catalog()
    tp = load_throughputs(catalog)
    net = load_scenario(req.scenario)
    jobs = future_demand(list(open_trace(HISTORY, throughput=tp)), 72, seed=0).jobs
    target, until = req.target, 72 * H
    k = certain_misses(target, len(jobs))
    assert k is not None and 0 < k < len(jobs)

    def replay(network, watch):  # type: ignore[no-untyped-def]
        return run_simulation(scenario=network, jobs=jobs, policy="fifo", throughput=tp, catalog=catalog, until_s=until, on_event=watch)

    net = replace(net, sites=tuple(replace(s, inventory={"V100": 2}) for s in net.sites))  # deep in overload: the miss is certain early
    full = replay(net, None)
    late = sum(1 for t in censored_times_s(full, "queueing", until) if t > target.bound_s)
    assert late >= k and not target.met(target.value_s(censored_times_s(full, "queueing", until)))  # the network as it is misses
    watch = MissWatch("queueing", target.bound_s, k)
    stopped = replay(net, watch)
    assert watch.stopped_s is not None and stopped.end_s == watch.stopped_s < until
    assert sum(1 for t in censored_times_s(stopped, "queueing", stopped.end_s) if t > target.bound_s) >= k  # it had missed when it stopped
    big = replace(net, sites=tuple(replace(s, inventory={"V100": 4096}) for s in net.sites))
    roomy = MissWatch("queueing", target.bound_s, k)
    replay(big, roomy)
    assert roomy.stopped_s is None
