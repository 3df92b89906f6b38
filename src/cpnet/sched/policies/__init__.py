"""Bundled policies, one composition per module. Importing this package registers them."""

from cpnet.sched.policies import convergent, fifo, gavel_fifo, gavel_las, las  # noqa: F401
