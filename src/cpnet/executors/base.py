"""The executor interface the reconciler drives. One implementation per engine, chosen by name."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from cpnet.core.errors import CpnetError
from cpnet.core.snapshot import Placement


@dataclass(frozen=True, slots=True)
class LaunchRequest:
    """Everything an executor needs to start one placed job."""

    job_id: str
    attempt: int  # 1 for the first launch; grows on every requeue
    placement: Placement
    command: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)  # extra variables from the job spec
    log_path: str = ""  # where stdout+stderr go
    checkpoint_dir: str = ""  # survives requeue; exported as CPNET_CHECKPOINT_DIR
    tenant: str = ""  # whose job it is: the local executor runs it as that tenant's user


class LaunchRejected(CpnetError):
    """The job cannot be launched as specified (its working directory does not exist, its tenant
    may not run here): the job's fault, not the infrastructure's, so it fails without a retry."""


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # the job's own code failed (non-zero exit)
    LOST = "lost"  # infrastructure failure: node/site gone, process vanished; not the job's fault
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Observation:
    """What an executor knows of one launched job. `handle` identifies it in the engine."""

    job_id: str
    attempt: int
    handle: str
    status: RunStatus
    exit_code: int | None = None
    reason: str = ""
    device_s: float | None = None  # as reported by the engine, when it reports it
    energy_kwh: float | None = None  # from device counters (NVML), when present


class Executor(Protocol):
    """Contract: `launch` returns quickly with a handle; `observe` reports every job launched and not
    yet acknowledged by `forget`; `cancel` is idempotent; `adopt` re-attaches to a job launched by a
    previous process (after a crash) and returns False if it is gone."""

    name: str

    def launch(self, request: LaunchRequest) -> str: ...

    def observe(self) -> list[Observation]: ...

    def cancel(self, job_id: str, handle: str) -> None: ...

    def adopt(self, job_id: str, attempt: int, handle: str) -> bool: ...

    def forget(self, job_id: str) -> None: ...

    def inventory(self) -> Mapping[str, Mapping[str, int]]:
        """Sites this executor serves -> accelerator model -> device count it can see now."""
        ...
