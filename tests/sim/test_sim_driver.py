"""Driver semantics on tiny literal networks: timing, rounds, preemption, validation, stopping."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cpnet.core.snapshot import Decision, Infeasible, Placement, Snapshot
from cpnet.sim.driver import run_simulation
from cpnet.sim.engine import SimulationError
from cpnet.sim.records import JobOutcome
from sim_toy import CATALOG, THROUGHPUT, GreedyFifo, job, toy_network


def _run(jobs, policy, **kw):  # type: ignore[no-untyped-def]
    kw.setdefault("scenario", toy_network())
    return run_simulation(jobs=jobs, policy=policy, throughput=THROUGHPUT, catalog=CATALOG, **kw)


def _by_id(result):  # type: ignore[no-untyped-def]
    return {r.job_id: r for r in result.records}


def test_event_driven_jobs_start_on_arrival_and_finish_at_steps_over_rate() -> None:
    # K80 (1 step/s/device) is first in GreedyFifo's pool order, then V100 (2 steps/s/device)
    res = _run([job(0, 0, 100), job(1, 0, 100, n=4), job(2, 10, 50), job(3, 20, 30)], GreedyFifo())
    r = _by_id(res)
    assert (r["j0"].first_start_s, r["j0"].finish_s) == (0, 100.0)  # 1 x K80
    assert (r["j1"].first_start_s, r["j1"].finish_s) == (0, 12.5)  # 4 x V100: 8 steps/s
    assert (r["j2"].first_start_s, r["j2"].finish_s) == (10, 60.0)  # second K80
    assert (r["j3"].first_start_s, r["j3"].finish_s) == (20, 35.0)  # K80s busy -> 1 x V100
    assert r["j1"].device_s == {("s1", "V100"): 50.0}
    assert res.end_s == 100.0


def test_round_based_waits_for_the_round_and_freed_devices_idle_until_next_round() -> None:
    net = toy_network(v100=0, k80=1)
    res = _run([job(0, 0, 100), job(1, 10, 100)], GreedyFifo(round_s=360), scenario=net)
    r = _by_id(res)
    assert r["j0"].first_start_s == 0 and r["j0"].finish_s == 100.0
    # j1 arrived at 10 s; the K80 is free from 100 s, but nothing starts before the 360 s round
    assert r["j1"].first_start_s == 360.0 and r["j1"].finish_s == 460.0
    series = res.utilization["K80"]
    assert list(zip(series.times_s, series.busy, strict=True)) == [(0, 1), (100.0, 0), (360.0, 1), (460.0, 0)]


def test_round_based_jumps_to_the_round_at_or_after_the_next_arrival() -> None:
    policy = GreedyFifo(round_s=360)
    res = _run([job(0, 0, 10), job(1, 5000, 10), job(2, 7200, 10)], policy)
    r = _by_id(res)
    assert r["j1"].first_start_s == 5040.0  # ceil(5000 / 360) * 360
    assert r["j2"].first_start_s == 7200.0  # exactly on a round boundary
    assert res.decisions == 3  # one call per round that had work; empty rounds are skipped


def test_round_override_applies_to_an_event_driven_policy() -> None:
    res = _run([job(0, 0, 10), job(1, 1, 10)], GreedyFifo(), round_s=60)
    assert _by_id(res)["j1"].first_start_s == 60


class Scripted:
    """Returns pre-written decisions by call number (for preemption and error cases)."""

    name = "scripted"

    def __init__(self, script: dict[float, Callable[[Snapshot], Decision]], round_s: float | None = None) -> None:
        self.script = script
        self.round_s = round_s
        self.states: list[object] = []

    def decide(self, snap: Snapshot) -> Decision:
        self.states.append(snap.policy_state)
        make = self.script.get(snap.now_s)
        d = make(snap) if make else Decision()
        return Decision(d.placements, d.preemptions, d.infeasible, policy_state=("state", snap.now_s))


def test_preemption_keeps_progress_and_restart_overhead_delays_finish() -> None:
    net = toy_network(v100=1, k80=0)
    start = lambda s: Decision(placements=(Placement("j0", "s1", "V100", 1),))  # noqa: E731
    script = {
        0.0: start,
        20.0: lambda s: Decision(preemptions=("j0",)),  # at t=20: 40 of 100 steps done
        30.0: start,
    }
    # j1 (a zero-work marker job that is never placed) forces a decision at t=20 and t=30
    jobs = [job(0, 0, 100), job(1, 20, 1, n=1), job(2, 30, 1, n=1)]
    policy = Scripted(script)
    res = _run(jobs, policy, scenario=net, restart_overhead_s=5)
    r = _by_id(res)["j0"]
    # resumes at 30, 5 s overhead, then 60 remaining steps at 2 steps/s = 30 s -> 65
    assert r.finish_s == 65.0
    assert r.restarts == 1
    assert r.device_s == {("s1", "V100"): 20.0 + 35.0}
    assert [p.time_s for p in r.placements] == [0.0, 30.0]
    # policy_state goes back unchanged: each call sees the previous call's state
    assert policy.states[0] is None
    assert policy.states[1] == ("state", 0.0)
    assert {x.outcome for x in res.records if x.job_id != "j0"} == {JobOutcome.UNFINISHED}


def test_move_releases_the_old_pool_and_is_recorded() -> None:
    net = toy_network(v100=1, k80=1)
    script = {
        0.0: lambda s: Decision(placements=(Placement("j0", "s1", "K80", 1),)),
        10.0: lambda s: Decision(placements=(Placement("j0", "s1", "V100", 1),)),  # 10 of 100 steps done
    }
    res = _run([job(0, 0, 100), job(1, 10, 1)], Scripted(script), scenario=net)
    r = _by_id(res)["j0"]
    assert r.finish_s == 10.0 + 90 / 2.0
    assert r.device_s == {("s1", "K80"): 10.0, ("s1", "V100"): 45.0}


def test_infeasible_jobs_end_once_with_their_reason() -> None:
    res = _run([job(0, 0, 10, n=16)], GreedyFifo())
    (rec,) = res.records
    assert rec.outcome is JobOutcome.INFEASIBLE and rec.reason == "no pool is big enough"
    assert rec.finish_s is None


@pytest.mark.parametrize(
    ("decision", "message"),
    [
        (Decision(placements=(Placement("j0", "s1", "V100", 2),)), "has 2 devices; the job needs exactly 1"),
        (Decision(placements=(Placement("j0", "s1", "A100", 1),)), "has no devices"),
        (Decision(placements=(Placement("j0", "s9", "V100", 1),)), "has no devices"),
        (Decision(preemptions=("j0",)), "preempted but is not running"),
        (Decision(placements=(Placement("zz", "s1", "V100", 1),)), "'zz' in placements, but it is not waiting"),
        (
            Decision(placements=(Placement("j0", "s1", "V100", 1),), infeasible=(Infeasible("j0", "x"),)),
            "names job 'j0' twice",
        ),
        (
            Decision(placements=tuple(Placement(f"j{i}", "s1", "K80", 1) for i in range(3))),
            r"needs 1 devices but only 0 are free",
        ),
    ],
)
def test_contract_violations_raise_simulation_error(decision: Decision, message: str) -> None:
    policy = Scripted({0.0: lambda s: decision})
    with pytest.raises(SimulationError, match=message):
        _run([job(0, 0, 10), job(1, 0, 10), job(2, 0, 10)], policy)


def test_placement_where_throughput_is_unknown_is_a_bug() -> None:
    policy = Scripted({0.0: lambda s: Decision(placements=(Placement("j0", "s1", "V100", 1),))})
    with pytest.raises(SimulationError, match="throughput is None"):
        _run([job(0, 0, 10, job_type="unknown")], policy)


def test_trace_out_of_arrival_order_is_rejected() -> None:
    with pytest.raises(SimulationError, match="nondecreasing arrival order"):
        _run([job(0, 10, 10), job(1, 5, 10)], GreedyFifo())


def test_measure_window_stops_once_its_jobs_ended() -> None:
    jobs = [job(i, 100 * i, 10) for i in range(10)]
    res = _run(jobs, GreedyFifo(), measure=(2, 4))
    assert res.end_s == 310.0  # j3 finishes at 300 + 10 / 1 step/s on a K80
    assert [r.job_id for r in res.measured()] == ["j2", "j3"]
    assert len(res.records) == 4  # j4.. never arrived: the trace is not read past the window


def test_progress_hook_sees_jobs_ended() -> None:
    seen: list[tuple[float, int]] = []
    _run([job(i, i, 10) for i in range(3)], GreedyFifo(), progress=lambda t, n: seen.append((t, n)))
    assert seen[-1][1] == 3
