"""`cpnet simulate`: run policies on one scenario and one trace, compare them, write results and plots."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from cpnet.core.errors import CpnetError, UnknownNameError

if TYPE_CHECKING:
    from cpnet.core.model import Accelerator, JobSpec, Tenant
    from cpnet.core.snapshot import ThroughputTable
    from cpnet.sched.runner import SchedulerConfig
    from cpnet.sim.driver import Network
    from cpnet.sim.metrics import Metrics
    from cpnet.sim.records import SimulationResult

    Runs = list[tuple[SimulationResult, Metrics]]

DEFAULT_POLICIES = ("fifo", "gavel-las")
DEFAULT_OUT = Path("out/simulate")


class TenantMode(StrEnum):
    """How trace users become scenario tenants (cpnet.sim.traces.tenancy)."""

    MAP = "map"  # assign_tenants: each trace user -> one scenario tenant, data fields filled
    TRACE = "trace"  # jobs keep the trace's own tenants, unchanged


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


def _check_writable(out: Path) -> None:
    """Fail before the run, not after it, when the output folder cannot be made or written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".cpnet-write-check"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise CpnetError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None


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
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed for the trace's job-type rule, the tenant and deadline rules, and the policies.")] = 0,
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
    # Every policy is built once here, before any loading or simulating, so a bad parameter is one
    # clear error up front rather than a failure after earlier policies have run.
    configs = _policy_configs(policies, policy_param or [])
    if deferrable_fraction is not None and slack_h is None:
        raise CpnetError("--deferrable-fraction needs --slack-h (the slack that makes jobs deferrable)")
    _check_writable(out)
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
    from cpnet.sim.driver import tenants_of

    scenario_tenants = tenants_of(net)
    mode = tenants or _default_tenant_mode(job_list, scenario_tenants)
    if mode is TenantMode.MAP:
        if not scenario_tenants:
            raise CpnetError(f"--tenants map: scenario '{scenario_name}' has no tenants to map trace users onto")
        job_list = list(assign_tenants(job_list, scenario_tenants, seed))
    fraction = None if slack_h is None else (1.0 if deferrable_fraction is None else deferrable_fraction)
    if slack_h is not None and fraction is not None:
        job_list = list(with_slack(job_list, slack_h * 3600.0, fraction, seed))
    load_s = time.perf_counter() - wall0

    _swallow_highs_banner()
    runs, timing = _run_policies(console, configs, net, job_list, throughput, catalog, seed)
    inputs = {
        "scenario": scenario_name,
        "trace": trace_name,
        "seed": seed,
        "jobs": len(job_list),
        "jobs_limit": jobs,
        "policies": policies,
        "measure": None,
        # JSON-safe copy: YAML values may be dates and such, which results.json spells as text.
        "policy_params": json.loads(json.dumps({c.policy: dict(c.params) for c in configs}, default=str)),
        "tenants": mode.value,
        "slack_h": slack_h,
        "deferrable_fraction": fraction,
        "deferrable_jobs": sum(1 for j in job_list if j.deadline_s is not None),
    }
    from cpnet.sim.report import comparison_table, region_table, write_outputs

    title = f"{getattr(net, 'name', scenario_name)} · {trace_name} · {len(job_list)} jobs · seed {seed}"
    console.print(comparison_table(runs, title=title))
    by_region = region_table(runs, title="jobs' energy, cost, carbon and data received, by region")
    if by_region is not None:
        console.print(by_region)
    written = write_outputs(out, inputs, runs)
    (out / "timing.json").write_text(json.dumps({"load_s": load_s, "runs": timing}, indent=2) + "\n")
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


def _run_policies(
    console: Console,
    configs: Sequence[SchedulerConfig],
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
        for config in configs:
            name = config.policy
            task = bar.add_task(f"{name:>12}", total=len(job_list), sim_h=0.0)

            def tick(now_s: float, done: int, task: TaskID = task) -> None:
                bar.update(task, completed=done, sim_h=(now_s - start_s) / 3600)

            t0 = time.perf_counter()
            result = run_simulation(
                scenario=net, jobs=job_list, policy=config, throughput=throughput, catalog=catalog,
                seed=seed, progress=tick,
            )  # fmt: skip
            wall_s = time.perf_counter() - t0
            bar.update(task, completed=len(job_list))
            runs.append((result, compute_metrics(result)))
            timing.append({"policy": name, "wall_s": wall_s, "events": result.events})
    return runs, timing
