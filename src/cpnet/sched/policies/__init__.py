"""Bundled policies, one rule per module. Importing this package registers them."""

from cpnet.sched.policies import fifo  # noqa: F401
