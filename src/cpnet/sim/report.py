"""Render simulation results: comparison table, results.json, per-job CSV, and PNG plots.

results.json is deterministic (no wall-clock values, stable key order), so two runs with the same
inputs produce byte-identical files. Schema (version 1; later keys are only ever added):

    {"schema_version": 1,
     "inputs": {"scenario", "trace", "seed", "jobs", "jobs_limit", "policies": [..], "measure"},
     "runs": [{"policy", "round_s", "events", "decisions", "start_s", "end_s",
               "metrics": {<cpnet.sim.metrics.Metrics fields>,
                           "by_site" | "by_tier" | "by_region": {name: {<Breakdown fields>}}},
               "utilization_timeline": {"times_s": [..], "by_model": {model: [busy fraction, ..]},
                                        "all": [..]}}, ...]}

The per-job CSV's `placements` column lists every start or move as "t_s@site/model x n", joined
by "; ". Every number comes from cpnet.sim.metrics.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from cpnet.sim.metrics import Breakdown, Metrics, job_energy, missed_deadline
from cpnet.sim.records import JobOutcome, JobRecord, SimulationResult

SCHEMA_VERSION = 1
TIMELINE_POINTS = 200


def _hours(x: float | None) -> str:
    if x is None:
        return "-"
    h = x / 3600
    return f"{h:.0f}" if abs(h) >= 1000 else f"{h:.2f}"  # whole hours from 1,000 h up: the table stays narrow


def _num(x: float | None, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def _qty(x: float | None, decimals: int) -> str:
    """Thousands separators; no decimals from 1,000 up, so wide values keep the table within 160 columns."""
    if x is None:
        return "-"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:,.{decimals}f}"


def comparison_table(runs: Sequence[tuple[SimulationResult, Metrics]], title: str = "") -> Table:
    """One row per policy: the numbers `cpnet simulate` prints.

    "util" is over the whole run (drain included), "busy util" over first to last arrival; energy,
    cost and kgCO2 are the jobs' (idle draw is in results.json); "data GB" is input data copied
    away from data sites. A "deadline miss" column (missed/with a deadline) appears when some job
    has a deadline.
    """
    table = Table(title=title or None, show_edge=False)  # no outer frame: two more columns of room
    deadlines = any(m.jobs_with_deadline for _, m in runs)
    # Two-line headers keep 14-15 columns within 160 characters; "avg JCT h" stays on one line.
    cols = ["policy", "jobs", "avg JCT h", "median\nJCT h", "p99\nJCT h", "avg\nqueue h", "makespan\nh", "util",
            "busy\nutil", "energy\nkWh", "cost\nUSD", "kgCO2", "data\nGB", "Jain"]  # fmt: skip
    if deadlines:
        cols.append("deadline\nmiss")
    for col in cols:
        table.add_column(col, justify="left" if col == "policy" else "right", no_wrap=col == "policy")
    for result, m in runs:
        jobs = f"{m.jobs_finished}/{m.jobs}" + (f" ({m.jobs_infeasible} infeas.)" if m.jobs_infeasible else "")
        row = [
            result.policy, jobs, _hours(m.avg_jct_s), _hours(m.median_jct_s), _hours(m.p99_jct_s),
            _hours(m.avg_queue_s), _hours(m.makespan_s), _num(m.utilization, ".1%"),
            _num(m.utilization_busy_window, ".1%"), _qty(m.energy_kwh, 1), _qty(m.cost_usd, 2),
            _qty(m.carbon_kg, 1), _qty(m.data_moved_gb, 1), _num(m.jain_index, ".3f"),
        ]  # fmt: skip
        if deadlines:
            row.append(f"{m.deadline_misses}/{m.jobs_with_deadline}")
        table.add_row(*row)
    return table


def region_table(runs: Sequence[tuple[SimulationResult, Metrics]], title: str = "by region") -> Table | None:
    """One row per region (Site.region), per policy the jobs' kWh, USD and kgCO2 there and the GB of
    data copied there; None when the network has a single region."""
    regions = sorted({r for _, m in runs for r in m.by_region})
    if len(regions) < 2:
        return None
    table = Table(title=title, show_edge=False)
    table.add_column("region", no_wrap=True)
    for result, _ in runs:
        for unit in ("kWh", "USD", "kgCO2", "data GB"):
            table.add_column(f"{result.policy}\n{unit}", justify="right")
    for region in regions:
        row = [region]
        for _, m in runs:
            b = m.by_region.get(region)
            row += ["-"] * 4 if b is None else [_qty(b.energy_kwh, 0), _qty(b.cost_usd, 0), _qty(b.carbon_kg, 0), _qty(b.data_moved_gb, 0)]
        table.add_row(*row)
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
                "seed": r.seed,
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


def _opt(x: float | None) -> str:
    return "" if x is None else repr(x)


def placements_text(record: JobRecord) -> str:
    """Every start or move of `record` as "t_s@site/model x n", joined by "; "."""
    return "; ".join(f"{p.time_s!r}@{p.site}/{p.accelerator} x {p.num_devices}" for p in record.placements)


def write_job_csv(path: Path, result: SimulationResult) -> None:
    """One row per job: what happened to it, where it ran and what it cost (for users' own analysis)."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["index", "job_id", "tenant", "job_type", "num_devices", "arrival_s", "first_start_s",
                    "finish_s", "jct_s", "outcome", "restarts", "device_s", "accelerators", "reason",
                    "placements", "first_site", "data_site", "data_moved_gb", "data_moved_gb_km", "transfer_s",
                    "deadline_s", "deadline_missed", "energy_kwh", "carbon_kg", "cost_usd"])  # fmt: skip
        for r in result.records:
            models = sorted({m for _, m in r.device_s})
            first_site = r.placements[0].site if r.placements else (r.intervals[0].site if r.intervals else "")
            e = job_energy(result, r)
            w.writerow([
                r.arrival_index, r.job_id, r.tenant, r.job_type, r.num_devices, repr(r.arrival_s),
                _opt(r.first_start_s), _opt(r.finish_s), _opt(r.jct_s), r.outcome.value, r.restarts,
                repr(r.total_device_s), "+".join(models), r.reason,
                placements_text(r), first_site, r.data_site or "", repr(r.data_moved_gb), repr(r.data_moved_gb_km),
                repr(r.transfer_s), _opt(r.deadline_s), int(missed_deadline(r, result.end_s)) if r.deadline_s is not None else "",
                repr(e.energy_kwh), repr(e.carbon_kg), repr(e.cost_usd),
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


def plot_energy_by_site(path: Path, runs: Sequence[tuple[SimulationResult, Metrics]]) -> None:
    """Jobs' energy cost and carbon per site, one bar per policy (idle draw left out: it is the network's)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tiers = {s.id: str(s.tier) for result, _ in runs for s in result.sites}
    sites = sorted({s for _, m in runs for s in m.by_site})
    many = len(sites) > 6
    labels = [f"{s} ({tiers.get(s, '?')})" if many else f"{s}\n({tiers.get(s, '?')})" for s in sites]
    width_in = min(16.0, max(7.0, 0.3 * len(sites) * max(1, len(runs)) + 3))
    fig, (ax_cost, ax_co2) = plt.subplots(2, 1, figsize=(width_in, 7.0 if many else 6.5), sharex=True)
    xs = np.arange(len(sites))
    bar_w = 0.8 / max(1, len(runs))
    for i, (result, m) in enumerate(runs):
        offset = (i - (len(runs) - 1) / 2) * bar_w
        empty = Breakdown()
        ax_cost.bar(xs + offset, [m.by_site.get(s, empty).cost_usd for s in sites], bar_w, label=result.policy)
        ax_co2.bar(xs + offset, [m.by_site.get(s, empty).carbon_kg for s in sites], bar_w, label=result.policy)
    ax_cost.set_ylabel("energy cost (USD)")
    ax_co2.set_ylabel("carbon (kgCO2)")
    ax_cost.set_title("Jobs' energy cost and carbon per site")
    ax_co2.set_xticks(xs, labels, rotation=30 if many else 0, ha="right" if many else "center")
    for ax in (ax_cost, ax_co2):
        ax.grid(True, axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    ax_cost.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def run_label(policy: str, seed: int, several_seeds: bool) -> str:
    """How a run is named in progress bars, tables and plots: its policy, and its seed when the runs have several."""
    return f"{policy} seed {seed}" if several_seeds else policy


def labelled(runs: Sequence[tuple[SimulationResult, Metrics]]) -> list[tuple[SimulationResult, Metrics]]:
    """The runs with `policy` set to their `run_label`, for the tables and plots (results.json keeps the policy name)."""
    several = len({r.seed for r, _ in runs}) > 1
    return [(replace(r, policy=run_label(r.policy, r.seed, several)), m) for r, m in runs]


def write_outputs(out_dir: Path, inputs: Mapping[str, Any], runs: Sequence[tuple[SimulationResult, Metrics]]) -> list[Path]:
    """Write results.json (each run with its policy and seed), jobs-<policy>.csv per run (jobs-<policy>-seed<N>.csv
    when the runs have several seeds), jct_cdf.png, utilization.png and energy_by_site.png; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "results.json"]
    write_json(written[0], results_document(inputs, runs))
    several = len({r.seed for r, _ in runs}) > 1
    for result, _ in runs:
        path = out_dir / (f"jobs-{result.policy}-seed{result.seed}.csv" if several else f"jobs-{result.policy}.csv")
        write_job_csv(path, result)
        written.append(path)
    shown = labelled(runs)
    for name, plot in (("jct_cdf.png", plot_jct_cdf), ("utilization.png", plot_utilization), ("energy_by_site.png", plot_energy_by_site)):
        plot(out_dir / name, shown)
        written.append(out_dir / name)
    return written
