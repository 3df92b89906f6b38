"""Bundled policies, one composition per module. Importing this package registers them."""

from cpnet.sched.policies import fifo, gavel_fifo, gavel_las, las  # noqa: F401
