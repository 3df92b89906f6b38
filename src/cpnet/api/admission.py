"""Refuse at submit what can never run, as `sbatch` does: a gang larger than any pool, a site or an
accelerator the network does not have, a data site out of reach.

The rule lives in one place: the scheduler's own filters (`cpnet.sched.filters.DEFAULT_FILTERS`,
which every policy's profile runs) over every known site, up and down. A job is refused only when
they leave it no pool and say so as `UnschedulableAndUnresolvable`; one that only waits (its sites
are down, or busy) is accepted, exactly as the reconciler would keep it pending. With no site known
yet (a server before its first inventory sync) nothing is refused.

The network index is cached for `ttl_s` (sites change rarely; submissions are the hot path), and
its per-shape memo makes a repeat shape a dict lookup.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from cpnet.control.jobspec import job_spec
from cpnet.control.store.store import Store
from cpnet.core.model import Accelerator, Link
from cpnet.core.snapshot import Snapshot, ThroughputTable
from cpnet.core.states import SiteState
from cpnet.sched.feasibility import NetworkIndex
from cpnet.sched.profile import DEFAULT_PROFILE


class Admission:
    def __init__(self, store: Store, throughput: ThroughputTable, catalog: Mapping[str, Accelerator], links: tuple[Link, ...], ttl_s: float = 1.0) -> None:
        self.store, self.throughput, self.catalog, self.links, self.ttl_s = store, throughput, catalog, links, ttl_s
        self._index: NetworkIndex | None = None
        self._until = 0.0
        self._lock = threading.Lock()

    def refusal(self, tenant: str, spec: Mapping[str, Any]) -> str | None:
        """Why no known site could ever run this job; None when it can run, or might."""
        index = self._network()
        if index is None:
            return None
        pools = index.pools_for(job_spec("admission", tenant, spec, 0.0))
        if pools.feasible or pools.resolvable:
            return None
        return pools.reason

    def _network(self) -> NetworkIndex | None:
        now = time.monotonic()
        with self._lock:
            if self._index is None or now >= self._until:
                records = self.store.list_sites()
                up = tuple(r.site for r in records if r.state == SiteState.UP)
                down = tuple(r.site for r in records if r.state != SiteState.UP)
                if not any(n > 0 for s in up + down for n in s.inventory.values()):
                    return None
                snap = Snapshot(0.0, up, (), {}, self.throughput, self.catalog, self.links, down_sites=down)
                self._index = NetworkIndex.build(snap, DEFAULT_PROFILE)
                self._until = now + self.ttl_s
            return self._index
