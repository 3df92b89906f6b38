"""Gavel's synthetic workload generator (Narayanan et al., OSDI'20), for reproducing its experiments.

Facts taken from Gavel's `scheduler/utils.py::generate_job` and `Scheduler.simulate` /
`_initialize_seeds` (stanford-futuredata/gavel); the random streams are reproduced so that a seed
gives the job sequence Gavel's simulator would generate:

* Two `random.Random` streams: jobs from `Random(seed + 2)`, inter-arrival times from
  `Random(seed + 3)`.
* Arrivals: the first job at t = 0, then Poisson: delta = -ln(1 - u) * 3600 / rate seconds.
* Per job, from the job stream, in this order:
  1. scale factor, always drawn: r = U(0,1); 2 if 0.7 <= r <= 0.8, 4 if 0.8 < r <= 0.95,
     8 if r > 0.95, else 1 (P = 0.7/0.1/0.15/0.05). Forced to 1 unless `multi_gpu`.
  2. duration: if U >= 0.8 then 60 * 10^U(3, 4) s else 60 * 10^U(1.5, 3) s
     (10^U(1.5,3) minutes w.p. 0.8, else 10^U(3,4) minutes).
  3. job type: uniform over Gavel's 26-type job table (in its order), redrawn until the type is
     distributed (ResNet-18/50, Transformer, LM) when the scale factor is > 1.
  4. only with `multi_priority`: priority 5.0 if U(0,1) <= 0.2, else 1.0.
* Work: total_steps = duration * steps_per_s(type, V100, scale factor) (Gavel's reference worker
  type 'v100'), so a job takes its drawn duration alone on `scale factor` V100s.

Job ids are "0", "1", ... in arrival order (Gavel's job ids), so Gavel's measurement window
"jobs 4000-5000" is ids 4000..4999.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

from cpnet.core.errors import CpnetError
from cpnet.core.model import JobSpec
from cpnet.core.snapshot import ThroughputTable
from cpnet.sched.seeded import pick
from cpnet.sim.traces.gavel_job_table import GAVEL_DISTRIBUTED, GAVEL_JOB_TYPES

REFERENCE_ACCELERATOR = "V100"


def gavel_workload(
    *,
    rate_jobs_per_hr: float,
    num_jobs: int,
    seed: int,
    throughput: ThroughputTable,
    multi_gpu: bool = False,
    multi_priority: bool = False,
    tenant: str = "default",
    users: int = 1,
) -> Iterator[JobSpec]:
    """`num_jobs` jobs of Gavel's continuous workload at `rate_jobs_per_hr` (see module doc).

    Gavel's generator has no users. With `users` = K > 1, job i belongs to user
    f"{tenant}-u{pick(seed, 'user:' + str(i), K)}" (cpnet.sched.seeded.pick: uniform, keyed by the
    job, so it draws nothing from the generator's own random streams and the jobs are unchanged).
    """
    if users < 1:
        raise ValueError(f"users ({users}) must be >= 1")
    if not (0.0 < rate_jobs_per_hr < math.inf):
        raise ValueError(f"rate_jobs_per_hr ({rate_jobs_per_hr!r}) must be a finite number > 0")
    if num_jobs < 0:
        raise ValueError(f"num_jobs ({num_jobs}) must be >= 0")
    jobs = random.Random(seed + 2)
    gaps = random.Random(seed + 3)
    # Gavel's lam is the mean inter-arrival time; it samples with rate parameter 1 / lam.
    rate_parameter = 1.0 / (3600.0 / rate_jobs_per_hr)
    arrival_s = 0.0
    for i in range(num_jobs):
        scale_factor = _scale_factor(jobs.uniform(0, 1))
        duration_s = _duration_s(jobs)
        if not multi_gpu:
            scale_factor = 1
        job_type = jobs.choice(GAVEL_JOB_TYPES)
        while scale_factor > 1 and job_type not in GAVEL_DISTRIBUTED:
            job_type = jobs.choice(GAVEL_JOB_TYPES)
        rate = throughput.steps_per_s(job_type, REFERENCE_ACCELERATOR, scale_factor)
        if rate is None:
            raise CpnetError(
                f"the throughput table has no value for {job_type!r} on {scale_factor} x {REFERENCE_ACCELERATOR}; "
                "Gavel's generator needs one for every job type"
            )
        priority = 1.0
        if multi_priority and jobs.uniform(0, 1) <= 0.2:
            priority = 5.0
        yield JobSpec(
            id=str(i),
            tenant=tenant if users == 1 else f"{tenant}-u{pick(seed, 'user:' + str(i), users)}",
            job_type=job_type,
            num_devices=scale_factor,
            total_steps=duration_s * rate,
            arrival_s=arrival_s,
            priority_weight=priority,
            extra={"duration_s": repr(duration_s)},
        )
        arrival_s = -math.log(1.0 - gaps.random()) / rate_parameter + arrival_s


def _scale_factor(r: float) -> int:
    # Gavel's thresholds, boundaries included as it writes them (r = 0.8 gives 2, 0.95 gives 4).
    if 0.7 <= r <= 0.8:
        return 2
    if 0.8 <= r <= 0.95:
        return 4
    if 0.95 <= r:  # noqa: SIM300 (Gavel's generator, as written)
        return 8
    return 1


def _duration_s(rng: random.Random) -> float:
    if rng.random() >= 0.8:
        return 60 * (10 ** rng.uniform(3, 4))
    return 60 * (10 ** rng.uniform(1.5, 3))
