"""Job and site lifecycles. Every state change goes through VALID_TRANSITIONS."""

from __future__ import annotations

from enum import StrEnum

from cpnet.core.errors import CpnetError


class JobState(StrEnum):
    PENDING = "pending"  # acknowledged, waiting for a placement
    SCHEDULED = "scheduled"  # placement decided, launch in progress
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_JOB_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})

VALID_TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.PENDING: frozenset({JobState.SCHEDULED, JobState.FAILED, JobState.CANCELLED}),
    # back to PENDING: launch failed on infrastructure, or the job was preempted / requeued
    JobState.SCHEDULED: frozenset({JobState.RUNNING, JobState.PENDING, JobState.FAILED, JobState.CANCELLED}),
    JobState.RUNNING: frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.PENDING}),
    JobState.SUCCEEDED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
}


class InvalidTransition(CpnetError):
    def __init__(self, job_id: str, src: JobState, dst: JobState) -> None:
        super().__init__(f"job {job_id}: invalid transition {src.value} -> {dst.value}")


def check_transition(job_id: str, src: JobState, dst: JobState) -> None:
    """Raise InvalidTransition unless src -> dst is in the table."""
    if dst not in VALID_TRANSITIONS[src]:
        raise InvalidTransition(job_id, src, dst)


class SiteState(StrEnum):
    UP = "up"  # heartbeating; its free devices are offered to the scheduler
    DOWN = "down"  # missed heartbeats; nothing new is placed there
    DRAINED = "drained"  # taken out by an operator; running jobs finish, nothing new starts


VALID_SITE_TRANSITIONS: dict[SiteState, frozenset[SiteState]] = {
    SiteState.UP: frozenset({SiteState.DOWN, SiteState.DRAINED}),
    SiteState.DOWN: frozenset({SiteState.UP, SiteState.DRAINED}),
    SiteState.DRAINED: frozenset({SiteState.UP}),
}


class InvalidSiteTransition(CpnetError):
    def __init__(self, site_id: str, src: SiteState, dst: SiteState) -> None:
        super().__init__(f"site {site_id}: invalid transition {src.value} -> {dst.value}")


def check_site_transition(site_id: str, src: SiteState, dst: SiteState) -> None:
    """Raise InvalidSiteTransition unless src -> dst is in the site table."""
    if dst not in VALID_SITE_TRANSITIONS[src]:
        raise InvalidSiteTransition(site_id, src, dst)
