"""`cpnet catalog`: the accelerator catalog, or one job type's throughput on every model."""

from __future__ import annotations

import re
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cpnet.catalog import Catalog, ThroughputModel, load_catalog, load_throughputs
from cpnet.core.errors import UnknownNameError


def register(app: typer.Typer) -> None:
    app.command("catalog", help="Show the accelerator catalog, or a job type's steps/s on every model.")(catalog)


def catalog(
    throughput: Annotated[str | None, typer.Option("--throughput", "-t", help="Job type, e.g. 'ResNet-50 (batch size 32)' or 'bert'.")] = None,
    devices: Annotated[int, typer.Option("--devices", "-n", min=1, help="Number of devices (with --throughput).")] = 1,
    catalog_file: Annotated[str | None, typer.Option("--catalog", help="Catalog CSV to use instead of the shipped one.")] = None,
    extra_measurements: Annotated[str | None, typer.Option("--extra-measurements", help="Sia artifact folder to overlay (research use only).")] = None,
) -> None:
    cat = load_catalog(catalog_file)
    console = Console()
    if throughput is None:
        console.print(_catalog_table(cat))
        return
    model = load_throughputs(cat, extra_measurements)
    if throughput not in model.job_types():
        raise UnknownNameError("job type", throughput, model.job_types())
    console.print(_throughput_table(model, throughput, devices))


def _fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _catalog_table(cat: Catalog) -> Table:
    table = Table(title=f"Accelerator catalog (schema v{cat.version}, {len(cat)} models, {len(cat.vendors())} vendors)")
    table.add_column("vendor")
    table.add_column("model", no_wrap=True)
    for header in ("FP16\nTFLOPS", "memory\nGiB", "bandwidth\nGB/s", "TDP\nW"):
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("source")
    for key, acc in cat.items():
        source = re.split(r"[,;(]", acc.source)[0].strip()
        table.add_row(
            acc.vendor,
            key,
            _fmt(acc.peak_fp16_tflops),
            _fmt(acc.memory_gib, 0),
            _fmt(acc.memory_bandwidth_gb_s, 0),
            _fmt(acc.tdp_w, 0),
            source,
        )
    return table


def _throughput_table(model: ThroughputModel, job_type: str, devices: int) -> Table:
    table = Table(title=f"{job_type} on {devices} device(s): steps/s")
    table.add_column("model")
    table.add_column("steps/s", justify="right")
    table.add_column("label")
    table.add_column("source", overflow="fold")
    for key in model.catalog:
        e = model.entry(job_type, key, devices)
        style = "green" if e.label == "measured" else "yellow"
        table.add_row(key, _fmt(e.steps_per_s, 3), f"[{style}]{e.label}[/{style}]", e.source)
    return table
