"""The pure scheduler: `schedule(snapshot, config) -> Decision`. No I/O, no clock reads."""

from cpnet.sched.runner import SchedulerConfig, schedule

__all__ = ["SchedulerConfig", "schedule"]
