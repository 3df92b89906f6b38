"""Measured throughputs: the shipped derived file, its builders, and the optional Sia overlay.

Units. Every row has steps/s of the whole job on `num_devices` devices (the scheduler's unit:
Gavel's job types are defined per step), the per-device batch `local_batch` a step processes,
and samples/s = steps/s x local_batch (empty where the batch is unknown: Gavel's A3C, CycleGAN).
A *step* is one local batch on one device; on n devices in data parallel one iteration performs
n steps (global batch = n x local batch).
- Gavel types: Gavel's isolated ("null") steps/s, copied unchanged (K80 = one GK210 GPU); the
  local batch is the batch size in the type's name, per worker (read so, Gavel's 2- and 8-GPU
  ResNet-50 samples/s agree with Sia's V100 within 7 %; DATA.md).
- Pollux/Sia types (bert, cifar10, deepspeech2, imagenet, ncf, yolov3) at the representative
  local batch `POLLUX_LOCAL_BATCH[type]`: Pollux/Sia `placements-*.csv` give iteration time
  `step_time` (which already contains `sync_time`, as the Pollux simulator uses it) per
  (placement, local_bsz), so steps/s = n / step_time. Placements are the most packed ones (full
  nodes first), the analogue of Gavel's consolidated workers.
  ElasticFlow `throughputs_A100/*.csv` give iterations/s at a global batch G on n GPUs; only
  cells with G / n equal to the representative local batch are used: steps/s = iterations/s x n.

Batch-size conversion (the only one used anywhere in cpnet): a value at local batch b is taken
from measurements of the same source, chip and placement at local batches b0 < b < b1 by
interpolating *iteration time* linearly in the local batch (`step_time_at`):

    t(b) = t(b0) + (t(b1) - t(b0)) * (b - b0) / (b1 - b0),   samples/s = n * b / t(b)

and never outside the measured range. Why this rule: it is the Pollux simulator's own, and
Pollux's throughput model fits per-step compute time as a linear function of the local batch.
Samples/s is *not* taken as independent of the batch: the files refute it (Sia's A100 runs bert
at 27 samples/s at local batch 4 and 140 at 48; Pollux's T4 imagenet rises from 136 to 217
between 20 and 200). Two sources are compared only at the same local batch
(`cpnet.catalog.consistency`).
"""

from __future__ import annotations

import ast
import csv
import io
import itertools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from cpnet.core.errors import InputError

SCHEMA_VERSION = 2
MEASURED_COLUMNS = ("job_type", "accelerator", "num_devices", "local_batch", "steps_per_s", "samples_per_s", "source")
# Schema 1 (no batch columns) is still read, the local batch then taken from the job type.
_V1_COLUMNS = ("job_type", "accelerator", "num_devices", "steps_per_s", "source")
_SCHEMA = re.compile(r"schema_version: (\d+)")
_BATCH_IN_NAME = re.compile(r"\(batch size (\d+)\)")

# Representative per-device batch size of each Pollux/Sia model: powers of two inside every
# source's measured range, chosen so that ElasticFlow's A100 grid (G/n) hits them exactly.
POLLUX_LOCAL_BATCH: dict[str, int] = {
    "bert": 8,
    "cifar10": 64,
    "deepspeech2": 32,
    "imagenet": 64,
    "ncf": 256,
    "yolov3": 8,
}
GAVEL_WORKERS = {"k80": "K80", "p100": "P100", "v100": "V100"}
ELASTICFLOW_A100_FILES = {"bert": "bert.csv", "deepspeech2": "deepspeech2.csv", "imagenet": "resnet50.csv"}
# Sia cluster suffix -> (catalog model, GPUs per node); 'dgx-ext' is Sia's default A100 profile.
SIA_OVERLAY_CLUSTERS: dict[str, tuple[str, int]] = {
    "azure": ("V100", 8),
    "dgx-ext": ("A100", 8),
    "rtx": ("RTX2080Ti", 8),
    "quad": ("RTX6000", 4),
}
SIA_SOURCE = "Sia (SOSP'23) artifact, research use"
GAVEL_SOURCE = "Gavel (OSDI'20) simulation_throughputs.json, isolated steps/s (MIT)"
_GAVEL_KEY = re.compile(r"^\('(.+)', (\d+)\)$")


@dataclass(frozen=True, slots=True)
class MeasuredPoint:
    """One measured value; `steps_per_s` None = measured as unable to run (Gavel's 0.0)."""

    job_type: str
    accelerator: str
    num_devices: int
    steps_per_s: float | None
    source: str
    local_batch: int | None = None  # samples per step on one device; None = not known

    @property
    def samples_per_s(self) -> float | None:
        """Samples/s of the whole job: steps/s x local batch (None where either is unknown)."""
        if self.steps_per_s is None or self.local_batch is None:
            return None
        return self.steps_per_s * self.local_batch


def local_batch_of(job_type: str) -> int | None:
    """Samples per step on one device: Pollux/Sia's representative local batch, or Gavel's name."""
    if job_type in POLLUX_LOCAL_BATCH:
        return POLLUX_LOCAL_BATCH[job_type]
    match = _BATCH_IN_NAME.search(job_type)
    return int(match.group(1)) if match else None


def default_measured_path() -> str:
    return str(resources.files("cpnet.catalog") / "data" / "measured_throughputs.csv")


def read_measured_file(path: str | None = None) -> list[MeasuredPoint]:
    """Read the shipped (or a user-supplied) measured-throughput CSV (schema 2, or 1 without batch columns)."""
    file = path or default_measured_path()
    try:
        text = Path(file).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(file, f"cannot read measured throughputs ({exc.strerror or exc})") from exc
    lines = text.splitlines(keepends=True)
    skip = 0
    while skip < len(lines) and lines[skip].startswith("#"):
        skip += 1
    version = _SCHEMA.search("".join(lines[:skip]))
    if version is None or int(version.group(1)) not in (1, SCHEMA_VERSION):
        raise InputError(file, f"missing '# schema_version: {SCHEMA_VERSION}' comment (1 is also read)", line=1)
    columns = MEASURED_COLUMNS if int(version.group(1)) == SCHEMA_VERSION else _V1_COLUMNS
    reader = csv.DictReader(io.StringIO("".join(lines[skip:])))
    if tuple(reader.fieldnames or ()) != columns:
        raise InputError(file, f"header {reader.fieldnames}; expected {list(columns)}", line=skip + 1)
    points = []
    for row in reader:
        line = skip + reader.line_num
        try:
            n = int(row["num_devices"])
            rate = float(row["steps_per_s"]) if row["steps_per_s"] else None
            batch = (int(row["local_batch"]) if row["local_batch"] else None) if "local_batch" in row else local_batch_of(row["job_type"])
            samples = float(row["samples_per_s"]) if row.get("samples_per_s") else None
        except (TypeError, ValueError):
            raise InputError(file, "expected integer num_devices and local_batch, numeric or empty steps_per_s and samples_per_s", line=line) from None
        if n < 1 or (rate is not None and not rate > 0) or (batch is not None and batch < 1):
            raise InputError(file, "expected num_devices >= 1, local_batch >= 1 or empty, and steps_per_s > 0 or empty", line=line)
        point = MeasuredPoint(row["job_type"], row["accelerator"], n, rate, row["source"], batch)
        # samples_per_s is redundant on purpose (a reader sees both units); it must say the same.
        if "samples_per_s" in row and not _same(samples, point.samples_per_s):
            raise InputError(file, f"samples_per_s {row['samples_per_s']!r} is not steps_per_s x local_batch ({point.samples_per_s!r})", line=line)
        points.append(point)
    return points


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b))


def write_measured_file(points: Iterable[MeasuredPoint], path: str) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(f"# cpnet measured throughputs; schema_version: {SCHEMA_VERSION}\n")
        fh.write("# steps/s of a job on num_devices devices, a step = one local_batch on one device; samples_per_s = steps_per_s x local_batch;\n")
        fh.write("# empty steps_per_s = measured as unable to run, empty local_batch = not known. See DATA.md.\n")
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(MEASURED_COLUMNS)
        for p in points:
            rate = "" if p.steps_per_s is None else repr(p.steps_per_s)
            samples = "" if p.samples_per_s is None else repr(p.samples_per_s)
            batch = "" if p.local_batch is None else p.local_batch
            writer.writerow([p.job_type, p.accelerator, p.num_devices, batch, rate, samples, p.source])


def gavel_points(simulation_throughputs_json: str) -> list[MeasuredPoint]:
    """Isolated steps/s of the consolidated k80/p100/v100 workers; 0.0 (did not run) -> None."""
    with open(simulation_throughputs_json, encoding="utf-8") as fh:
        data = json.load(fh)
    points = []
    for worker, model in GAVEL_WORKERS.items():
        for key, value in data[worker].items():
            match = _GAVEL_KEY.match(key)
            if match is None:
                raise InputError(simulation_throughputs_json, f"key {key!r}; expected \"('<job type>', <n>)\"", field=worker)
            job_type, n = ast.literal_eval(key)
            rate = float(value["null"])
            points.append(MeasuredPoint(job_type, model, int(n), rate if rate > 0 else None, GAVEL_SOURCE, local_batch_of(job_type)))
    return sorted(points, key=lambda p: (p.job_type, p.accelerator, p.num_devices))


def placement_points(placements_csv: str, job_type: str, accelerator: str, gpus_per_node: int, source: str) -> list[MeasuredPoint]:
    """steps/s at the model's representative local batch for every packed placement in the file."""
    local_bsz = POLLUX_LOCAL_BATCH[job_type]
    by_placement: dict[tuple[int, ...], list[tuple[int, float]]] = {}
    with open(placements_csv, encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            digits = tuple(sorted((int(c) for c in row["placement"]), reverse=True))
            by_placement.setdefault(digits, []).append((int(row["local_bsz"]), float(row["step_time"])))
    points = []
    for n in range(1, max(sum(d) for d in by_placement) + 1):
        packed = tuple([gpus_per_node] * (n // gpus_per_node) + ([n % gpus_per_node] if n % gpus_per_node else []))
        rows = by_placement.get(packed)
        iteration_s = step_time_at(rows, local_bsz) if rows else None
        if iteration_s is not None:
            label = "".join(map(str, packed))
            src = f"{source}; placement {label}, local batch {local_bsz}"
            points.append(MeasuredPoint(job_type, accelerator, n, n / iteration_s, src, local_bsz))
    return points


def step_time_at(rows: Iterable[tuple[int, float]], x: int) -> float | None:
    """Iteration time at local batch x from (local batch, iteration time) rows of one source, chip and
    placement: the mean of repeated rows, linear between the nearest measured batches; None outside."""
    grouped: dict[int, list[float]] = {}
    for bsz, t in rows:
        grouped.setdefault(bsz, []).append(t)
    xs = sorted(grouped)
    ys = [sum(grouped[b]) / len(grouped[b]) for b in xs]
    if x in grouped:
        return ys[xs.index(x)]
    for (x0, y0), (x1, y1) in itertools.pairwise(zip(xs, ys, strict=True)):
        if x0 < x < x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return None


def elasticflow_a100_points(throughputs_a100_dir: str) -> list[MeasuredPoint]:
    """ElasticFlow A100 iterations/s cells whose local batch G/n equals the representative one."""
    points = []
    for job_type, name in ELASTICFLOW_A100_FILES.items():
        local_bsz = POLLUX_LOCAL_BATCH[job_type]
        path = Path(throughputs_a100_dir) / name
        with open(path, encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                global_bsz = int(row["global_batch_size"])
                for col, cell in row.items():
                    if col == "global_batch_size" or not cell or cell == "nan":
                        continue
                    n = int(col)
                    if global_bsz == n * local_bsz and float(cell) > 0:
                        src = f"ElasticFlow throughputs_A100/{name} (Apache-2.0); global batch {global_bsz} on {n} GPUs"
                        points.append(MeasuredPoint(job_type, "A100", n, float(cell) * n, src, local_bsz))
    return points


def pollux_t4_points(sia_throughput_traces_dir: str) -> list[MeasuredPoint]:
    """T4 points from Pollux's placements-aws.csv files (byte-identical copies under sia/)."""
    points = []
    for job_type in POLLUX_LOCAL_BATCH:
        path = Path(sia_throughput_traces_dir) / job_type / "placements-aws.csv"
        points += placement_points(str(path), job_type, "T4", 4, "Pollux (OSDI'21) placements-aws.csv, 4x T4 g4dn.12xlarge (Apache-2.0)")
    return points


def sia_overlay_points(sia_dir: str) -> list[MeasuredPoint]:
    """Sia's unlicensed V100/A100/RTX2080Ti/RTX6000 measurements, read at run time, never shipped.

    `sia_dir` is the Sia artifact root (holding `throughput_traces/`) or that folder itself.
    """
    root = Path(sia_dir)
    traces = root / "throughput_traces" if (root / "throughput_traces").is_dir() else root
    if not traces.is_dir():
        raise InputError(str(sia_dir), "not a directory; expected the Sia artifact root or its throughput_traces/")
    points = []
    for job_type in POLLUX_LOCAL_BATCH:
        for suffix, (model, per_node) in SIA_OVERLAY_CLUSTERS.items():
            path = traces / job_type / f"placements-{suffix}.csv"
            if path.is_file():
                points += placement_points(str(path), job_type, model, per_node, f"{SIA_SOURCE}; placements-{suffix}.csv")
    if not points:
        raise InputError(str(sia_dir), "no <model>/placements-{azure,dgx-ext,rtx,quad}.csv files found")
    return points


def build_shipped_points(shared_data_dir: str) -> list[MeasuredPoint]:
    """Every licensed measurement we ship, derived from the public files under `shared_data_dir`."""
    root = Path(shared_data_dir)
    points = gavel_points(str(root / "gavel" / "simulation_throughputs.json"))
    points += elasticflow_a100_points(str(root / "elasticflow" / "throughputs_A100"))
    points += pollux_t4_points(str(root / "sia" / "throughput_traces"))
    return points
