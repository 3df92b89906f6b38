"""`cpnet plan`: what to buy, where and by when, so that forecast demand meets a target (cpnet.plan)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cpnet.core.errors import CpnetError

DEFAULT_HISTORY = "gavel-continuous:rate=20,jobs=3360,multi_gpu=1,users=40"  # a week of Gavel's generator at 20 jobs/h


def _start_s(text: str | None) -> float:
    if text is None:
        today = datetime.now(UTC).date()
        return datetime(today.year, today.month, today.day, tzinfo=UTC).timestamp()
    try:
        d = datetime.fromisoformat(text)
    except ValueError:
        raise CpnetError(f"--start {text!r}: expected a date, YYYY-MM-DD") from None
    return (d if d.tzinfo else d.replace(tzinfo=UTC)).timestamp()


def _growth(text: str) -> float:
    t = text.strip()
    try:
        return float(t[:-1]) / 100.0 if t.endswith("%") else float(t)
    except ValueError:
        raise CpnetError(f"--growth {text!r}: expected a fraction or a percentage per month, e.g. 0.1 or 10%") from None


def plan(
    scenario: Annotated[str | None, typer.Option(help="scenario name or file (default: the embedded default)")] = None,
    history: Annotated[str, typer.Option(help="the demand history: a trace name or file, as `cpnet simulate --trace`")] = DEFAULT_HISTORY,
    horizon: Annotated[str, typer.Option(help="how far ahead: 30d, 90d, 12w")] = "90d",
    target: Annotated[str, typer.Option(help="what must hold: '<pNN|mean> <queueing|jct> < <duration>'")] = "p90 queueing < 1h",
    policy: Annotated[str, typer.Option(help="the scheduling policy the replays run")] = "fifo",
    quantile: Annotated[str, typer.Option(help="plan for the forecast's mean, or its upper 80 or 95 % bound")] = "mean",
    growth: Annotated[str, typer.Option(help="extra demand growth per month beyond the forecast (an assumption you state), e.g. 10%")] = "0",
    forecast_model: Annotated[str, typer.Option("--forecast-model", help="forecast model (`cpnet forecast --help`)")] = "auto",
    models: Annotated[int, typer.Option(min=1, help="how many accelerator models to consider buying (best CU per dollar first)")] = 3,
    block: Annotated[int, typer.Option(min=1, help="devices are bought in blocks of this many (a server)")] = 8,
    max_add: Annotated[int, typer.Option(min=1, help="the most devices of one model a purchase may add")] = 1024,
    max_runs: Annotated[int, typer.Option(min=2, help="the most replays the search may run")] = 60,
    start: Annotated[str | None, typer.Option(help="the plan's first day, YYYY-MM-DD (UTC); default: today")] = None,
    seed: Annotated[int, typer.Option(help="seed of the demand sample")] = 0,
    jobs_parallel: Annotated[int | None, typer.Option("--jobs-parallel", min=1, help="replays at once in worker processes (default: one per core)")] = None,
    ray_address: Annotated[str | None, typer.Option("--ray", metavar="ADDRESS", help="run the replays as tasks on the Ray cluster at ADDRESS")] = None,
    out: Annotated[Path, typer.Option(help="where plan.json and plan.png go")] = Path("out/plan"),
) -> None:
    """Answer "add N devices of model X at site Y by date D" (or "nothing needed"): forecast demand from
    the history, sample future jobs from the forecast, replay them through the simulator on the
    network as it is and with candidate purchases, and pick the cheapest purchase that meets the
    target. The rule is in cpnet.plan.search."""
    from cpnet.forecast import parse_horizon
    from cpnet.plan.run import PlanRequest, make_plan, write_plan
    from cpnet.plan.target import Target
    from cpnet.scenario import DEFAULT_SCENARIO
    from cpnet.sched.registry import policy_names
    from cpnet.sim.parallel import check_ray_address, default_workers

    if policy not in policy_names():
        raise CpnetError(f"--policy {policy!r}: expected one of {', '.join(policy_names())}")
    if ray_address is not None and jobs_parallel is not None:
        raise CpnetError("--jobs-parallel and --ray: give one")
    if ray_address is not None:
        check_ray_address(ray_address)
    req = PlanRequest(
        scenario or DEFAULT_SCENARIO,
        history,
        parse_horizon(horizon),
        Target.parse(target),
        _start_s(start),
        policy=policy,
        quantile=quantile,
        growth_per_month=_growth(growth),
        forecast_model=forecast_model,
        models=models,
        block=block,
        max_add=max_add,
        max_runs=max_runs,
        seed=seed,
        workers=jobs_parallel or default_workers(64),
        ray_address=ray_address,
    )
    console = Console(stderr=True)
    t0 = time.perf_counter()
    columns = (TextColumn("replays"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[last]}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("replays", total=max_runs, last="")
        result = make_plan(req, on_run=lambda label: bar.update(task, advance=1, last=label), on_stage=lambda m: console.print(m))
        bar.update(task, total=result.result.runs, completed=result.result.runs)
    written = write_plan(result, out)
    typer.echo(result.answer())
    console.print(f"{result.result.runs} replays in {time.perf_counter() - t0:.0f} s; wrote {', '.join(map(str, written))}")


def register(app: typer.Typer) -> None:
    app.command("plan")(plan)
