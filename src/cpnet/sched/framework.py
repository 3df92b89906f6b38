"""The one extension point of the scheduler: a Policy turns a Snapshot into a Decision."""

from __future__ import annotations

from typing import Protocol

from cpnet.core.snapshot import Decision, Snapshot


class Policy(Protocol):
    """A scheduling rule.

    `round_s` is None for event-driven policies (called whenever jobs arrive or finish) and the
    round length for round-based ones (called at every multiple of `round_s`; devices freed
    mid-round stay idle until the next round, as in Gavel).
    Contract: `decide` must not mutate its input, read the clock, or do I/O; randomness only from
    `numpy.random.default_rng(snapshot.seed)`-style generators derived from the snapshot.
    """

    # Read-only members, so that frozen dataclasses and properties satisfy the protocol.
    @property
    def name(self) -> str: ...

    @property
    def round_s(self) -> float | None: ...

    @property
    def only_places_waiting_jobs(self) -> bool:
        """True when decide() returns an empty Decision and an unchanged policy_state whenever no
        job waits (non-preemptive, event-driven rules such as fifo); drivers may skip such calls."""
        ...

    def decide(self, snapshot: Snapshot) -> Decision: ...
