"""`cpnet simulate`: run policies on one scenario and one trace, compare them, write results and plots."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from cpnet.core.errors import CpnetError, UnknownNameError

if TYPE_CHECKING:
    from cpnet.core.model import Accelerator, JobSpec
    from cpnet.core.snapshot import ThroughputTable
    from cpnet.sim.driver import Network
    from cpnet.sim.metrics import Metrics
    from cpnet.sim.records import SimulationResult

    Runs = list[tuple[SimulationResult, Metrics]]

DEFAULT_POLICIES = ("fifo", "gavel-las")
DEFAULT_OUT = Path("out/simulate")


def _swallow_highs_banner() -> None:
    """HiGHS prints a banner on fd 1 when a process first builds a solver; keep it out of the table."""
    import os
    import sys

    import highspy

    sys.stdout.flush()
    saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def register(app: typer.Typer) -> None:
    app.command("simulate", help="Replay a trace through scheduling policies and compare them.")(simulate)


def simulate(
    scenario: Annotated[
        str | None, typer.Option("--scenario", help="Bundled scenario name (see `cpnet scenario list`) or YAML file (default: east-data-west-compute).")
    ] = None,
    trace: Annotated[
        str | None,
        typer.Option(
            "--trace",
            help="Bundled trace (philly-sample[:load=X], gavel-continuous[:rate=R,jobs=N]) or a trace file "
            "(Gavel .trace, Philly csv, Microsoft ITP csv, Alibaba openb pod list) (default: philly-sample).",
        ),
    ] = None,
    policy: Annotated[list[str] | None, typer.Option("--policy", help=f"Policy to run; repeat to compare (default: {', '.join(DEFAULT_POLICIES)}).")] = None,
    jobs: Annotated[int | None, typer.Option("--jobs", min=1, help="Replay only the first N jobs of the trace.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the trace's job-type rule and the policies.")] = 0,
    out: Annotated[Path, typer.Option("--out", help="Output folder for results.json and plots.")] = DEFAULT_OUT,
) -> None:
    from cpnet.catalog import load_catalog, load_throughputs
    from cpnet.scenario import DEFAULT_SCENARIO, load_scenario
    from cpnet.sched.registry import policy_names
    from cpnet.sim.traces import DEFAULT_TRACE, open_trace

    policies = list(policy or DEFAULT_POLICIES)
    valid = policy_names()
    for name in policies:
        if name not in valid:
            raise UnknownNameError("policy", name, valid)
    if len(set(policies)) != len(policies):
        raise CpnetError(f"--policy names repeat: {policies}; give each policy once")
    scenario_name = scenario or DEFAULT_SCENARIO
    trace_name = trace or DEFAULT_TRACE
    # Piped output has no width to wrap to: give the comparison table room for all its columns.
    console = Console() if Console().is_terminal else Console(width=160)

    wall0 = time.perf_counter()
    catalog = load_catalog()
    throughput = load_throughputs(catalog)
    net = load_scenario(scenario_name)
    # One job list for every policy: the comparison is on identical input.
    job_list = list(open_trace(trace_name, throughput=throughput, seed=seed, limit=jobs))
    if not job_list:
        raise CpnetError(f"trace '{trace_name}' has no jobs")
    load_s = time.perf_counter() - wall0

    _swallow_highs_banner()
    runs, timing = _run_policies(console, policies, net, job_list, throughput, catalog, seed)
    inputs = {
        "scenario": scenario_name,
        "trace": trace_name,
        "seed": seed,
        "jobs": len(job_list),
        "jobs_limit": jobs,
        "policies": policies,
        "measure": None,
    }
    from cpnet.sim.report import comparison_table, write_outputs

    title = f"{getattr(net, 'name', scenario_name)} · {trace_name} · {len(job_list)} jobs · seed {seed}"
    console.print(comparison_table(runs, title=title))
    written = write_outputs(out, inputs, runs)
    (out / "timing.json").write_text(json.dumps({"load_s": load_s, "runs": timing}, indent=2) + "\n")
    console.print(f"wrote {', '.join(str(p) for p in written)} (+ timing.json)")


def _run_policies(
    console: Console,
    policies: Sequence[str],
    net: Network,
    job_list: Sequence[JobSpec],
    throughput: ThroughputTable,
    catalog: Mapping[str, Accelerator],
    seed: int,
) -> tuple[Runs, list[dict[str, Any]]]:
    """Run each policy on the same job list, with a progress bar per policy (jobs ended)."""
    from cpnet.sim.driver import run_simulation
    from cpnet.sim.metrics import compute_metrics

    runs: Runs = []
    timing: list[dict[str, Any]] = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("jobs"),
               TextColumn("sim {task.fields[sim_h]:.0f} h"), TimeElapsedColumn())  # fmt: skip
    start_s = job_list[0].arrival_s
    with Progress(*columns, console=console, transient=False) as bar:
        for name in policies:
            task = bar.add_task(f"{name:>12}", total=len(job_list), sim_h=0.0)

            def tick(now_s: float, done: int, task: TaskID = task) -> None:
                bar.update(task, completed=done, sim_h=(now_s - start_s) / 3600)

            t0 = time.perf_counter()
            result = run_simulation(
                scenario=net, jobs=job_list, policy=name, throughput=throughput, catalog=catalog,
                seed=seed, progress=tick,
            )  # fmt: skip
            wall_s = time.perf_counter() - t0
            bar.update(task, completed=len(job_list))
            runs.append((result, compute_metrics(result)))
            timing.append({"policy": name, "wall_s": wall_s, "events": result.events})
    return runs, timing
