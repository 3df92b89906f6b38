"""`cpnet simulate`: run policies (x seeds) on one scenario and one trace, compare them, write results and plots.

The runs go through cpnet.sim.parallel: in this process (`--jobs-parallel 1`), in worker processes,
or as Ray tasks (`--ray ADDRESS`); the results are the same whichever way they ran.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cpnet.cli.output import check_writable
from cpnet.core.errors import CpnetError, UnknownNameError

if TYPE_CHECKING:
    from cpnet.core.model import JobSpec, Tenant
    from cpnet.sched.runner import SchedulerConfig
    from cpnet.sim.metrics import Metrics
    from cpnet.sim.parallel import RunOutcome, RunSpec, SharedInputs
    from cpnet.sim.records import SimulationResult

    Runs = list[tuple[SimulationResult, Metrics]]
    Labels = Callable[[str, int], str]

DEFAULT_POLICIES = ("fifo", "gavel-las")
DEFAULT_OUT = Path("out/simulate")


class TenantMode(StrEnum):
    """How trace users become scenario tenants (cpnet.sim.traces.tenancy)."""

    MAP = "map"  # assign_tenants: each trace user -> one scenario tenant, data fields filled
    TRACE = "trace"  # jobs keep the trace's own tenants, unchanged


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
    seed: Annotated[
        list[int] | None,
        typer.Option(
            "--seed",
            min=0,
            help="Seed for the trace's job-type rule, the tenant and deadline rules, and the policies; repeat "
            "(--seed 0 --seed 1) to run every policy once per seed (default: 0).",
        ),
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Output folder for results.json and plots.")] = DEFAULT_OUT,
    policy_param: Annotated[
        list[str] | None,
        typer.Option(
            "--policy-param",
            help="Policy parameter, repeatable: NAME=VALUE sets it for every --policy, POLICY:NAME=VALUE for that one "
            "(later pairs win). VALUE is read as YAML (60, 0.5, false, null, text). Unknown names are rejected "
            "before anything runs, with the valid ones listed.",
        ),
    ] = None,
    tenants: Annotated[
        TenantMode | None,
        typer.Option(
            "--tenants",
            help="map: give each trace user (Philly VC) one scenario tenant by a seeded rule, and fill each job's "
            "data site (its tenant's home site) and data size (its job type's dataset); trace: keep the trace's "
            "tenants. Default: map when the scenario has tenants and some trace users are not among them, else trace.",
        ),
    ] = None,
    slack_h: Annotated[
        float | None,
        typer.Option(
            "--slack-h",
            min=0.0,
            help="Make jobs deferrable: deadline = arrival + the job's trace duration + H hours (jobs without a duration are left alone). Default: off.",
        ),
    ] = None,
    deferrable_fraction: Annotated[
        float | None,
        typer.Option(
            "--deferrable-fraction",
            min=0.0,
            max=1.0,
            help="With --slack-h: the share of jobs made deferrable, chosen per job by a seeded draw (default 1).",
        ),
    ] = None,
    jobs_parallel: Annotated[
        int | None,
        typer.Option(
            "--jobs-parallel",
            min=1,
            help="Runs (policy x seed) at once, each in its own worker process; 1 runs them one after the other "
            "in this process. Default: one per CPU, at most one per run. Results do not depend on it.",
        ),
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray",
            metavar="ADDRESS",
            help="Run each policy x seed as a task on the Ray cluster at ADDRESS (HOST:PORT, ray://HOST:PORT or auto); "
            "cpnet must be installed on its nodes. Never starts a Ray of its own.",
        ),
    ] = None,
) -> None:
    from cpnet.catalog import load_catalog, load_throughputs
    from cpnet.scenario import DEFAULT_SCENARIO, load_scenario
    from cpnet.sched.registry import policy_names
    from cpnet.sim.traces import DEFAULT_TRACE, assign_tenants, open_trace, with_slack

    policies = list(policy or DEFAULT_POLICIES)
    valid = policy_names()
    for name in policies:
        if name not in valid:
            raise UnknownNameError("policy", name, valid)
    if len(set(policies)) != len(policies):
        raise CpnetError(f"--policy names repeat: {policies}; give each policy once")
    seeds = list(seed or [0])
    if len(set(seeds)) != len(seeds):
        raise CpnetError(f"--seed values repeat: {seeds}; give each seed once")
    if ray_address is not None and jobs_parallel is not None:
        raise CpnetError("--jobs-parallel and --ray: give one; on Ray the cluster's CPUs set how many runs go at once")
    if ray_address is not None:
        from cpnet.sim.parallel import check_ray_address

        check_ray_address(ray_address)  # a malformed or dead address is one error before anything loads
    # Every policy is built once here, before any loading or simulating, so a bad parameter is one
    # clear error up front rather than a failure after earlier policies have run.
    configs = _policy_configs(policies, policy_param or [])
    if deferrable_fraction is not None and slack_h is None:
        raise CpnetError("--deferrable-fraction needs --slack-h (the slack that makes jobs deferrable)")
    check_writable(out)
    scenario_name = scenario or DEFAULT_SCENARIO
    trace_name = trace or DEFAULT_TRACE
    # Piped output has no width to wrap to: give the comparison table room for all its columns.
    console = Console() if Console().is_terminal else Console(width=160)

    wall0 = time.perf_counter()
    catalog = load_catalog()
    throughput = load_throughputs(catalog)
    net = load_scenario(scenario_name)
    from cpnet.sim.driver import tenants_of

    scenario_tenants = tenants_of(net)
    fraction = None if slack_h is None else (1.0 if deferrable_fraction is None else deferrable_fraction)
    # One job list per seed, shared by every policy: the comparison is on identical input.
    job_lists: dict[int, list[JobSpec]] = {}
    mode: TenantMode | None = tenants
    for s in seeds:
        job_list = list(open_trace(trace_name, throughput=throughput, seed=s, limit=jobs))
        if not job_list:
            raise CpnetError(f"trace '{trace_name}' has no jobs")
        mode = mode or _default_tenant_mode(job_list, scenario_tenants)
        if mode is TenantMode.MAP:
            if not scenario_tenants:
                raise CpnetError(f"--tenants map: scenario '{scenario_name}' has no tenants to map trace users onto")
            job_list = list(assign_tenants(job_list, scenario_tenants, s))
        if slack_h is not None and fraction is not None:
            job_list = list(with_slack(job_list, slack_h * 3600.0, fraction, s))
        job_lists[s] = job_list
    assert mode is not None
    load_s = time.perf_counter() - wall0

    from cpnet.sim.parallel import RunSpec, SharedInputs

    specs = [RunSpec(i, config, s) for i, (config, s) in enumerate((c, s) for c in configs for s in seeds)]
    shared = SharedInputs(net, throughput, catalog, job_lists)
    from cpnet.sim.report import run_label

    label: Labels = partial(run_label, several_seeds=len(seeds) > 1)
    runs, run_timing = _run_all(console, shared, specs, label, jobs_parallel, ray_address)
    timing = {"load_s": load_s, **run_timing}
    counts = [len(job_lists[s]) for s in seeds]
    deferrable = [sum(1 for j in job_lists[s] if j.deadline_s is not None) for s in seeds]
    inputs = {
        "scenario": scenario_name,
        "trace": trace_name,
        # One seed: its value, as before. Several: the list; each run says its own seed.
        "seed": seeds[0] if len(seeds) == 1 else seeds,
        "jobs": counts[0] if len(set(counts)) == 1 else counts,
        "jobs_limit": jobs,
        "policies": policies,
        "measure": None,
        # JSON-safe copy: YAML values may be dates and such, which results.json spells as text.
        "policy_params": json.loads(json.dumps({c.policy: dict(c.params) for c in configs}, default=str)),
        "tenants": mode.value,
        "slack_h": slack_h,
        "deferrable_fraction": fraction,
        "deferrable_jobs": deferrable[0] if len(seeds) == 1 else deferrable,
    }
    from cpnet.sim.report import comparison_table, labelled, region_table, write_outputs

    shown = labelled(runs)
    seed_text = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {', '.join(map(str, seeds))}"
    title = f"{getattr(net, 'name', scenario_name)} · {trace_name} · {len(job_lists[seeds[0]])} jobs · {seed_text}"
    console.print(comparison_table(shown, title=title))
    by_region = region_table(shown, title="jobs' energy, cost, carbon and data received, by region")
    if by_region is not None:
        console.print(by_region)
    written = write_outputs(out, inputs, runs)
    timing["total_s"] = time.perf_counter() - wall0
    (out / "timing.json").write_text(json.dumps(timing, indent=2) + "\n")
    console.print(f"wrote {', '.join(str(p) for p in written)} (+ timing.json)")


def _policy_configs(policies: Sequence[str], pairs: Sequence[str]) -> list[SchedulerConfig]:
    """One SchedulerConfig per policy, each built once to reject bad parameters before any run."""
    from cpnet.cli.params import parse_policy_params
    from cpnet.sched.registry import policy_params
    from cpnet.sched.runner import SchedulerConfig

    configs = []
    for name, params in parse_policy_params(pairs, policies).items():
        valid = policy_params(name)
        for key in params:
            if key not in valid:
                if not valid:
                    raise CpnetError(f"policy '{name}' takes no parameters; got --policy-param '{key}'")
                raise UnknownNameError(f"parameter of policy '{name}':", key, valid)
        config = SchedulerConfig(name, params)
        try:
            config.build()
        except (TypeError, ValueError) as exc:  # a factory rejecting a value: one line, not a traceback
            raise CpnetError(f"--policy-param for policy '{name}': {exc}") from exc
        configs.append(config)
    return configs


def _default_tenant_mode(job_list: Sequence[JobSpec], scenario_tenants: Mapping[str, Tenant]) -> TenantMode:
    """map when the scenario has tenants and some job's tenant is not one of them, else trace."""
    if scenario_tenants and any(j.tenant not in scenario_tenants for j in job_list):
        return TenantMode.MAP
    return TenantMode.TRACE


class _Bars:
    """One rich progress bar per run (jobs ended, simulated hours), fed by whichever engine runs them."""

    def __init__(self, bar: Progress, shared: SharedInputs, specs: Sequence[RunSpec], label: Labels) -> None:
        self.bar = bar
        self.total = {s.index: len(shared.jobs[s.seed]) for s in specs}
        self.start_s = {s.index: shared.jobs[s.seed][0].arrival_s for s in specs}
        width = max(12, *(len(label(s.config.policy, s.seed)) for s in specs))
        self.tasks = {s.index: bar.add_task(f"{label(s.config.policy, s.seed):>{width}}", total=self.total[s.index], sim_h=0.0) for s in specs}

    def advance(self, index: int, now_s: float, done: int) -> None:
        self.bar.update(self.tasks[index], completed=done, sim_h=(now_s - self.start_s[index]) / 3600)

    def finish(self, outcome: RunOutcome) -> None:
        self.bar.update(self.tasks[outcome.index], completed=self.total[outcome.index])


def _run_all(
    console: Console, shared: SharedInputs, specs: Sequence[RunSpec], label: Labels, jobs_parallel: int | None, ray_address: str | None
) -> tuple[Runs, dict[str, Any]]:
    """Every run, in this process, in worker processes or on Ray, with a progress bar per run; and the wall times."""
    from cpnet.sim.parallel import default_workers, quiet_highs_banner, run_in_processes, run_on_ray, run_serial

    workers = min(jobs_parallel, len(specs)) if jobs_parallel is not None else default_workers(len(specs))
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("jobs"),
               TextColumn("sim {task.fields[sim_h]:.0f} h"), TimeElapsedColumn())  # fmt: skip
    if ray_address is None and workers == 1:
        quiet_highs_banner()  # the runs build their solvers in this process: keep HiGHS's banner out of the bars
    t0 = time.perf_counter()
    try:
        with Progress(*columns, console=console, transient=False) as bar:
            bars = _Bars(bar, shared, specs, label)
            if ray_address is not None:
                engine: dict[str, Any] = {"engine": "ray", "ray_address": ray_address}
                outcomes = run_on_ray(ray_address, shared, specs, bars)
            elif workers > 1:
                engine = {"engine": "processes", "workers": workers}
                outcomes = run_in_processes(shared, specs, workers, bars)
            else:
                engine = {"engine": "serial", "workers": 1}
                outcomes = run_serial(shared, specs, bars)
    except KeyboardInterrupt:
        # The engines have stopped their workers by now. SystemExit, not typer.Exit: `cpnet`'s
        # entry point runs typer in non-standalone mode, which would turn Ctrl-C into exit code 0.
        console.print("interrupted: every run stopped; no results written")
        raise SystemExit(130) from None
    runs_s = time.perf_counter() - t0
    runs: Runs = [(o.result, o.metrics) for o in outcomes]
    per_run = [
        {"policy": o.result.policy, "seed": o.result.seed, "wall_s": o.wall_s, "cpu_s": o.cpu_s, "events": o.result.events, "pid": o.pid, "host": o.host}
        for o in outcomes
    ]  # fmt: skip
    return runs, {**engine, "runs_s": runs_s, "sum_run_wall_s": sum(o.wall_s for o in outcomes), "runs": per_run}
