"""A submitted job's stored spec (the API's JSON) as the scheduler's `JobSpec`: one conversion,
used by the reconciler and by the API's admission check."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cpnet.control.throughput import GENERIC_JOB_TYPE, GENERIC_TOTAL_STEPS
from cpnet.core.model import JobSpec


def job_spec(job_id: str, tenant: str, s: Mapping[str, Any], submitted_s: float) -> JobSpec:
    acc = s.get("accelerator")
    return JobSpec(
        id=job_id,
        tenant=tenant,
        job_type=s.get("job_type") or GENERIC_JOB_TYPE,
        num_devices=int(s.get("devices", 1)),
        total_steps=float(s.get("total_steps") or GENERIC_TOTAL_STEPS),
        arrival_s=submitted_s,
        priority_weight=float(s.get("priority_weight", 1.0)),
        accelerators=frozenset([acc]) if acc else None,
        data_site=s.get("data_site"),
        data_gb=float(s.get("data_gb") or 0.0),
        deadline_s=float(s["deadline_s"]) if s.get("deadline_s") is not None else None,
        sites=frozenset(s["sites"]) if s.get("sites") else None,
        preemptible=bool(s.get("preemptible", False)),
    )
