"""`cpnet catalog`: the accelerator catalog, the throughput table per model, or one job type's
throughput on every model. One line per model in each view (it fits an 80-column terminal); the
provenance text only with --sources; --json and --csv for scripts.

    cpnet catalog                      datasheet specs
    cpnet catalog --throughput         per model: CU rate, job types measured, measured or estimated
    cpnet catalog -t JOB_TYPE [-n N]   JOB_TYPE's steps/s on N devices of each model, and its CU rate
    cpnet catalog --check              where two sources measure the same cell, do they agree? (exit 1 if
                                       an undeclared disagreement or a stale declaration is found)
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from cpnet.catalog import Catalog, ThroughputModel, load_catalog, load_throughputs
from cpnet.catalog.compute_units import REFERENCE_MODEL, ComputeUnits
from cpnet.catalog.consistency import STATUSES, TOLERANCE, Finding, check, failures
from cpnet.catalog.measurements import read_measured_file, sia_overlay_points
from cpnet.cli.output import csv_text
from cpnet.core.errors import CpnetError, UnknownNameError


def register(app: typer.Typer) -> None:
    app.command(
        "catalog", help="Show the accelerator catalog, the throughput table per model, a job type's steps/s on every model, or check the measurements."
    )(catalog)


def catalog(
    job_type: Annotated[
        str | None, typer.Argument(metavar="JOB_TYPE", help="a job type, e.g. 'ResNet-50 (batch size 32)' or 'bert': its steps/s on every model")
    ] = None,
    throughput: Annotated[
        bool, typer.Option("--throughput", "-t", help="per model: CU rate, job types measured, measured or estimated (with JOB_TYPE: that type's steps/s)")
    ] = False,
    devices: Annotated[int, typer.Option("--devices", "-n", min=1, help="number of devices (with JOB_TYPE)")] = 1,
    sources: Annotated[bool, typer.Option("--sources", help="add where each value comes from (a provenance chain, several lines a model)")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON, one object per model")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="print CSV, one row per model")] = False,
    catalog_file: Annotated[str | None, typer.Option("--catalog", help="Catalog CSV to use instead of the shipped one.")] = None,
    extra_measurements: Annotated[str | None, typer.Option("--extra-measurements", help="Sia artifact folder to overlay (research use only).")] = None,
    consistency: Annotated[
        bool,
        typer.Option("--check", help="compare sources that measure the same cell (with --extra-measurements: Sia too); exit 1 on an undeclared disagreement"),
    ] = False,
) -> None:
    if as_json and as_csv:
        raise CpnetError("give --json or --csv, not both")
    if consistency:
        if job_type is not None or throughput:
            raise CpnetError("give --check without JOB_TYPE and --throughput")
        _check(extra_measurements, sources, as_json, as_csv)
        return
    cat = load_catalog(catalog_file)
    if job_type is None and not throughput:
        columns, rows = _catalog_rows(cat)
        title = f"Accelerator catalog (schema v{cat.version}, {len(cat)} models, {len(cat.vendors())} vendors)"
        _show(title, columns, rows, sources, as_json, as_csv)
        return
    model = load_throughputs(cat, extra_measurements)
    units = ComputeUnits.from_table(model, cat)
    if job_type is None:
        columns, rows = _summary_rows(model, units)
        title = f"Throughput per model ({len(model.job_types())} job types; CU in {REFERENCE_MODEL}-seconds)"
        _show(title, columns, rows, sources, as_json, as_csv)
        return
    if job_type not in model.job_types():
        raise UnknownNameError("job type", job_type, model.job_types())
    columns, rows = _job_type_rows(model, units, job_type, devices)
    _show(f"{job_type} on {devices} device(s) (CU in {REFERENCE_MODEL}-seconds)", columns, rows, sources, as_json, as_csv)


# A column: (key in the row dict, header, kind). kind: "name" (never cut), "number:<digits>",
# "count" (right-aligned text), "label" (measured/estimated, coloured), "spec" / "spec:<digits>"
# (a datasheet value: left out on screen with --sources, to leave the provenance room), "text" (a
# short source, cut with an ellipsis to fit; on screen without --sources) and "source" (the whole
# provenance: on screen with --sources). --json and --csv have every key but those starting with
# "_" (screen text made from the others).
Column = tuple[str, str, str]
MIN_TEXT = 8  # a short source narrower than this is left out rather than cut to nothing


def _fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _catalog_rows(cat: Catalog) -> tuple[list[Column], list[dict[str, Any]]]:
    columns: list[Column] = [
        ("vendor", "vendor", "name"),
        ("model", "model", "name"),
        ("peak_fp16_tflops", "FP16\nTFLOPS", "spec:1"),
        ("memory_gib", "mem\nGiB", "spec:0"),
        ("memory_bandwidth_gb_s", "BW\nGB/s", "spec:0"),
        ("tdp_w", "TDP\nW", "spec:0"),
        ("_source_short", "source", "text"),
        ("source", "source", "source"),
    ]
    rows = []
    for key, acc in cat.items():
        rows.append(
            {
                "model": key,
                "vendor": acc.vendor,
                "peak_fp16_tflops": acc.peak_fp16_tflops,
                "fp32_tflops": cat.entry(key).fp32_tflops,
                "memory_gib": acc.memory_gib,
                "memory_bandwidth_gb_s": acc.memory_bandwidth_gb_s,
                "tdp_w": acc.tdp_w,
                "tier_hint": acc.tier_hint,
                "_source_short": re.split(r"[,;(]", acc.source)[0].strip(),
                "source": acc.source,
            }
        )
    return columns, rows


_ANCHOR = re.compile(r"^speed-index ratio .*? x (?:measured|estimated) (\d+)x (\S+) \(")


def _origin(label: str, source: str) -> str:
    """Where one value comes from, in a word or two: the dataset of a measurement ("Gavel"), "scaled"
    (this model's own measurement at another device count), "via T4" (another model's, by speed index)."""
    if label == "measured":
        return source.split(" ")[0]
    if source.startswith("scaled from"):
        return "scaled"
    anchor = _ANCHOR.match(source)
    return f"via {anchor.group(2)}" if anchor else "none"


_SCALED = re.compile(r"^scaled from measured (\d+x \S+)")


def _short(label: str, source: str) -> str:
    """One value's provenance in brief: a measurement's dataset and file, "scaled from 8x A100",
    "speed index of 1x T4", or why there is none."""
    if label == "measured":
        return source.split(";")[0]
    scaled = _SCALED.match(source)
    if scaled:
        return f"scaled from {scaled.group(1)}"
    anchor = _ANCHOR.match(source)
    if anchor:
        return f"speed index of {anchor.group(1)}x {anchor.group(2)}"
    return source.split(":")[0]


def _summary_rows(model: ThroughputModel, units: ComputeUnits) -> tuple[list[Column], list[dict[str, Any]]]:
    columns: list[Column] = [
        ("model", "model", "name"),
        ("vendor", "vendor", "spec"),
        ("memory_gib", "mem\nGiB", "spec:0"),
        ("tdp_w", "TDP\nW", "spec:0"),
        ("cu_rate", "CU", "number:2"),
        ("_measured", "types\nmeasured", "count"),
        ("label", "basis", "label"),
        ("sources", "from (job types)", "source"),
    ]
    types = model.job_types()
    rows = []
    for key, acc in model.catalog.items():
        measured = [t for t in types if any(model.entry(t, key, n).label == "measured" for n in model.scale_factors(t))]
        entries = [model.entry(t, key, 1) for t in types]
        known = [e for e in entries if e.steps_per_s is not None]
        origins = Counter(_origin(e.label, e.source) for e in known)
        rows.append(
            {
                "model": key,
                "vendor": acc.vendor,
                "memory_gib": acc.memory_gib,
                "tdp_w": acc.tdp_w,
                "cu_rate": units.rate(key),
                "job_types": len(types),
                "job_types_measured": len(measured),
                "job_types_with_throughput": len(known),
                "_measured": f"{len(measured)}/{len(types)}",
                "label": "measured" if measured else "estimated" if known else "unknown",
                "sources": ", ".join(f"{o} {n}" for o, n in origins.most_common()) or "no compute or bandwidth figure",
            }
        )
    return columns, rows


def _job_type_rows(model: ThroughputModel, units: ComputeUnits, job_type: str, devices: int) -> tuple[list[Column], list[dict[str, Any]]]:
    columns: list[Column] = [
        ("model", "model", "name"),
        ("vendor", "vendor", "spec"),
        ("memory_gib", "mem\nGiB", "spec:0"),
        ("tdp_w", "TDP\nW", "spec:0"),
        ("steps_per_s", "steps/s", "number:3"),
        ("cu_rate", "CU", "number:2"),
        ("label", "label", "label"),
        ("_source_short", "from", "text"),
        ("source", "source", "source"),
    ]
    rows = []
    for key, acc in model.catalog.items():
        e = model.entry(job_type, key, devices)
        rows.append(
            {
                "model": key,
                "vendor": acc.vendor,
                "memory_gib": acc.memory_gib,
                "tdp_w": acc.tdp_w,
                "job_type": job_type,
                "devices": devices,
                "steps_per_s": e.steps_per_s,
                "cu_rate": units.rate(key, job_type),
                "label": e.label,
                "source": e.source,
                "_source_short": _short(e.label, e.source),
            }
        )
    return columns, rows


def _check(extra_measurements: str | None, sources: bool, as_json: bool, as_csv: bool) -> None:
    """Print the consistency findings of the shipped measurements (+ the Sia overlay); exit 1 on a failing one."""
    points = read_measured_file()
    if extra_measurements:
        points += sia_overlay_points(extra_measurements)
    findings = check(points)
    columns: list[Column] = [
        ("status", "status", "label"),
        ("workload", "workload", "name"),
        ("accelerator", "chip", "name"),
        ("_n", "n", "count"),
        ("_batch", "batch", "count"),
        ("_sources", "sources", "name"),
        ("ratio", "ratio", "number:2"),
        ("_note_short", "note", "text"),
        ("note", "note", "source"),
    ]
    rows = [_finding_row(f) for f in findings]
    counts = Counter(f.status for f in findings)
    summary = ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s])
    _show(f"Measured throughputs: sources compared at the same cell (tolerance {TOLERANCE:.0%})", columns, rows, sources, as_json, as_csv)
    if not (as_json or as_csv):
        typer.echo(summary or "nothing to compare")
    bad = failures(findings)
    if bad:
        typer.echo(f"{len(bad)} finding(s) fail: an undeclared disagreement or a stale declaration (cpnet.catalog.consistency.DECLARED)", err=True)
        raise typer.Exit(1)


def _finding_row(f: Finding) -> dict[str, Any]:
    samples = f.samples_per_s or (None, None)
    return {
        "status": f.status,
        "workload": f.workload,
        "accelerator": f.accelerator,
        "num_devices": f.num_devices,
        "local_batch": f.local_batch,
        "source_a": f.sources[0],
        "source_b": f.sources[1],
        "job_types": "; ".join(f.job_types),
        "samples_per_s_a": samples[0],
        "samples_per_s_b": samples[1],
        "ratio": f.ratio,
        "note": f.note,
        "_n": "all" if f.num_devices is None else str(f.num_devices),
        "_batch": "—" if f.local_batch is None else str(f.local_batch),
        "_sources": "/".join(f.sources),
        "_note_short": f.note.split(":")[0],
    }


def _show(title: str, columns: Sequence[Column], rows: list[dict[str, Any]], sources: bool, as_json: bool, as_csv: bool) -> None:
    if as_json:
        typer.echo(json.dumps([{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]))
        return
    if as_csv:
        keys = [k for k in rows[0] if not k.startswith("_")] if rows else []
        typer.echo(csv_text(rows, keys), nl=False)
        return
    # on screen: the short source ("text") by default, the whole provenance ("source") with --sources
    shown = [c for c in columns if c[2] not in ("source", "text") or c[2] == ("source" if sources else "text")]
    if sources:
        shown = [c for c in shown if not c[2].startswith("spec")]
    console = Console()
    fixed = [c for c in shown if c[2] != "text"]
    room = console.width - Measurement.get(console, console.options.update_width(1 << 16), _table(title, fixed, rows, None)).maximum - 3  # a border and padding
    console.print(_table(title, shown if room >= MIN_TEXT else fixed, rows, room), highlight=False)


def _table(title: str, shown: Sequence[Column], rows: list[dict[str, Any]], text_width: int | None) -> Table:
    """The rows as a table; a "text" column is cut to `text_width` (with an ellipsis), so the line fits."""
    table = Table(title=title)
    for _key, header, kind in shown:
        if ":" in kind or kind == "count":
            table.add_column(header, justify="right", no_wrap=True)
        elif kind == "source":
            table.add_column(header, overflow="fold")
        elif kind == "text":
            table.add_column(header, no_wrap=True, overflow="ellipsis", max_width=text_width)
        else:
            table.add_column(header, no_wrap=True)
    for r in rows:
        cells = []
        for key, _header, kind in shown:
            value = r[key]
            if ":" in kind:  # number:<digits>, spec:<digits>
                cells.append(_fmt(value, int(kind.split(":")[1])))
            elif kind == "label":
                style = {"measured": "green", "agree": "green", "estimated": "yellow", "declared": "yellow", "not compared": "yellow"}.get(value, "red")
                cells.append(f"[{style}]{value}[/{style}]")
            else:
                cells.append(escape(str(value)))
        table.add_row(*cells)
    return table
