"""`cpnet forecast`: hourly demand per tenant, workload class or in total, forecast with intervals.

Series, models and backtest: cpnet.forecast (docs/forecast.md). Writes forecast.png (history,
forecast, 80 %/95 % bands) and forecast.json (the forecasts, and the backtest with --backtest).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from cpnet.cli.output import check_writable
from cpnet.core.errors import CpnetError

DEFAULT_OUT = Path("out/forecast")
BACKTEST_HORIZONS = (1, 24, 168, 2160)  # 1 h, 1 day, 1 week, 90 days


def register(app: typer.Typer) -> None:
    app.command("forecast", help="Forecast a trace's hourly demand (device-hours/h, CU/h) with 80 % and 95 % intervals; --backtest scores it.")(forecast)


def forecast(
    trace: Annotated[
        str | None,
        typer.Option(
            "--trace",
            help="Bundled trace (philly-sample[:load=X], gavel-continuous[:rate=R,jobs=N]) or a trace file "
            "(Philly csv, Microsoft ITP csv, Alibaba openb pod list) (default: philly-sample).",
        ),
    ] = None,
    by: Annotated[str, typer.Option("--by", help="total, tenant (Philly: its VC) or class (gang size: fractional, 1-gpu, 2-8-gpu, >8-gpu).")] = "total",
    horizon: Annotated[str, typer.Option("--horizon", help="How far ahead: hours, days or weeks, e.g. 1h, 24h, 7d, 90d.")] = "24h",
    model: Annotated[
        str,
        typer.Option(
            "--model",
            help="auto (chosen on a validation split among mstl, ets, theta, ensemble), auto_wide (a wider pool: also ets_damped, "
            "naive, ensemble_snaive, snaive24/168, intermittent crostonsba/adida/imapa/tsb and zero-aware NAME+zero), or one of those names.",
        ),
    ] = "auto",
    intervals: Annotated[
        str,
        typer.Option(
            "--intervals",
            help="model (the models' own, default), conformal (split-conformal from the validation split) or auto (per series, "
            "whichever came closer to 95 % on the validation split's later half).",
        ),
    ] = "model",
    top: Annotated[int, typer.Option("--top", min=1, help="With --by tenant/class: forecast the N largest groups by device-hours.")] = 5,
    accelerator: Annotated[
        str | None,
        typer.Option("--accelerator", help="The model the trace ran on (e.g. V100), to give CU/h as well; default: only jobs that name one model."),
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Output folder for forecast.png and forecast.json.")] = DEFAULT_OUT,
    backtest: Annotated[
        bool,
        typer.Option("--backtest", help="Also score the model on the last 20 % of each series (1 h, 1 d, 7 d, 90 d and --horizon) against seasonal naive."),
    ] = False,
) -> None:
    from cpnet.catalog import load_catalog, load_throughputs
    from cpnet.forecast import INTERVALS, MODEL_NAMES, GroupBy, build_series, demand_jobs, model_name_ok, parse_horizon
    from cpnet.forecast import backtest as run_backtest
    from cpnet.forecast import forecast as make_forecast
    from cpnet.forecast.plot import plot_forecasts
    from cpnet.sim.traces import DEFAULT_TRACE, open_trace

    try:
        group = GroupBy(by)
    except ValueError:
        raise CpnetError(f"--by {by}: expected one of {', '.join(g.value for g in GroupBy)}") from None
    if not model_name_ok(model):
        raise CpnetError(f"--model {model}: expected one of {', '.join(MODEL_NAMES)} (or NAME+zero)")
    if intervals not in INTERVALS:
        raise CpnetError(f"--intervals {intervals}: expected one of {', '.join(INTERVALS)}")
    h = parse_horizon(horizon)
    check_writable(out)
    trace_name = trace or DEFAULT_TRACE
    throughput = load_throughputs(load_catalog())
    jobs = demand_jobs(open_trace(trace_name, throughput=throughput, seed=0), accelerator=accelerator)
    series_set = build_series(jobs, group, top=top)
    console = Console() if Console().is_terminal else Console(width=160)
    if series_set.cu_note:
        console.print(series_set.cu_note, highlight=False)

    doc: dict[str, Any] = {"trace": trace_name, "by": group.value, "horizon_h": h, "intervals": intervals, "cu_note": series_set.cu_note, "series": []}
    items = []
    for s in series_set.series:
        fc = make_forecast(s.values, h, model, intervals=intervals)
        items.append((s, fc))
        entry: dict[str, Any] = {
            "key": s.key,
            "unit": s.unit.value,
            "history_start_h": s.start_h,
            "history_hours": len(s),
            "model": fc.model,
            "intervals": intervals,
            "forecast": {
                "start_h": s.start_h + len(s),
                "mean": _rounded(fc.mean),
                **{f"lo{lv}": _rounded(fc.lo[lv]) for lv in fc.lo},
                **{f"hi{lv}": _rounded(fc.hi[lv]) for lv in fc.hi},
            },
        }
        console.print(
            f"{s.key} ({s.unit.value}), {len(s)} h of history, model {fc.model}: next {h} h mean {fc.mean.mean():,.1f}/h "
            f"(80 % {fc.lo[80].mean():,.1f}-{fc.hi[80].mean():,.1f}, 95 % {fc.lo[95].mean():,.1f}-{fc.hi[95].mean():,.1f})",
            highlight=False,
        )
        if backtest:
            horizons = sorted(set(BACKTEST_HORIZONS) | {h})
            result = run_backtest(s.values, horizons, model, intervals=intervals)
            entry["backtest"] = result.as_dict()
            _print_backtest(console, s.key, s.unit.value, result)
        doc["series"].append(entry)
    png, js = out / "forecast.png", out / "forecast.json"
    plot_forecasts(png, items, f"{trace_name}: demand forecast, {h} h ahead")
    js.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    console.print(f"wrote {png} and {js}", highlight=False)


def _rounded(a: Any) -> list[float]:
    return [round(float(v), 4) for v in a]


def _print_backtest(console: Console, key: str, unit: str, result: Any) -> None:
    from cpnet.cli.output import Col, table

    def pct(v: Any) -> str:
        return "" if v is None else f"{100 * v:.0f} %"

    def fixed(v: Any) -> str:
        return "" if v is None else f"{v:.2f}"

    rows = []
    for hr in result.horizons:
        row: dict[str, Any] = {"horizon": f"{hr.horizon_h} h", "windows": hr.windows or None}
        if hr.model is None:
            row["note"] = hr.status
        else:
            m, b = hr.model.as_dict(), hr.baselines["snaive24"].as_dict()
            row |= {"smape": m["smape"], "naive_smape": b["smape"], "mase": m["mase"], "naive_mase": b["mase"], "c80": m["cover80"], "c95": m["cover95"]}
            row["n80"], row["n95"] = b["cover80"], b["cover95"]
            weekly = hr.baselines.get("snaive168")
            row["weekly_smape"] = None if weekly is None else weekly.as_dict()["smape"]
        rows.append(row)
    cols = [
        Col("horizon"),
        Col("windows", justify="right"),
        Col("smape", f"sMAPE ({result.model})", fixed, "right"),
        Col("naive_smape", "sMAPE snaive24", fixed, "right"),
        Col("weekly_smape", "sMAPE snaive168", fixed, "right"),
        Col("mase", "MASE", fixed, "right"),
        Col("naive_mase", "MASE snaive24", fixed, "right"),
        Col("c80", "cover 80", pct, "right"),
        Col("c95", "cover 95", pct, "right"),
        Col("n80", "snaive 80", pct, "right"),
        Col("n95", "snaive 95", pct, "right"),
        Col("note"),
    ]
    title = f"backtest {key} ({unit}): last 20 % of {result.n} h held out, intervals {result.intervals}"
    console.print(table(rows, cols, title))
