"""Render simulation results: comparison table, results.json, per-job CSV, and PNG plots.

results.json is deterministic (no wall-clock values, stable key order), so two runs with the same
inputs produce byte-identical files. Schema (version 1):

    {"schema_version": 1,
     "inputs": {"scenario", "trace", "seed", "jobs", "jobs_limit", "policies": [..], "measure"},
     "runs": [{"policy", "round_s", "events", "decisions", "start_s", "end_s",
               "metrics": {<cpnet.sim.metrics.Metrics fields>},
               "utilization_timeline": {"times_s": [..], "by_model": {model: [busy fraction, ..]},
                                        "all": [..]}}, ...]}
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from cpnet.sim.metrics import Metrics
from cpnet.sim.records import JobOutcome, SimulationResult

SCHEMA_VERSION = 1
TIMELINE_POINTS = 200


def _hours(x: float | None) -> str:
    return "-" if x is None else f"{x / 3600:.2f}"


def _num(x: float | None, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def comparison_table(runs: Sequence[tuple[SimulationResult, Metrics]], title: str = "") -> Table:
    """One row per policy: the numbers `cpnet simulate` prints."""
    table = Table(title=title or None)
    for col in ("policy", "jobs", "avg JCT h", "median JCT h", "p99 JCT h", "avg queue h", "makespan h",
                "util", "energy kWh", "cost USD", "Jain"):  # fmt: skip
        table.add_column(col, justify="left" if col == "policy" else "right", no_wrap=col == "policy")
    for result, m in runs:
        jobs = f"{m.jobs_finished}/{m.jobs}" + (f" ({m.jobs_infeasible} infeasible)" if m.jobs_infeasible else "")
        table.add_row(
            result.policy, jobs, _hours(m.avg_jct_s), _hours(m.median_jct_s), _hours(m.p99_jct_s),
            _hours(m.avg_queue_s), _hours(m.makespan_s), _num(m.utilization, ".1%"), _num(m.energy_kwh, ",.1f"),
            _num(m.cost_usd, ",.2f"), _num(m.jain_index, ".3f"),
        )  # fmt: skip
    return table


def sample_timeline(result: SimulationResult, points: int = TIMELINE_POINTS) -> dict[str, Any]:
    """Busy fraction per model (and overall) sampled at `points` evenly spaced times of the run."""
    start, end = result.start_s, max(result.end_s, result.start_s)
    times = np.linspace(start, end, points) if end > start else np.array([start])
    by_model: dict[str, list[float]] = {}
    total_busy = np.zeros(len(times))
    total_cap = 0
    for model, s in sorted(result.utilization.items()):
        if s.times_s:
            idx = np.searchsorted(np.asarray(s.times_s), times, side="right") - 1
            busy = np.where(idx >= 0, np.asarray(s.busy)[np.clip(idx, 0, None)], 0)
        else:
            busy = np.zeros(len(times))
        total_busy += busy
        total_cap += s.capacity
        by_model[model] = [float(b) / s.capacity for b in busy]
    overall = [float(b) / total_cap for b in total_busy] if total_cap else []
    return {"times_s": [float(t) for t in times], "by_model": by_model, "all": overall}


def results_document(inputs: Mapping[str, Any], runs: Sequence[tuple[SimulationResult, Metrics]]) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "inputs": dict(inputs),
        "runs": [
            {
                "policy": r.policy,
                "round_s": r.round_s,
                "events": r.events,
                "decisions": r.decisions,
                "start_s": r.start_s,
                "end_s": r.end_s,
                "metrics": m.to_dict(),
                "utilization_timeline": sample_timeline(r),
            }
            for r, m in runs
        ],
    }


def write_json(path: Path, doc: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", encoding="utf-8")


def write_job_csv(path: Path, result: SimulationResult) -> None:
    """One row per job: what happened to it (for users who want their own analysis)."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["index", "job_id", "tenant", "job_type", "num_devices", "arrival_s", "first_start_s",
                    "finish_s", "jct_s", "outcome", "restarts", "device_s", "accelerators", "reason"])  # fmt: skip
        for r in result.records:
            models = sorted({m for _, m in r.device_s})
            w.writerow([
                r.arrival_index, r.job_id, r.tenant, r.job_type, r.num_devices, repr(r.arrival_s),
                "" if r.first_start_s is None else repr(r.first_start_s),
                "" if r.finish_s is None else repr(r.finish_s),
                "" if r.jct_s is None else repr(r.jct_s), r.outcome.value, r.restarts,
                repr(r.total_device_s), "+".join(models), r.reason,
            ])  # fmt: skip


def plot_jct_cdf(path: Path, runs: Sequence[tuple[SimulationResult, Metrics]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for result, _ in runs:
        jcts = sorted(
            (r.finish_s - r.arrival_s) / 3600  # type: ignore[operator]
            for r in result.measured()
            if r.outcome is JobOutcome.FINISHED
        )
        if jcts:
            ys = np.arange(1, len(jcts) + 1) / len(jcts)
            ax.step(jcts, ys, where="post", label=result.policy)
    ax.set_xscale("log")
    ax.set_xlabel("job completion time (hours, log scale)")
    ax.set_ylabel("fraction of jobs")
    ax.set_title("JCT CDF")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def plot_utilization(path: Path, runs: Sequence[tuple[SimulationResult, Metrics]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for result, _ in runs:
        tl = sample_timeline(result, points=600)
        hours = [(t - result.start_s) / 3600 for t in tl["times_s"]]
        ax.plot(hours, [100 * u for u in tl["all"]], label=result.policy, linewidth=1)
    ax.set_xlabel("simulated time since first arrival (hours)")
    ax.set_ylabel("busy devices (% of all devices)")
    ax.set_ylim(bottom=0)
    ax.set_title("Utilization over time")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def write_outputs(out_dir: Path, inputs: Mapping[str, Any], runs: Sequence[tuple[SimulationResult, Metrics]]) -> list[Path]:
    """Write results.json, jobs-<policy>.csv, jct_cdf.png and utilization.png; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "results.json"]
    write_json(written[0], results_document(inputs, runs))
    for result, _ in runs:
        path = out_dir / f"jobs-{result.policy}.csv"
        write_job_csv(path, result)
        written.append(path)
    plot_jct_cdf(out_dir / "jct_cdf.png", runs)
    plot_utilization(out_dir / "utilization.png", runs)
    written += [out_dir / "jct_cdf.png", out_dir / "utilization.png"]
    return written
