"""Records -> JobSpecs: the seeded job-type rule, work from durations, tenants, ids."""

from __future__ import annotations

import pytest

from cpnet.core.errors import InputError
from cpnet.sim.traces import GAVEL_DISTRIBUTED, GAVEL_JOB_TYPES, TraceRecord, read_trace, to_job_specs
from trace_throughputs import GavelIsolatedTable, fixture

TABLE = GavelIsolatedTable()


def _record(job_id: str, n: int, *, line: int = 2, duration_s: float | None = 100.0, **kw) -> TraceRecord:
    return TraceRecord(job_id, 0.0, n, "t.csv", line, duration_s, **kw)


def test_untyped_records_get_gavel_types_and_duration_times_reference_rate() -> None:
    records = list(read_trace(fixture("philly_head40.csv")))
    jobs = list(to_job_specs(records, TABLE, seed=0))
    assert [j.id for j in jobs] == [r.job_id for r in records]
    for job, rec in zip(jobs, records, strict=True):
        assert job.job_type in GAVEL_JOB_TYPES
        assert job.total_steps == pytest.approx(rec.duration_s * TABLE.steps_per_s(job.job_type, "V100", rec.num_devices))
        assert job.tenant == rec.tenant
        assert job.arrival_s == rec.arrival_s
        assert job.extra["trace_line"] == str(rec.line)


def test_same_seed_same_jobs_and_different_seed_different_types() -> None:
    records = list(read_trace(fixture("philly_head40.csv")))
    first = list(to_job_specs(records, TABLE, seed=7))
    again = list(to_job_specs(records, TABLE, seed=7))
    other = list(to_job_specs(records, TABLE, seed=8))
    assert first == again
    assert [j.job_type for j in first] != [j.job_type for j in other]


def test_type_is_chosen_only_among_types_runnable_at_the_device_count() -> None:
    records = [_record(f"j{i}", 2, line=i + 2) for i in range(300)]
    types = {job.job_type for job in to_job_specs(records, TABLE, seed=1)}
    assert types <= GAVEL_DISTRIBUTED  # Recommendation, A3C, CycleGAN have no 2-GPU throughput
    assert len(types) == len(GAVEL_DISTRIBUTED)  # and every runnable one is drawn


def test_choice_is_roughly_uniform_over_all_26_types() -> None:
    records = [_record(f"j{i}", 1, line=i + 2) for i in range(5200)]
    counts: dict[str, int] = {}
    for job in to_job_specs(records, TABLE, seed=3):
        counts[job.job_type] = counts.get(job.job_type, 0) + 1
    assert set(counts) == set(GAVEL_JOB_TYPES)
    assert all(120 <= c <= 290 for c in counts.values())  # expected 200 each, sd ~14


def test_typed_records_keep_their_type_and_steps_and_consume_no_draws() -> None:
    typed = _record("a", 1, duration_s=None, job_type="A3C", total_steps=1234.0)
    untyped = [_record(f"u{i}", 1, line=i + 3) for i in range(20)]
    with_typed = list(to_job_specs([typed, *untyped], TABLE, seed=5))
    without = list(to_job_specs(untyped, TABLE, seed=5))
    assert (with_typed[0].job_type, with_typed[0].total_steps) == ("A3C", 1234.0)
    assert [j.job_type for j in with_typed[1:]] == [j.job_type for j in without]


def test_tenant_override_and_default() -> None:
    recs = [_record("a", 1, tenant="vc1"), _record("b", 1, line=3)]
    assert [j.tenant for j in to_job_specs(recs, TABLE, seed=0)] == ["vc1", "default"]
    assert [j.tenant for j in to_job_specs(recs, TABLE, seed=0, tenant="t")] == ["t", "t"]


def test_reference_accelerator_sets_the_work() -> None:
    rec = _record("a", 1, job_type="A3C", duration_s=60.0)
    (on_k80,) = to_job_specs([rec], TABLE, seed=0, reference_accelerator="K80")
    assert on_k80.total_steps == pytest.approx(60.0 * TABLE.steps_per_s("A3C", "K80", 1))


@pytest.mark.parametrize(
    ("records", "field", "words"),
    [
        ([_record("a", 1), _record("a", 1, line=3)], None, "duplicate job id 'a'"),
        ([_record("a", 16)], "num_devices", "no Gavel job type has a throughput on 16 x V100"),
        ([_record("a", 1, job_type="GPT-5")], "job_type", "unknown job type 'GPT-5'"),
        ([_record("a", 2, job_type="A3C")], "job_type", "no throughput on 2 x V100"),
        ([_record("a", 1, duration_s=None)], None, "neither total_steps nor a duration"),
    ],
    ids=["duplicate-id", "no-runnable-type", "unknown-type", "type-not-runnable", "no-work"],
)
def test_unusable_records_are_input_errors(records: list[TraceRecord], field: str | None, words: str) -> None:
    with pytest.raises(InputError) as err:
        list(to_job_specs(records, TABLE, seed=0))
    assert str(err.value).startswith("t.csv, line")
    assert err.value.field == field
    assert words in str(err.value)
