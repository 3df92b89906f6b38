"""open_trace: bundled names with parameters, file paths, the shipped sample, errors."""

from __future__ import annotations

import csv
import itertools
import os

import pytest

from cpnet.core.errors import InputError, UnknownNameError
from cpnet.sim.traces import DEFAULT_TRACE, bundled_path, gavel_workload, open_trace, trace_names
from trace_throughputs import GavelIsolatedTable, fixture

TABLE = GavelIsolatedTable(beyond_8=True)  # the sample and ITP hold 16- and 32-GPU jobs


def test_names_and_default() -> None:
    assert DEFAULT_TRACE == "philly-sample"
    assert set(trace_names()) == {"philly-sample", "gavel-continuous"}


def test_philly_sample_is_a_real_busy_window() -> None:
    jobs = list(open_trace("philly-sample", throughput=TABLE))
    assert len(jobs) == 2000
    assert len({j.id for j in jobs}) == 2000
    assert jobs[0].arrival_s == 0.0
    assert all(a.arrival_s <= b.arrival_s for a, b in itertools.pairwise(jobs))
    assert len({j.tenant for j in jobs}) >= 5  # several virtual clusters
    # Every row is a verbatim row of the public file when it is available.
    source = "/work/shared/data/pollux/philly.csv"
    if os.path.exists(source):
        with open(source) as f:
            public = set(f.read().splitlines())
        with open(bundled_path("philly-sample.csv")) as f:
            assert set(f.read().splitlines()) <= public


def test_philly_sample_load_compresses_arrivals() -> None:
    base = list(open_trace("philly-sample", throughput=TABLE, limit=100))
    double = list(open_trace("philly-sample:load=2", throughput=TABLE, limit=100))
    assert [j.arrival_s / 2 for j in base] == [j.arrival_s for j in double]
    assert [j.job_type for j in base] == [j.job_type for j in double]


def test_limit_and_seed() -> None:
    assert len(list(open_trace("philly-sample", throughput=TABLE, limit=10))) == 10
    a = [j.job_type for j in open_trace("philly-sample", throughput=TABLE, seed=1, limit=50)]
    b = [j.job_type for j in open_trace("philly-sample", throughput=TABLE, seed=2, limit=50)]
    assert a != b


def test_gavel_continuous_name_matches_the_function() -> None:
    by_name = list(open_trace("gavel-continuous:rate=4.8,jobs=60,seed=1,multi_gpu=1", throughput=TABLE))
    direct = list(gavel_workload(rate_jobs_per_hr=4.8, num_jobs=60, seed=1, throughput=TABLE, multi_gpu=True))
    assert by_name == direct
    # Without seed= in the name, open_trace's seed is used.
    assert list(open_trace("gavel-continuous:jobs=5", throughput=TABLE, seed=1)) == list(
        gavel_workload(rate_jobs_per_hr=5.6, num_jobs=5, seed=1, throughput=TABLE)
    )


def test_file_paths_use_the_readers() -> None:
    jobs = list(open_trace(fixture("itp_cluster10_head30.csv"), throughput=TABLE))
    with open(fixture("itp_cluster10_head30.csv")) as f:
        assert [j.id for j in jobs] == [row["job_id"] for row in csv.DictReader(f)]
    gavel = list(open_trace(fixture("gavel_msr_0e4a51_head40.trace"), throughput=TABLE, fmt="gavel"))
    assert len(gavel) == 40


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(UnknownNameError) as err:
        open_trace("alibaba-sample", throughput=TABLE)
    assert "philly-sample" in str(err.value) and "gavel-continuous" in str(err.value)


@pytest.mark.parametrize(
    ("name", "field", "words"),
    [
        ("philly-sample:load=0", "load", "number > 0"),
        ("philly-sample:speed=2", "speed", "unknown parameter 'speed'"),
        ("gavel-continuous:jobs=many", "jobs", "integer >= 0"),
        ("gavel-continuous:multi_gpu=yes", "multi_gpu", "0 or 1"),
        ("gavel-continuous:rate", None, "key=value"),
        ("traces/missing.csv", None, "no such trace file"),
    ],
)
def test_bad_names_are_input_errors(name: str, field: str | None, words: str) -> None:
    with pytest.raises(InputError) as err:
        open_trace(name, throughput=TABLE)
    assert err.value.field == field
    assert words in str(err.value)
