"""A loaded scenario: sites, links and tenants, the network rule for pairs without a link, and energy signals."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from cpnet.core.energy import EnergySignals
from cpnet.core.errors import UnknownNameError
from cpnet.core.model import Link, Site, Tenant
from cpnet.core.tariff import Tariff
from cpnet.core.tenancy import TenantTree
from cpnet.scenario.distance import NetworkModel, UnlinkedPairs, great_circle_km


@dataclass(frozen=True, slots=True)
class Scenario:
    """Immutable description of a computing power network.

    `links` are the links the file declares (with `from_distance` already resolved to ms).
    Pairs without a link get a distance-derived link when `network.unlinked_pairs` is
    `from_distance`; `latency_ms`, `bandwidth_gbps` and `network_links` apply that rule.

    `energy`: the sites' price / carbon series with `epoch_s` (Unix time of simulation t = 0), or
    None when no site has a series, a tariff or an annual factor (the Sites' static numbers hold).
    `epoch_s` is the scenario's epoch either way.

    `tenants` are the tree's tenant leaves (those that submit jobs); `tenant_tree` is the whole tree
    with its orgs, teams, quotas and budgets (given as `tree`; by default every tenant its own org).
    """

    name: str
    sites: tuple[Site, ...]
    links: tuple[Link, ...]
    tenants: Mapping[str, Tenant]
    path: str
    description: str = ""
    network: NetworkModel = NetworkModel()
    energy: EnergySignals | None = None
    epoch_s: float = 0.0
    tree: TenantTree | None = None
    compute_tariff: Tariff | None = None  # what a device-hour costs here (None: cpnet.core.tariff's default)
    _tree: TenantTree = field(init=False, repr=False, compare=False)
    _by_id: dict[str, Site] = field(init=False, repr=False, compare=False)
    _link_index: dict[frozenset[str], Link] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_tree", self.tree if self.tree is not None else TenantTree.from_tenants(self.tenants.values()))
        object.__setattr__(self, "_by_id", {s.id: s for s in self.sites})
        object.__setattr__(self, "_link_index", {frozenset((link.a, link.b)): link for link in self.links})

    def __hash__(self) -> int:
        return hash((self.name, self.path))

    @property
    def tenant_tree(self) -> TenantTree:
        return self._tree

    def site(self, site_id: str) -> Site:
        try:
            return self._by_id[site_id]
        except KeyError:
            raise UnknownNameError("site", site_id, self._by_id) from None

    def distance_km(self, a: str, b: str) -> float:
        sa, sb = self.site(a), self.site(b)
        return great_circle_km(sa.lat, sa.lon, sb.lat, sb.lon)

    def link(self, a: str, b: str) -> Link | None:
        """The link between two distinct sites: declared, else distance-derived, else None."""
        self.site(a)
        self.site(b)
        if a == b:
            return None
        declared = self._link_index.get(frozenset((a, b)))
        if declared is not None:
            return declared
        if self.network.unlinked_pairs is UnlinkedPairs.FROM_DISTANCE:
            latency = self.network.latency_ms_for_km(self.distance_km(a, b))
            return Link(a, b, latency, self.network.default_bandwidth_gbps)
        return None

    def latency_ms(self, a: str, b: str) -> float:
        """Round-trip latency between two sites; 0 within a site, inf when they are not connected."""
        if a == b:
            self.site(a)
            return 0.0
        link = self.link(a, b)
        return math.inf if link is None else link.latency_ms

    def bandwidth_gbps(self, a: str, b: str) -> float:
        """Bandwidth between two distinct sites; 0 when they are not connected."""
        link = self.link(a, b)
        return 0.0 if link is None else link.bandwidth_gbps

    def network_links(self) -> tuple[Link, ...]:
        """Every connected pair once (declared links plus distance-derived ones), in site order."""
        out: list[Link] = []
        ids = [s.id for s in self.sites]
        for i, a in enumerate(ids):
            for b in ids[i + 1 :]:
                link = self.link(a, b)
                if link is not None:
                    out.append(link)
        return tuple(out)

    def total_inventory(self) -> dict[str, int]:
        """Device count per accelerator model over all sites (models with zero devices omitted)."""
        totals: dict[str, int] = {}
        for s in self.sites:
            for model, count in s.inventory.items():
                if count > 0:
                    totals[model] = totals.get(model, 0) + count
        return totals
