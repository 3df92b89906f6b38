"""Reader for Alibaba's openb pod lists (`alibaba_gpu_v2023_openb/openb_pod_list_*.csv`).

Licence: alibaba/clusterdata allows research/study use only, so nothing from it ships in the
package; this reader is for files a user points at.

Columns used: `name, num_gpu, gpu_milli, gpu_spec, qos, pod_phase, creation_time, deletion_time,
scheduled_time` (seconds). Mapping, row by row:

* GPU pods only: `num_gpu == 0` (CPU pods) are skipped.
* Pods with an empty `scheduled_time` (phase Pending) never ran and are skipped: their
  deletion - creation is time spent waiting, not work.
* Fractional sharing: a pod with `num_gpu = 1, gpu_milli < 1000` asks for a slice of one GPU. cpnet
  schedules whole devices, so it gets 1 device (ceil); the slice is kept in `extra` as
  `gpu_milli`. Multi-GPU pods (`num_gpu > 1`) take `num_gpu` whole devices.
* arrival = creation_time (submission), relative to the first kept pod;
  duration = deletion_time - scheduled_time (time it held its GPUs; the creation-to-schedule gap
  was the original cluster's queueing delay).
* `gpu_spec` ('|'-separated alternatives) -> accelerator constraint: V100M16 and V100M32 -> V100,
  P100, T4, A10 as themselves. G1-G3 are undisclosed models: a pod that accepts any of them is
  left unconstrained, as is a pod with an empty spec.
* `qos` and `pod_phase` go to `extra`. Job ids are the pod `name`s.

The `openb_pod_list_multigpu*.csv` files have no time columns and cannot be replayed.
"""

from __future__ import annotations

from collections.abc import Iterator

from cpnet.core.errors import InputError
from cpnet.sim.traces import fields
from cpnet.sim.traces.record import TraceRecord

REQUIRED = ("name", "num_gpu", "gpu_milli", "creation_time", "deletion_time", "scheduled_time")
SPEC_TO_MODEL = {"V100M16": "V100", "V100M32": "V100", "P100": "P100", "T4": "T4", "A10": "A10"}
UNDISCLOSED = frozenset({"G1", "G2", "G3"})
_new = tuple.__new__


def read_openb(path: str) -> Iterator[TraceRecord]:
    """Yield the GPU pods of an openb pod list that ran, in creation (arrival) order."""
    with open(path, encoding="utf-8") as f:
        header = f.readline()
        if not header.strip():
            raise InputError(path, f"empty file; expected a header with {', '.join(REQUIRED)}", line=1)
        names = header.rstrip("\r\n").split(",")
        if "creation_time" not in names and "num_gpu" in names:
            raise InputError(path, "this pod list has no time columns (creation_time, deletion_time, scheduled_time) and cannot be replayed", line=1)
        index = fields.header_columns(path, header, ",", REQUIRED)
        width = len(names)
        ispec, iqos, iphase = (index.get(c) for c in ("gpu_spec", "qos", "pod_phase"))
        spec_cache: dict[str, frozenset[str] | None] = {}
        first_line = previous_line = 0
        start = previous = 0
        for line, raw in enumerate(f, start=2):
            cells = raw.rstrip("\r\n").split(",")
            if len(cells) != width:
                if not raw.strip():
                    continue
                raise fields.field_count_error(path, line, width, len(cells), "comma")
            n = fields.integer(path, line, "num_gpu", cells[index["num_gpu"]], minimum=0)
            if n == 0 or not cells[index["scheduled_time"]].strip():
                continue
            milli = fields.integer(path, line, "gpu_milli", cells[index["gpu_milli"]], minimum=1)
            if milli > 1000:
                raise InputError(path, f"expected gpu_milli in 1..1000, got {milli}", line=line, field="gpu_milli")
            created = fields.integer(path, line, "creation_time", cells[index["creation_time"]], minimum=0)
            scheduled = fields.integer(path, line, "scheduled_time", cells[index["scheduled_time"]], minimum=0)
            deleted = fields.integer(path, line, "deletion_time", cells[index["deletion_time"]], minimum=0)
            if scheduled < created:
                raise InputError(path, f"expected scheduled_time >= creation_time ({created}), got {scheduled}", line=line, field="scheduled_time")
            if deleted <= scheduled:
                raise InputError(path, f"expected deletion_time > scheduled_time ({scheduled}), got {deleted}", line=line, field="deletion_time")
            if first_line == 0:
                start, first_line = created, line
            elif created < previous:
                raise fields.out_of_order(path, line, "creation_time", created, previous, previous_line)
            previous, previous_line = created, line
            spec = cells[ispec].strip() if ispec is not None else ""
            if spec not in spec_cache:
                spec_cache[spec] = _constraint(path, line, spec)
            extra = [("qos", cells[iqos])] if iqos is not None else []
            if iphase is not None:
                extra.append(("pod_phase", cells[iphase]))
            if milli < 1000:
                extra.append(("gpu_milli", str(milli)))
            if spec:
                extra.append(("gpu_spec", spec))
            job_id = cells[index["name"]].strip()
            if not job_id:
                raise InputError(path, "expected a pod name, got an empty cell", line=line, field="name")
            yield _new(
                TraceRecord,
                (job_id, float(created - start), n, path, line, float(deleted - scheduled), None, None, None, 1.0, spec_cache[spec], tuple(extra)),
            )


def _constraint(path: str, line: int, spec: str) -> frozenset[str] | None:
    """Canonical models a pod may run on; None when unconstrained or any alternative is undisclosed."""
    if not spec:
        return None
    models: set[str] = set()
    for token in spec.split("|"):
        token = token.strip()
        if token in UNDISCLOSED:
            return None
        model = SPEC_TO_MODEL.get(token)
        if model is None:
            known = ", ".join(sorted(SPEC_TO_MODEL) + sorted(UNDISCLOSED))
            raise InputError(path, f"unknown GPU model {token!r}; expected '|'-separated names from {known}", line=line, field="gpu_spec")
        models.add(model)
    return frozenset(models)
