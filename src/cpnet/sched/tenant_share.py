"""Tenant shares in compute units: decayed usage and weighted dominant share (DRF) across families.

Compute units. A device-second of model X running job type J is worth
cu(X, J) = s(J, X) / s(J, V100) CU (cpnet.catalog.compute_units; the model's median ratio when J is
unknown there, 1 when the model has no throughput at all). A family is the model's vendor in the
catalog (the model itself when the catalog does not know it).

Decayed usage and shares follow cpnet.sched.fairshare (U' = U 2^(-dt/H) + u; share(t) = max_f
(r_t,f + U_t,f ln 2 / H) / c_f / w_t, with c_f the network's CU/s of family f and r_t,f the CU/s
of t's running jobs); this module feeds them from a snapshot and keeps them current while one
decision places and preempts. Tenants are compared flat (each its own org).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cpnet.catalog.compute_units import REFERENCE_MODEL, ComputeUnits
from cpnet.core.model import JobSpec
from cpnet.core.snapshot import Snapshot, ThroughputTable, UsageEntry
from cpnet.sched.fairshare import DecayedUsage, decay_factor, dominant_share


def family_of(model: str, snapshot: Snapshot) -> str:
    acc = snapshot.catalog.get(model)
    return acc.vendor if acc is not None else model


class CuRates:
    """cu(model, job type) of one snapshot's throughput table, remembered (see the module docstring)."""

    def __init__(self, table: ThroughputTable) -> None:
        self.table = table
        self._memo: dict[tuple[str, str | None], float] = {}

    def __call__(self, model: str, job_type: str | None = None) -> float:
        key = (model, job_type)
        rate = self._memo.get(key)
        if rate is None:
            rate = self._memo[key] = self._rate(model, job_type)
        return rate

    def _rate(self, model: str, job_type: str | None) -> float:
        if job_type is not None:
            own = self.table.steps_per_s(job_type, model, 1)
            ref = self.table.steps_per_s(job_type, REFERENCE_MODEL, 1)
            if own is not None and ref is not None and own > 0 and ref > 0:
                return own / ref
        job_types = getattr(self.table, "job_types", None)  # the catalog's tables list them; a median needs them
        if not callable(job_types):
            return 1.0
        rate = ComputeUnits.from_table(self.table, [model]).rate(model)  # type: ignore[arg-type]
        return 1.0 if rate is None else rate


@dataclass(frozen=True, slots=True)
class UsageMemory:
    """Every tenant's decayed usage (cpnet.sched.fairshare.DecayedUsage), as of the newest stretch read."""

    half_life_s: float
    as_of_s: float = -math.inf
    tenants: Mapping[str, DecayedUsage] = field(default_factory=dict)

    def read(self, entries: Iterable[UsageEntry], snapshot: Snapshot, cu: CuRates) -> UsageMemory:
        """This memory with `entries` added: U' = U 2^(-dt/H) + u per stretch, in end order (a stretch
        that ended before the newest one read counts decayed from its end)."""
        out = dict(self.tenants)
        as_of = self.as_of_s
        for e in entries:
            f = family_of(e.accelerator, snapshot)
            u = e.device_s * cu(e.accelerator, e.job_type)
            if e.end_s >= as_of:
                as_of = e.end_s
            else:
                u *= decay_factor(as_of - e.end_s, self.half_life_s)
            old = out.get(e.tenant)
            out[e.tenant] = (old or DecayedUsage(as_of)).plus(as_of, {f: u}, self.half_life_s)
        return UsageMemory(self.half_life_s, as_of, out)


class TenantBook:
    """The shares of one decision, updated as it places and preempts (a local, mutable ledger)."""

    def __init__(self, snapshot: Snapshot, cu: CuRates, capacity: Mapping[str, float], history: Mapping[tuple[str, str], float]) -> None:
        self._snap = snapshot
        self._cu = cu
        self._capacity = capacity  # family -> CU/s
        self._use: dict[str, dict[str, float]] = {}  # tenant -> family -> CU/s, history included
        for (t, f), u in history.items():
            self._use.setdefault(t, {})[f] = u
        self._weights = {t: max(getattr(v, "weight", 1.0), 1e-12) for t, v in snapshot.tenants.items()}
        self._shares: dict[str, float] = {}  # remembered until the tenant's use changes

    @classmethod
    def open(cls, snapshot: Snapshot, usage: UsageMemory, cu: CuRates) -> TenantBook:
        capacity: dict[str, float] = {}
        for site in snapshot.sites:
            for model, n in site.inventory.items():
                if n > 0:
                    f = family_of(model, snapshot)
                    capacity[f] = capacity.get(f, 0.0) + n * cu(model)
        history = {
            (t, f): r for t, d in usage.tenants.items() for f, r in d.at(max(snapshot.now_s, d.at_s), usage.half_life_s).rate_cu_s(usage.half_life_s).items()
        }
        book = cls(snapshot, cu, capacity, history)
        for jv in snapshot.jobs:
            if jv.placement is not None:
                book.take(jv.spec, jv.placement.accelerator, jv.placement.num_devices)
        return book

    def take(self, spec: JobSpec, model: str, devices: int) -> None:
        use = self._use.setdefault(spec.tenant, {})
        self._shares.pop(spec.tenant, None)
        f = family_of(model, self._snap)
        use[f] = use.get(f, 0.0) + devices * self._cu(model, spec.job_type)

    def release(self, spec: JobSpec, model: str, devices: int) -> None:
        self.take(spec, model, -devices)

    def share(self, tenant: str) -> float:
        """Weighted dominant share of `tenant`: max_f (use_f / cap_f) / weight."""
        share = self._shares.get(tenant)
        if share is None:
            share = self._shares[tenant] = dominant_share(self._use.get(tenant, {}), self._capacity) / self._weights.get(tenant, 1.0)
        return share

    def share_with(self, tenant: str, spec: JobSpec, model: str, devices: int) -> float:
        """`tenant`'s share if `devices` (negative: fewer) of `model` ran `spec` besides what it holds."""
        self.take(spec, model, devices)
        try:
            return self.share(tenant)
        finally:
            self.release(spec, model, devices)
