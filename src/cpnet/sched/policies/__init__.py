"""Bundled policies, one composition per module. Importing this package registers them."""

from cpnet.sched.policies import convergent, fair_share, fifo, gavel_fifo, gavel_las, las  # noqa: F401
