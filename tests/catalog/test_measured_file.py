"""The measured-throughput file records the local batch and samples/s of every row, and the one batch
conversion rule (iteration time linear in the local batch, never extrapolated) on hand-computed cases."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cpnet.catalog.measurements import (
    POLLUX_LOCAL_BATCH,
    SCHEMA_VERSION,
    MeasuredPoint,
    elasticflow_a100_points,
    local_batch_of,
    placement_points,
    read_measured_file,
    step_time_at,
    write_measured_file,
)
from cpnet.core.errors import InputError


def test_step_time_is_linear_in_the_local_batch_and_never_extrapolated() -> None:
    rows = [(4, 0.5), (12, 1.0), (12, 1.2)]  # repeated rows at 12 average to 1.1
    assert step_time_at(rows, 12) == pytest.approx(1.1)
    assert step_time_at(rows, 4) == 0.5
    assert step_time_at(rows, 8) == pytest.approx(0.5 + (1.1 - 0.5) * (8 - 4) / (12 - 4))
    assert step_time_at(rows, 6) == pytest.approx(0.5 + 0.6 * 2 / 8)
    assert step_time_at(rows, 2) is None and step_time_at(rows, 16) is None


def test_placement_points_carry_the_batch_and_samples_per_s(tmp_path: Path) -> None:
    csv_file = tmp_path / "placements.csv"
    # bert's representative local batch is 8: placement 1 interpolates 4 -> 12, placement 2 has 8 itself.
    csv_file.write_text("placement,local_bsz,step_time,sync_time\n1,4,0.5,0.0\n1,12,1.0,0.0\n2,8,0.9,0.0\n2,16,1.5,0.0\n", encoding="utf-8")
    one, two = placement_points(str(csv_file), "bert", "T4", 4, "Test")
    assert POLLUX_LOCAL_BATCH["bert"] == 8
    assert (one.num_devices, one.local_batch) == (1, 8) and one.steps_per_s == pytest.approx(1 / 0.75)
    assert one.samples_per_s == pytest.approx(8 / 0.75)
    assert (two.num_devices, two.local_batch) == (2, 8) and two.steps_per_s == pytest.approx(2 / 0.9)
    assert two.samples_per_s == pytest.approx(2 * 8 / 0.9)


def test_elasticflow_cells_are_used_only_where_global_over_n_is_the_local_batch(tmp_path: Path) -> None:
    header = "global_batch_size,1,2,4,8,16,32,64\n"
    (tmp_path / "bert.csv").write_text(header + "64,6.0,8.0,10.0,11.0,,,\n", encoding="utf-8")  # local 8 only at n = 8
    (tmp_path / "deepspeech2.csv").write_text(header + "64,1.5,3.0,5.0,nan,,,\n", encoding="utf-8")  # local 32 at n = 2
    (tmp_path / "resnet50.csv").write_text(header + "128,3.5,6.5,11.0,,,,\n", encoding="utf-8")  # local 64 at n = 2
    got = {(p.job_type, p.num_devices): p for p in elasticflow_a100_points(str(tmp_path))}
    assert set(got) == {("bert", 8), ("deepspeech2", 2), ("imagenet", 2)}
    assert got[("bert", 8)].steps_per_s == 11.0 * 8 and got[("bert", 8)].samples_per_s == 11.0 * 64
    assert got[("deepspeech2", 2)].local_batch == 32 and got[("imagenet", 2)].samples_per_s == pytest.approx(6.5 * 128)


def test_every_shipped_row_has_its_batch_and_samples() -> None:
    points = read_measured_file()
    for p in points:
        assert p.local_batch == local_batch_of(p.job_type)
        if p.steps_per_s is not None and p.local_batch is not None:
            assert p.samples_per_s == pytest.approx(p.steps_per_s * p.local_batch)
        else:
            assert p.samples_per_s is None
    assert local_batch_of("ResNet-50 (batch size 32)") == 32 and local_batch_of("A3C") is None
    assert {p.local_batch for p in points if p.job_type == "imagenet"} == {POLLUX_LOCAL_BATCH["imagenet"]}
    text = Path(__file__).parents[2].joinpath("src/cpnet/catalog/data/measured_throughputs.csv").read_text(encoding="utf-8")
    assert f"schema_version: {SCHEMA_VERSION}" in text.splitlines()[0] and SCHEMA_VERSION == 2


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    points = [
        MeasuredPoint("bert", "T4", 2, 2.5, "Pollux x", 8),
        MeasuredPoint("A3C", "V100", 1, 7.0, "Gavel x", None),
        MeasuredPoint("ResNet-50 (batch size 128)", "K80", 2, None, "Gavel x", 128),
    ]
    out = tmp_path / "m.csv"
    write_measured_file(points, str(out))
    assert read_measured_file(str(out)) == points
    assert "bert,T4,2,8,2.5,20.0,Pollux x" in out.read_text(encoding="utf-8")


def test_a_samples_column_that_disagrees_with_steps_times_batch_is_rejected(tmp_path: Path) -> None:
    out = tmp_path / "m.csv"
    write_measured_file([MeasuredPoint("bert", "T4", 2, 2.5, "Pollux x", 8)], str(out))
    out.write_text(out.read_text(encoding="utf-8").replace(",20.0,", ",21.0,"), encoding="utf-8")
    with pytest.raises(InputError, match=re.escape("samples_per_s '21.0' is not steps_per_s x local_batch")):
        read_measured_file(str(out))


def test_a_schema_1_file_is_still_read(tmp_path: Path) -> None:
    old = tmp_path / "v1.csv"
    old.write_text(
        "# cpnet measured throughputs; schema_version: 1\njob_type,accelerator,num_devices,steps_per_s,source\n"
        "bert,T4,1,1.5,Pollux x\nResNet-50 (batch size 32),V100,1,7.0,Gavel x\n",
        encoding="utf-8",
    )
    bert, resnet = read_measured_file(str(old))
    assert (bert.local_batch, bert.samples_per_s) == (8, 12.0) and resnet.local_batch == 32
    bad = tmp_path / "v9.csv"
    bad.write_text("# schema_version: 9\njob_type\n", encoding="utf-8")
    with pytest.raises(InputError, match="schema_version: 2"):
        read_measured_file(str(bad))
