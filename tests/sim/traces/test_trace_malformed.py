"""Malformed rows, per format: one InputError naming the file, the physical line and the field."""

from __future__ import annotations

import pytest

from cpnet.core.errors import InputError
from cpnet.sim.traces import read_trace

PHILLY_HEADER = "timestamp,duration,num_gpus,gpu_time,cluster\n"
PHILLY_OK = "2017-10-09 07:01:55,66.0,1,66.0,11cb48\n"
ITP_HEADER = "job_id,submission_time,duration,num_gpu\n"
ITP_OK = "a,100,600,1\n"
OPENB_HEADER = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n"
OPENB_OK = "p0,1000,1024,1,1000,,LS,Running,10,50,12\n"
GAVEL10_OK = "A3C\tpython3 main.py\trl\t--max-steps\t0\t1000\t1\t1\t-1.000000\t0\n"
GAVEL7_OK = "A3C\tpython3 main.py\t--max-steps\t0\t1000\t0.000000\t1\n"

# (case id, file name, content, line, field or None, words the message must contain)
CASES = [
    ("philly-fields", "p.csv", PHILLY_HEADER + PHILLY_OK + "2017-10-09 07:01:55,66.0,1,66.0\n", 3, None, "expected 5 comma-separated fields, found 4"),
    ("philly-duration-text", "p.csv", PHILLY_HEADER + "2017-10-09 07:01:55,abc,1,66.0,vc\n", 2, "duration", "expected a number, got 'abc'"),
    ("philly-duration-negative", "p.csv", PHILLY_HEADER + PHILLY_OK + "2017-10-09 07:01:55,-5,1,-5,vc\n", 3, "duration", "> 0"),
    ("philly-duration-nan", "p.csv", PHILLY_HEADER + "2017-10-09 07:01:55,nan,1,1,vc\n", 2, "duration", "finite"),
    ("philly-zero-gpus", "p.csv", PHILLY_HEADER + "2017-10-09 07:01:55,66.0,0,0,vc\n", 2, "num_gpus", ">= 1"),
    ("philly-fractional-gpus", "p.csv", PHILLY_HEADER + "2017-10-09 07:01:55,66.0,1.5,99,vc\n", 2, "num_gpus", "integer"),
    ("philly-gpu-time", "p.csv", PHILLY_HEADER + "2017-10-09 07:01:55,66.0,1,x,vc\n", 2, "gpu_time", "number"),
    ("philly-timestamp", "p.csv", PHILLY_HEADER + PHILLY_OK + "2017-13-09 07:01:55,66.0,1,66.0,vc\n", 3, "timestamp", "YYYY-MM-DD HH:MM:SS"),
    ("philly-timestamp-date-only", "p.csv", PHILLY_HEADER + "2017-10-09,66.0,1,66.0,vc\n", 2, "timestamp", "YYYY-MM-DD HH:MM:SS"),
    ("philly-empty-vc", "p.csv", PHILLY_HEADER + "2017-10-09 07:01:55,66.0,1,66.0,\n", 2, "cluster", "virtual-cluster"),
    ("philly-line-after-blank", "p.csv", PHILLY_HEADER + PHILLY_OK + "\n" + "2017-10-09 07:01:55,-1,1,1,vc\n", 4, "duration", "> 0"),
    ("philly-header", "p.csv", "timestamp,duration,num_gpus,gpu_seconds,cluster\n" + PHILLY_OK, 1, "gpu_time", "header lacks column"),
    ("itp-fields", "i.csv", ITP_HEADER + ITP_OK + "b,200,600\n", 3, None, "expected 4 comma-separated fields, found 3"),
    ("itp-submission-text", "i.csv", ITP_HEADER + "a,soon,600,1\n", 2, "submission_time", "expected a number"),
    ("itp-duration-negative", "i.csv", ITP_HEADER + "a,100,-600,1\n", 2, "duration", "> 0"),
    ("itp-zero-gpus", "i.csv", ITP_HEADER + "a,100,600,0\n", 2, "num_gpu", ">= 1"),
    ("itp-order", "i.csv", ITP_HEADER + ITP_OK + "b,50,600,1\n", 3, "submission_time", "nondecreasing"),
    ("itp-empty-id", "i.csv", ITP_HEADER + ",100,600,1\n", 2, "job_id", "job id"),
    ("openb-fields", "o.csv", OPENB_HEADER + OPENB_OK + "p1,1000,1024,1,1000\n", 3, None, "expected 11 comma-separated fields, found 5"),
    ("openb-num-gpu", "o.csv", OPENB_HEADER + "p0,1000,1024,x,1000,,LS,Running,10,50,12\n", 2, "num_gpu", "integer"),
    ("openb-milli-zero", "o.csv", OPENB_HEADER + "p0,1000,1024,1,0,,LS,Running,10,50,12\n", 2, "gpu_milli", ">= 1"),
    ("openb-milli-over", "o.csv", OPENB_HEADER + "p0,1000,1024,1,1500,,LS,Running,10,50,12\n", 2, "gpu_milli", "1..1000"),
    ("openb-deleted-before-start", "o.csv", OPENB_HEADER + "p0,1000,1024,1,1000,,LS,Running,10,11,12\n", 2, "deletion_time", "> scheduled_time"),
    ("openb-scheduled-before-created", "o.csv", OPENB_HEADER + "p0,1000,1024,1,1000,,LS,Running,10,50,5\n", 2, "scheduled_time", ">= creation_time"),
    ("openb-spec", "o.csv", OPENB_HEADER + "p0,1000,1024,1,1000,H100,LS,Running,10,50,12\n", 2, "gpu_spec", "unknown GPU model 'H100'"),
    ("openb-order", "o.csv", OPENB_HEADER + OPENB_OK + "p1,1000,1024,1,1000,,LS,Running,5,50,12\n", 3, "creation_time", "nondecreasing"),
    ("gavel-first-row-width", "g.trace", "A3C\tcmd\t1\t2\t3\t4\t5\t6\n", 1, None, "expected 7, 9 or 10 tab-separated fields"),
    ("gavel-row-width", "g.trace", GAVEL10_OK + GAVEL7_OK, 2, None, "expected 10 tab-separated fields, found 7"),
    ("gavel-steps-text", "g.trace", GAVEL7_OK.replace("\t1000\t", "\tmany\t"), 1, "total_steps", "expected a number"),
    ("gavel-steps-zero", "g.trace", GAVEL7_OK.replace("\t1000\t", "\t0\t"), 1, "total_steps", "> 0"),
    ("gavel-scale-zero", "g.trace", GAVEL10_OK.replace("\t1000\t1\t1\t", "\t1000\t0\t1\t"), 1, "scale_factor", ">= 1"),
    ("gavel-priority", "g.trace", GAVEL10_OK.replace("\t1000\t1\t1\t", "\t1000\t1\t-2\t"), 1, "priority_weight", "> 0"),
    ("gavel-arrival-negative", "g.trace", GAVEL7_OK.replace("\t0.000000\t", "\t-3\t"), 1, "arrival_time_s", ">= 0"),
    ("gavel-order", "g.trace", GAVEL7_OK.replace("\t0.000000\t", "\t9\t") + GAVEL7_OK, 2, "arrival_time_s", "nondecreasing"),
    ("gavel-empty-type", "g.trace", GAVEL7_OK.replace("A3C", " "), 1, "job_type", "job type"),
]


@pytest.mark.parametrize(("name", "content", "line", "field", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_row_names_file_line_and_field(tmp_path, name: str, content: str, line: int, field: str | None, words: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InputError) as err:
        list(read_trace(str(path)))
    message = str(err.value)
    assert message.startswith(f"{path}, line {line}")
    assert err.value.line == line
    assert err.value.field == field
    if field is not None:
        assert f"field '{field}'" in message
    assert words in message


def test_missing_file_is_an_input_error(tmp_path) -> None:
    with pytest.raises(InputError, match="no such trace file"):
        read_trace(str(tmp_path / "absent.csv"), "philly")
