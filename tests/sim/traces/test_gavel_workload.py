"""Gavel's generator: determinism, Gavel's random streams, and the statistics of its distributions."""

from __future__ import annotations

import itertools
import math
import random
import statistics

import pytest

from cpnet.sim.traces import GAVEL_DISTRIBUTED, GAVEL_JOB_TYPES, gavel_workload
from trace_throughputs import GavelIsolatedTable

TABLE = GavelIsolatedTable()


def _jobs(**kw):
    args = {"rate_jobs_per_hr": 5.6, "num_jobs": 5000, "seed": 0, "throughput": TABLE} | kw
    return list(gavel_workload(**args))


def _duration_s(job) -> float:
    return float(job.extra["duration_s"])


def test_deterministic_for_a_seed_and_different_across_seeds() -> None:
    assert _jobs(num_jobs=300) == _jobs(num_jobs=300)
    assert [j.job_type for j in _jobs(num_jobs=300)] != [j.job_type for j in _jobs(num_jobs=300, seed=1)]


def test_ids_arrivals_and_work() -> None:
    jobs = _jobs(num_jobs=500)
    assert [j.id for j in jobs] == [str(i) for i in range(500)]
    assert jobs[0].arrival_s == 0.0
    assert all(a.arrival_s < b.arrival_s for a, b in itertools.pairwise(jobs))
    for job in jobs:
        assert job.num_devices == 1
        assert job.total_steps == pytest.approx(_duration_s(job) * TABLE.steps_per_s(job.job_type, "V100", 1))


@pytest.mark.parametrize("rate", [4.8, 5.6])
def test_mean_interarrival_matches_rate(rate: float) -> None:
    jobs = _jobs(rate_jobs_per_hr=rate)
    gaps = [b.arrival_s - a.arrival_s for a, b in itertools.pairwise(jobs)]
    # Exponential gaps: the mean of 4,999 has a relative sd of 1.4 %; allow 5 %.
    assert statistics.fmean(gaps) == pytest.approx(3600.0 / rate, rel=0.05)


def test_duration_mixture() -> None:
    minutes = [_duration_s(j) / 60 for j in _jobs()]
    assert all(10**1.5 <= m <= 10**4 for m in minutes)
    long = [m for m in minutes if m > 1000]
    short = [m for m in minutes if m <= 1000]
    assert len(long) / len(minutes) == pytest.approx(0.2, abs=0.025)  # sd 0.006
    # log10 of each component is uniform: means 2.25 and 3.5.
    assert statistics.fmean(math.log10(m) for m in short) == pytest.approx(2.25, abs=0.03)
    assert statistics.fmean(math.log10(m) for m in long) == pytest.approx(3.5, abs=0.05)


def test_job_types_uniform_over_gavel_table() -> None:
    counts: dict[str, int] = {}
    for job in _jobs():
        counts[job.job_type] = counts.get(job.job_type, 0) + 1
    assert set(counts) == set(GAVEL_JOB_TYPES)
    assert all(110 <= c <= 280 for c in counts.values())  # expected 192 each, sd ~14


def test_multi_gpu_scale_factors() -> None:
    jobs = _jobs(multi_gpu=True)
    share = {n: sum(j.num_devices == n for j in jobs) / len(jobs) for n in (1, 2, 4, 8)}
    assert share == pytest.approx({1: 0.7, 2: 0.1, 4: 0.15, 8: 0.05}, abs=0.025)
    for job in jobs:
        if job.num_devices > 1:
            assert job.job_type in GAVEL_DISTRIBUTED
        assert job.total_steps == pytest.approx(_duration_s(job) * TABLE.steps_per_s(job.job_type, "V100", job.num_devices))


def test_priorities_one_in_five() -> None:
    jobs = _jobs(multi_priority=True)
    assert sum(j.priority_weight == 5.0 for j in jobs) / len(jobs) == pytest.approx(0.2, abs=0.025)
    assert {j.priority_weight for j in jobs} == {1.0, 5.0}


def _gavel_reference(seed: int, rate: float, n: int, multi_gpu: bool) -> list[tuple[str, int, float, float]]:
    """Gavel's generate_job + simulate() loop, restated step by step from its source."""
    job_generator = random.Random()
    job_generator.seed(seed + 2)
    interarrival_time_generator = random.Random()
    interarrival_time_generator.seed(seed + 3)
    lam = 3600.0 / rate
    out = []
    next_arrival = 0.0
    for _ in range(n):
        r = job_generator.uniform(0, 1)
        scale_factor = 1
        if 0.7 <= r <= 0.8:
            scale_factor = 2
        elif 0.8 <= r <= 0.95:
            scale_factor = 4
        elif 0.95 <= r:  # noqa: SIM300 (Gavel's generator, as written)
            scale_factor = 8
        if job_generator.random() >= 0.8:  # noqa: SIM108 (Gavel's generator, as written)
            run_time = 60 * (10 ** job_generator.uniform(3, 4))
        else:
            run_time = 60 * (10 ** job_generator.uniform(1.5, 3))
        if not multi_gpu:
            scale_factor = 1
        while True:
            job_type = job_generator.choice(GAVEL_JOB_TYPES)
            if scale_factor == 1 or job_type in GAVEL_DISTRIBUTED:
                break
        out.append((job_type, scale_factor, run_time, next_arrival))
        delta = -math.log(1.0 - interarrival_time_generator.random()) / (1.0 / lam)
        next_arrival = delta + next_arrival
    return out


@pytest.mark.parametrize(("seed", "multi_gpu"), [(0, False), (2, True)])
def test_reproduces_gavels_random_streams(seed: int, multi_gpu: bool) -> None:
    ours = [(j.job_type, j.num_devices, _duration_s(j), j.arrival_s) for j in _jobs(num_jobs=400, seed=seed, multi_gpu=multi_gpu)]
    assert ours == _gavel_reference(seed, 5.6, 400, multi_gpu)


def test_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match="rate_jobs_per_hr"):
        _jobs(rate_jobs_per_hr=0.0)
    with pytest.raises(ValueError, match="num_jobs"):
        _jobs(num_jobs=-1)
