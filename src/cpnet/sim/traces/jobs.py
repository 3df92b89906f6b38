"""Trace records -> JobSpecs, including the seeded rule that gives untyped jobs a job type.

Job-type rule (for records whose format names no job type: Philly, ITP, openb):
  Records are visited in trace (arrival) order. For a record asking for n devices, the candidates
  are Gavel's 26 job types, in Gavel's job-table order, for which
  `throughput.steps_per_s(type, reference_accelerator, n)` is not None. The k-th record that needs
  a type takes candidate floor(u_k * len(candidates)), where u_k is the k-th double of
  `numpy.random.default_rng(seed).random()` (drawn in blocks; the sequence is the same). So the
  choice is uniform over the candidates, deterministic for a seed, and independent of records
  that already carry a type. This is the rule Gavel used to derive its per-VC Philly traces
  (`traces/msr`): type uniform at random, GPU count and duration from Philly.
  If no Gavel type has a throughput for n devices on the reference accelerator, the record is
  rejected with an InputError (with cpnet's throughput model every count has an estimate).

Work: `total_steps = duration_s * steps_per_s(type, reference_accelerator, n)`, as Gavel converts
Philly durations, so a job takes its recorded duration when run on n reference devices.
Records that carry `total_steps` (Gavel traces) keep them.

Tenant: `tenant`, when given, overrides every record's tenant; otherwise the record's own
(Philly: its VC), else "default". JobSpec ids are the record ids, which must be unique.
JobSpec.extra carries `trace_line` and, when known, `duration_s` plus the record's extras.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from cpnet.core.errors import InputError
from cpnet.core.model import JobSpec
from cpnet.core.snapshot import ThroughputTable
from cpnet.sim.traces.gavel_job_table import GAVEL_JOB_TYPES
from cpnet.sim.traces.record import TraceRecord

DEFAULT_TENANT = "default"
_DRAW_BLOCK = 1024


def to_job_specs(
    records: Iterable[TraceRecord],
    throughput: ThroughputTable,
    *,
    seed: int,
    reference_accelerator: str = "V100",
    tenant: str | None = None,
) -> Iterator[JobSpec]:
    """JobSpecs for `records`, in their order; untyped records get a type by the rule above."""
    picker = _TypePicker(throughput, reference_accelerator, seed)
    known = _known_types(throughput)
    seen: set[str] = set()
    for rec in records:
        if rec.job_id in seen:
            raise InputError(rec.source, f"duplicate job id {rec.job_id!r}", line=rec.line)
        seen.add(rec.job_id)
        job_type, steps, rate = rec.job_type, rec.total_steps, None
        if job_type is None:
            job_type, rate = picker.pick(rec)
        elif known is not None and job_type not in known:
            raise InputError(
                rec.source,
                f"unknown job type {job_type!r}; expected one of {', '.join(sorted(known))}",
                line=rec.line,
                field="job_type",
            )
        if steps is None:
            steps = _steps_from_duration(rec, job_type, rate, throughput, reference_accelerator)
        extra = {"trace_line": str(rec.line)}
        if rec.duration_s is not None:
            extra["duration_s"] = repr(rec.duration_s)
        extra.update(rec.extra)
        yield JobSpec(
            id=rec.job_id,
            tenant=tenant or rec.tenant or DEFAULT_TENANT,
            job_type=job_type,
            num_devices=rec.num_devices,
            total_steps=steps,
            arrival_s=rec.arrival_s,
            priority_weight=rec.priority_weight,
            accelerators=rec.accelerators,
            extra=extra,
        )


class _TypePicker:
    """Uniform choice among runnable Gavel types, one seeded draw per untyped record."""

    __slots__ = ("_throughput", "_reference", "_rng", "_draws", "_next", "_candidates")

    def __init__(self, throughput: ThroughputTable, reference: str, seed: int) -> None:
        self._throughput = throughput
        self._reference = reference
        self._rng = np.random.default_rng(seed)
        self._draws: list[float] = []
        self._next = 0
        self._candidates: dict[int, list[tuple[str, float]]] = {}

    def pick(self, rec: TraceRecord) -> tuple[str, float]:
        n = rec.num_devices
        candidates = self._candidates.get(n)
        if candidates is None:
            candidates = self._candidates[n] = self._runnable(n)
        if not candidates:
            raise InputError(
                rec.source,
                f"no Gavel job type has a throughput on {n} x {self._reference}, so none can be assigned",
                line=rec.line,
                field="num_devices",
            )
        if self._next == len(self._draws):
            self._draws = self._rng.random(_DRAW_BLOCK).tolist()
            self._next = 0
        u = self._draws[self._next]
        self._next += 1
        return candidates[int(u * len(candidates))]

    def _runnable(self, n: int) -> list[tuple[str, float]]:
        out = []
        for job_type in GAVEL_JOB_TYPES:
            rate = self._throughput.steps_per_s(job_type, self._reference, n)
            if rate is not None:
                out.append((job_type, rate))
        return out


def _steps_from_duration(rec: TraceRecord, job_type: str, rate: float | None, throughput: ThroughputTable, reference: str) -> float:
    if rec.duration_s is None:
        raise InputError(rec.source, "the record has neither total_steps nor a duration", line=rec.line)
    if rate is None:
        rate = throughput.steps_per_s(job_type, reference, rec.num_devices)
    if rate is None:
        raise InputError(
            rec.source,
            f"job type {job_type!r} has no throughput on {rec.num_devices} x {reference}; cannot turn its duration into steps",
            line=rec.line,
            field="job_type",
        )
    return rec.duration_s * rate


def _known_types(throughput: ThroughputTable) -> frozenset[str] | None:
    """The table's job types when it can list them (cpnet's ThroughputModel can), else None."""
    lister = getattr(throughput, "job_types", None)
    return frozenset(lister()) if callable(lister) else None
