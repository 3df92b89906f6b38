"""Throughput model: steps/s of a job type on n devices of an accelerator model.

Every value is `measured` or `estimated`, with its source. Precedence for (type t, chip a, n):

1. Measured (t, a, n): Gavel, ElasticFlow, Pollux, optional Sia overlay (see measurements.py),
   less the points of a declared losing source (cpnet.catalog.consistency.DECLARED: ElasticFlow's
   bert and deepspeech2 on A100). A measured "did not run" (Gavel's 0.0) gives None.
2. Same chip, other count: a has measurements of t at counts M. Take the nearest m in M
   (|log2(n/m)|, ties to the smaller m) and scale with a fixed per-doubling efficiency e:

       v(t, a, n) = v(t, a, m) * (n / m) ** (1 + log2(e)),   e = SCALING_EFFICIENCY = 0.9
SPEED_INDEX_EXPONENT = 0.65

   (each doubling of devices gives 1.8x, each halving keeps 1/1.8). If a's value at m is a
   measured None, the result is None.
3. Other chip (roofline-style speed index). For chips x, y with compute C (peak dense
   FP16/BF16 TFLOPS; FP32 TFLOPS when no FP16 figure is listed) and memory bandwidth B:

       r(x, y) = exp(mean_{f in F} log(f(x) / f(y))),   F = those of {C, B} known for both

   i.e. the geometric mean of the compute ratio and the bandwidth ratio (or the one ratio
   known). The anchor is the measured chip y (with a value for t at n by rules 1-2) that
   minimises |log r(a, y)|, ties broken by model key; then

       v(t, a, n) = v(t, anchor, n) * r(a, anchor) ** beta,   beta = SPEED_INDEX_EXPONENT = 0.65

   beta is the least-squares slope of log(measured ratio) on log(r) over the 250 same-(type,
   count) chip pairs in the shipped measurements (Gavel K80/P100/V100, Pollux T4, ElasticFlow
   A100): peak figures overstate real speed-ups (non-tensor FP32 training, overheads). It
   cuts the median pairwise error from 1.86x (beta = 1) to 1.48x. The fit includes the 4
   ElasticFlow bert/deepspeech2 pairs later declared another workload (without them the slope is
   0.635 over 246 pairs); it is not refit, so that no Gavel type's estimate moves. The per-doubling
   scaling efficiency 0.9 sits between the medians measured by Gavel (0.87) and Pollux on T4 (0.93).

   A chip with neither C nor B (e.g. MLU590, Huashan-A1000: no public figures) gets None,
   which the simulator reads as "cannot run there".

Memory capacity is not modelled: a job that fits on the anchor is assumed to fit on the target.
The model precomputes counts 1, 2, 4, ..., 64 and every measured count for every (type, chip)
at load time; other counts are computed once and memoised, so `steps_per_s` is a dict lookup.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cpnet.catalog.measurements import POLLUX_LOCAL_BATCH, MeasuredPoint, local_batch_of
from cpnet.catalog.specs import Catalog
from cpnet.core.errors import UnknownNameError

SCALING_EFFICIENCY = 0.9
SPEED_INDEX_EXPONENT = 0.65
PRECOMPUTED_COUNTS = (1, 2, 4, 8, 16, 32, 64)
_EXPONENT = 1.0 + math.log2(SCALING_EFFICIENCY)
_BATCH_IN_NAME = re.compile(r"\(batch size (\d+)\)")


@dataclass(frozen=True, slots=True)
class ThroughputEntry:
    """steps/s (None = cannot run), how it was obtained ("measured"|"estimated"), and from what."""

    steps_per_s: float | None
    label: str
    source: str


class ThroughputModel:
    """Implements cpnet.core.snapshot.ThroughputTable over a catalog and a set of measurements."""

    __slots__ = ("_catalog", "_measured", "_by_chip", "_types", "_scale", "_cache", "_rates", "_factors")

    def __init__(self, catalog: Catalog, measured: Iterable[MeasuredPoint]) -> None:
        self._catalog = catalog
        self._measured: dict[tuple[str, str, int], MeasuredPoint] = {}
        # Later points override earlier ones, so callers pass overlays after shipped data only
        # where they mean to override; load_throughputs keeps shipped values (see there).
        for p in measured:
            if p.accelerator in catalog:
                self._measured[(p.job_type, p.accelerator, p.num_devices)] = p
        self._by_chip: dict[tuple[str, str], dict[int, MeasuredPoint]] = {}
        for (t, a, n), p in self._measured.items():
            self._by_chip.setdefault((t, a), {})[n] = p
        self._types = sorted({t for t, _, _ in self._measured}, key=_type_order)
        self._scale = {t: tuple(sorted({n for (tt, _, n) in self._measured if tt == t})) for t in self._types}
        self._factors = {m: _speed_factors(catalog, m) for m in catalog}
        self._cache: dict[tuple[str, str, int], ThroughputEntry] = {}
        self._rates: dict[tuple[str, str, int], float | None] = {}
        for t in self._types:
            counts = sorted(set(PRECOMPUTED_COUNTS) | set(self._scale[t]))
            for a in catalog:
                for n in counts:
                    self._fill(t, a, n)

    # ThroughputTable protocol: the hot path, a dict lookup after the first call.
    def steps_per_s(self, job_type: str, accelerator: str, num_devices: int) -> float | None:
        key = (job_type, accelerator, num_devices)
        try:
            return self._rates[key]
        except KeyError:
            if job_type not in self._scale or accelerator not in self._catalog or num_devices < 1:
                return None
            return self._fill(job_type, accelerator, num_devices).steps_per_s

    def entry(self, job_type: str, accelerator: str, num_devices: int) -> ThroughputEntry:
        if job_type not in self._scale:
            raise UnknownNameError("job type", job_type, self._types)
        if accelerator not in self._catalog:
            raise UnknownNameError("accelerator", accelerator, list(self._catalog))
        if num_devices < 1:
            raise ValueError(f"num_devices ({num_devices}) must be >= 1")
        return self._fill(job_type, accelerator, num_devices)

    def job_types(self) -> list[str]:
        return list(self._types)

    def scale_factors(self, job_type: str) -> tuple[int, ...]:
        """Device counts at which some chip was measured for this type (Gavel: 1, 2, 4, 8 or 1)."""
        if job_type not in self._scale:
            raise UnknownNameError("job type", job_type, self._types)
        return self._scale[job_type]

    def local_batch_size(self, job_type: str) -> int | None:
        """Samples per step on one device: Pollux/Sia's chosen local batch, or Gavel's name."""
        return local_batch_of(job_type)

    @property
    def catalog(self) -> Catalog:
        return self._catalog

    def _fill(self, t: str, a: str, n: int) -> ThroughputEntry:
        key = (t, a, n)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        entry = self._own(t, a, n) or self._cross_chip(t, a, n)
        self._cache[key] = entry
        self._rates[key] = entry.steps_per_s
        return entry

    def _own(self, t: str, a: str, n: int) -> ThroughputEntry | None:
        """Rules 1-2: a measurement of this chip at n, or scaled from its nearest measured count."""
        counts = self._by_chip.get((t, a))
        if not counts:
            return None
        if n in counts:
            p = counts[n]
            return ThroughputEntry(p.steps_per_s, "measured", p.source)
        m = min(counts, key=lambda c: (abs(math.log2(n / c)), c))
        p = counts[m]
        if p.steps_per_s is None:
            return ThroughputEntry(None, "estimated", f"cannot run: measured unable to run on {m}x {a} ({p.source})")
        value = p.steps_per_s * (n / m) ** _EXPONENT
        return ThroughputEntry(value, "estimated", f"scaled from measured {m}x {a} at {SCALING_EFFICIENCY:.0%} per doubling ({p.source})")

    def _cross_chip(self, t: str, a: str, n: int) -> ThroughputEntry:
        """Rule 3: nearest measured chip by speed index, times the speed-index ratio."""
        target = self._factors[a]
        if not target:
            return ThroughputEntry(None, "estimated", f"cannot estimate: {a} has no compute or bandwidth figure")
        best: tuple[float, str, float, ThroughputEntry] | None = None
        for chip in sorted({c for (tt, c) in self._by_chip if tt == t}):
            ratio = _ratio(target, self._factors[chip])
            if ratio is None:
                continue
            anchor = self._own(t, chip, n)
            if anchor is None or anchor.steps_per_s is None:
                continue
            distance = abs(math.log(ratio))
            if best is None or distance < best[0]:
                best = (distance, chip, ratio, anchor)
        if best is None:
            return ThroughputEntry(None, "estimated", f"cannot estimate: no measured chip with comparable specs for {t}")
        _, chip, ratio, anchor = best
        how = "measured" if anchor.label == "measured" else "estimated"
        factor = ratio**SPEED_INDEX_EXPONENT
        return ThroughputEntry(
            anchor.steps_per_s * factor,
            "estimated",
            f"speed-index ratio {ratio:.3g}^{SPEED_INDEX_EXPONENT} = {factor:.3g} x {how} {n}x {chip} ({anchor.source})",
        )


def _speed_factors(catalog: Catalog, model: str) -> dict[str, float]:
    acc = catalog[model]
    compute = acc.peak_fp16_tflops or catalog.entry(model).fp32_tflops
    out = {}
    if compute:
        out["compute"] = compute
    if acc.memory_bandwidth_gb_s:
        out["bandwidth"] = acc.memory_bandwidth_gb_s
    return out


def _ratio(x: dict[str, float], y: dict[str, float]) -> float | None:
    common = [f for f in x if f in y]
    if not common:
        return None
    return math.exp(sum(math.log(x[f] / y[f]) for f in common) / len(common))


def _type_order(job_type: str) -> tuple[int, str, int]:
    """Gavel types first, grouped by model and ordered by batch size; then Pollux/Sia types."""
    match = _BATCH_IN_NAME.search(job_type)
    batch = int(match.group(1)) if match else 0
    stem = _BATCH_IN_NAME.sub("", job_type).strip()
    return (1 if job_type in POLLUX_LOCAL_BATCH else 0, stem, batch)
