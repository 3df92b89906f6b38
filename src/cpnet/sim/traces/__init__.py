"""Job traces: streaming readers for public GPU-cluster traces, Gavel's generator, bundled samples.

Entry point: `open_trace(name_or_path, throughput=..., seed=..., limit=...)` -> JobSpecs in
nondecreasing arrival order. Lower layers: `read_trace(path, fmt)` -> TraceRecords (formats.py),
`to_job_specs(records, throughput, seed=...)` (jobs.py, the documented job-type rule) and
`gavel_workload(...)` (gavel_workload.py). Fitting a trace to a scenario: `assign_tenants` and
`with_slack` (tenancy.py), dataset sizes per job type (datasets.py).
"""

from cpnet.sim.traces.bundled import DEFAULT_TRACE, bundled_path, open_trace, trace_names
from cpnet.sim.traces.datasets import DATASETS, Dataset, dataset_for, dataset_gb
from cpnet.sim.traces.formats import FORMATS, detect_format, read_trace
from cpnet.sim.traces.gavel_job_table import GAVEL_DISTRIBUTED, GAVEL_JOB_TYPES
from cpnet.sim.traces.gavel_workload import gavel_workload
from cpnet.sim.traces.jobs import to_job_specs
from cpnet.sim.traces.record import TraceRecord
from cpnet.sim.traces.tenancy import assign_tenants, with_slack

__all__ = [
    "DATASETS",
    "DEFAULT_TRACE",
    "FORMATS",
    "GAVEL_DISTRIBUTED",
    "GAVEL_JOB_TYPES",
    "Dataset",
    "TraceRecord",
    "assign_tenants",
    "bundled_path",
    "dataset_for",
    "dataset_gb",
    "detect_format",
    "gavel_workload",
    "open_trace",
    "read_trace",
    "to_job_specs",
    "trace_names",
    "with_slack",
]
