"""Each reader on a small real fixture, checked against the fixture's rows read independently."""

from __future__ import annotations

import csv
import itertools

import pytest

from cpnet.core.errors import InputError, UnknownNameError
from cpnet.sim.traces import FORMATS, TraceRecord, detect_format, read_trace
from trace_throughputs import fixture

PHILLY = fixture("philly_head40.csv")
ITP = fixture("itp_cluster10_head30.csv")
OPENB = fixture("openb_gpuspec33_head80.csv")
GAVEL_MSR = fixture("gavel_msr_0e4a51_head40.trace")
GAVEL_PHYSICAL = fixture("gavel_physical_artifact_evaluation.trace")


def _csv_rows(path: str) -> dict[int, dict[str, str]]:
    """Data rows keyed by 1-based physical line (header = line 1); these files have no quoting."""
    with open(path, newline="") as f:
        return {line: row for line, row in enumerate(csv.DictReader(f), start=2)}


def _assert_arrival_order(records: list[TraceRecord]) -> None:
    assert records[0].arrival_s == 0.0
    assert all(a.arrival_s <= b.arrival_s for a, b in itertools.pairwise(records))
    assert len({r.job_id for r in records}) == len(records)


@pytest.mark.parametrize(
    ("path", "expected"),
    [(PHILLY, "philly"), (ITP, "itp"), (OPENB, "openb"), (GAVEL_MSR, "gavel"), (GAVEL_PHYSICAL, "gavel")],
)
def test_detect_format_by_extension_or_header(path: str, expected: str) -> None:
    assert detect_format(path) == expected


def test_philly_reader_sorts_by_timestamp_and_keeps_every_row() -> None:
    rows = _csv_rows(PHILLY)
    stamps = [r["timestamp"] for r in rows.values()]
    assert stamps != sorted(stamps), "fixture should exercise the out-of-order case"
    records = list(read_trace(PHILLY))
    assert len(records) == len(rows) == 40
    _assert_arrival_order(records)
    assert [rows[r.line]["timestamp"] for r in records] == sorted(stamps)
    for r in records:
        row = rows[r.line]
        assert r.job_id == f"L{r.line}"
        assert r.duration_s == float(row["duration"])
        assert r.num_devices == int(row["num_gpus"])
        assert r.tenant == row["cluster"]
        assert r.job_type is None and r.total_steps is None
    # Arrival gaps are wall-clock differences: 07:01:55 - 06:13:03 on the same day.
    by_stamp = {rows[r.line]["timestamp"]: r.arrival_s for r in records}
    assert by_stamp["2017-10-09 07:01:55"] - by_stamp["2017-10-09 06:13:03"] == 48 * 60 + 52


def test_itp_reader() -> None:
    rows = _csv_rows(ITP)
    records = list(read_trace(ITP))
    assert len(records) == 30
    _assert_arrival_order(records)
    first = float(rows[2]["submission_time"])
    for r in records:
        row = rows[r.line]
        assert r.job_id == row["job_id"]
        assert r.arrival_s == float(row["submission_time"]) - first
        assert r.duration_s == float(row["duration"])
        assert r.num_devices == int(row["num_gpu"])


def test_openb_reader_maps_pods_to_jobs() -> None:
    rows = _csv_rows(OPENB)
    records = list(read_trace(OPENB))
    kept = {line for line, row in rows.items() if int(row["num_gpu"]) > 0 and row["scheduled_time"]}
    assert {r.line for r in records} == kept
    assert any(int(row["num_gpu"]) == 0 for row in rows.values()), "fixture should hold CPU pods"
    assert any(not row["scheduled_time"] for row in rows.values()), "fixture should hold pending pods"
    _assert_arrival_order(records)
    first = float(rows[min(kept)]["creation_time"])
    fractional = 0
    for r in records:
        row = rows[r.line]
        extra = dict(r.extra)
        assert r.job_id == row["name"]
        assert r.arrival_s == float(row["creation_time"]) - first
        assert r.duration_s == float(row["deletion_time"]) - float(row["scheduled_time"])
        assert r.num_devices == int(row["num_gpu"])  # a GPU slice still takes one whole device
        if int(row["gpu_milli"]) < 1000:
            fractional += 1
            assert extra["gpu_milli"] == row["gpu_milli"]
        assert extra["qos"] == row["qos"]
    assert fractional > 0


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("", None),
        ("T4", frozenset({"T4"})),
        ("V100M16|V100M32", frozenset({"V100"})),
        ("P100|V100M16|V100M32", frozenset({"P100", "V100"})),
        ("A10", frozenset({"A10"})),
        ("G2", None),
        ("G2|P100|T4|V100M16|V100M32", None),  # an undisclosed alternative: anything may do
    ],
)
def test_openb_gpu_spec_to_accelerator_constraint(tmp_path, spec: str, expected: frozenset[str] | None) -> None:
    path = tmp_path / "pods.csv"
    path.write_text(
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n"
        f"p0,1000,1024,1,1000,{spec},LS,Running,10,50,12\n"
    )
    (record,) = read_trace(str(path))
    assert record.accelerators == expected


def test_gavel_msr_layout() -> None:
    records = list(read_trace(GAVEL_MSR))
    assert len(records) == 40
    _assert_arrival_order(records)
    with open(GAVEL_MSR) as f:
        cells = [line.rstrip("\n").split("\t") for line in f]
    for r in records:
        row = cells[r.line - 1]
        assert (r.job_type, r.total_steps, r.num_devices) == (row[0], float(row[4]), int(row[6]))
        assert r.arrival_s == float(row[5]) - float(cells[0][5])
        assert r.duration_s is None


def test_gavel_physical_layout() -> None:
    records = list(read_trace(GAVEL_PHYSICAL))
    assert len(records) == 15
    with open(GAVEL_PHYSICAL) as f:
        cells = [line.rstrip("\n").split("\t") for line in f]
    for r in records:
        row = cells[r.line - 1]
        assert (r.job_type, r.total_steps, r.num_devices, r.priority_weight) == (row[0], float(row[5]), int(row[6]), float(row[7]))
        assert "slo" not in dict(r.extra)  # the file's SLO is -1: none


def test_unknown_format_name_lists_the_valid_ones() -> None:
    with pytest.raises(UnknownNameError) as err:
        read_trace(PHILLY, "helios")
    for name in FORMATS:
        assert name in str(err.value)


def test_unrecognised_header_is_an_input_error(tmp_path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(InputError, match=r"x\.csv, line 1: unrecognised trace format"):
        read_trace(str(path))


def test_openb_list_without_time_columns_is_rejected(tmp_path) -> None:
    path = tmp_path / "openb_pod_list_multigpu20.csv"
    path.write_text("name,cpu_milli,memory_mib,num_gpu,gpu_milli\nopenb-pod-0000,12000,16384,1,1000\n")
    with pytest.raises(InputError, match="line 1: this pod list has no time columns"):
        list(read_trace(str(path)))
