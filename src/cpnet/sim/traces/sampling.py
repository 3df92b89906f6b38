"""How the shipped `philly-sample` was cut from `pollux/philly.csv` (reproducible).

    python -m cpnet.sim.traces.sampling /path/to/pollux/philly.csv OUT.csv --jobs 2000 --stride 50

Jobs are put in arrival order (the Philly reader's order). Among windows of `jobs` consecutive
jobs starting at multiples of `stride`, the one with the highest peak concurrent GPU demand is
kept, where demand at time t = GPUs of the window's jobs with arrival <= t < arrival + duration
(every job started on arrival, i.e. what an infinitely large cluster would run). Ties go to the
earliest window. Rows are copied verbatim, in arrival order, under the original header.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np

from cpnet.sim.traces.philly import read_philly


@dataclass(frozen=True, slots=True)
class Window:
    first_job: int  # index in arrival order
    num_jobs: int
    peak_demand_gpus: int
    lines: tuple[int, ...]  # physical lines of the window's rows in the source, in arrival order


def busiest_window(path: str, *, num_jobs: int, stride: int = 50) -> Window:
    records = list(read_philly(path))
    if num_jobs > len(records):
        raise ValueError(f"num_jobs ({num_jobs}) exceeds the {len(records)} jobs in {path}")
    arrival = np.array([r.arrival_s for r in records])
    end = arrival + np.array([r.duration_s for r in records])
    gpus = np.array([r.num_devices for r in records])
    best = (-1, 0)
    for first in range(0, len(records) - num_jobs + 1, stride):
        peak = _peak_demand(arrival[first : first + num_jobs], end[first : first + num_jobs], gpus[first : first + num_jobs])
        if peak > best[0]:
            best = (peak, first)
    peak, first = best
    lines = tuple(r.line for r in records[first : first + num_jobs])
    return Window(first, num_jobs, peak, lines)


def _peak_demand(start: np.ndarray, end: np.ndarray, gpus: np.ndarray) -> int:
    times = np.concatenate([start, end])
    delta = np.concatenate([gpus, -gpus])
    order = np.lexsort((delta, times))  # at equal times, releases (negative) before starts
    return int(np.cumsum(delta[order]).max())


def write_window(path: str, out: str, window: Window) -> None:
    wanted = set(window.lines)
    rows: dict[int, str] = {}
    with open(path, encoding="utf-8") as f:
        header = f.readline()
        for line, raw in enumerate(f, start=2):
            if line in wanted:
                rows[line] = raw if raw.endswith("\n") else raw + "\n"
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        f.write(header)
        f.writelines(rows[line] for line in window.lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Cut the busiest window of a Philly job list.")
    parser.add_argument("source")
    parser.add_argument("out")
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--stride", type=int, default=50)
    args = parser.parse_args(argv)
    window = busiest_window(args.source, num_jobs=args.jobs, stride=args.stride)
    write_window(args.source, args.out, window)
    print(f"jobs {window.first_job}..{window.first_job + window.num_jobs - 1} in arrival order; peak demand {window.peak_demand_gpus} GPUs; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
