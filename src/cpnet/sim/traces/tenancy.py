"""Fitting a trace to a scenario: trace users -> scenario tenants, data locations, deadlines.

Tenant rule (`assign_tenants`): a job whose tenant is already a scenario tenant keeps it. Every
other distinct trace user u (the JobSpec.tenant the trace gave: Philly's VC, "default" for traces
without users) goes to tenant `sorted(tenants)[pick(seed, "tenant:" + u, len(tenants))]`
(cpnet.sched.seeded.pick). The draw is keyed by the user alone, so one user always lands on one
tenant, whatever the job order, and the mapping is fixed by the seed. The choice is uniform, not
weighted by Tenant.weight: the weight is the share a fair-share policy grants a tenant, so
sending it more users as well would count the weight twice (more demand *and* more share), and
a uniform rule keeps the mapping unchanged when only weights are edited. The job keeps its
trace user in extra["trace_user"].

Data rule, for every job `assign_tenants` yields: no data_site -> the tenant's home_site (None
when the tenant has none or is not a scenario tenant); data_gb == 0 -> the dataset size of its
job type (datasets.py).

Deadline rule (`with_slack`): see its docstring.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace

from cpnet.core.model import JobSpec, Tenant
from cpnet.sched.seeded import pick
from cpnet.sim.traces.datasets import dataset_gb

TRACE_USER_KEY = "trace_user"
_RESOLUTION = 1 << 32  # pick() draws in [0, 2^32) for the deferrable-fraction test


def tenant_of_user(user: str, tenant_ids: list[str], seed: int) -> str:
    """The scenario tenant a trace user maps to: `tenant_ids` (sorted) at pick(seed, "tenant:" + user)."""
    return tenant_ids[pick(seed, "tenant:" + user, len(tenant_ids))]


def assign_tenants(jobs: Iterable[JobSpec], tenants: Mapping[str, Tenant], seed: int) -> Iterator[JobSpec]:
    """Jobs with scenario tenants and filled data fields, by the tenant and data rules above."""
    if not tenants:
        raise ValueError("assign_tenants needs at least one scenario tenant")
    ids = sorted(tenants)
    memo: dict[str, str] = {}  # trace user -> tenant: one draw per user, not per job
    for job in jobs:
        user = job.tenant
        tenant_id = user if user in tenants else memo.get(user)
        if tenant_id is None:
            tenant_id = memo[user] = tenant_of_user(user, ids, seed)
        data_site = job.data_site if job.data_site is not None else tenants[tenant_id].home_site
        data_gb = job.data_gb if job.data_gb != 0.0 else dataset_gb(job.job_type)
        yield replace(
            job,
            tenant=tenant_id,
            data_site=data_site,
            data_gb=data_gb,
            extra={**job.extra, TRACE_USER_KEY: user},
        )


def with_slack(jobs: Iterable[JobSpec], slack_s: float, fraction: float, seed: int) -> Iterator[JobSpec]:
    """Make a seeded `fraction` of jobs deferrable: deadline_s = arrival_s + duration_s + slack_s.

    duration_s is the job's run time on its reference devices, JobSpec.extra["duration_s"] (set
    by jobs.py and gavel_workload.py from the trace). Each job is chosen independently, iff
    pick(seed, "slack:" + job.id, 2^32) < fraction * 2^32, so the choice does not depend on job
    order and `fraction` is the expected share. Jobs without a duration, and jobs that already
    have a deadline, pass unchanged.
    """
    if not slack_s >= 0.0:
        raise ValueError(f"slack_s must be >= 0, got {slack_s}")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    threshold = fraction * _RESOLUTION
    for job in jobs:
        duration = job.extra.get("duration_s")
        if job.deadline_s is None and duration is not None and pick(seed, "slack:" + job.id, _RESOLUTION) < threshold:
            job = replace(job, deadline_s=job.arrival_s + float(duration) + slack_s)
        yield job
