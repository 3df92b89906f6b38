"""The whole 82,247-job Philly list streams in nondecreasing arrival order (needs the shared data)."""

from __future__ import annotations

import os

import pytest

from cpnet.sim.traces import read_trace

PHILLY = "/work/shared/data/pollux/philly.csv"


@pytest.mark.skipif(not os.path.exists(PHILLY), reason="public data set not present")
def test_full_philly_file_in_arrival_order() -> None:
    count = 0
    previous = 0.0
    ids: set[str] = set()
    for record in read_trace(PHILLY):
        assert record.arrival_s >= previous
        previous = record.arrival_s
        ids.add(record.job_id)
        count += 1
    assert count == len(ids) == 82247
    assert previous == pytest.approx(108.896875 * 86400)  # 2017-09-04 10:30:41 .. 2017-12-22 08:02:11
