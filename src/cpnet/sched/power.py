"""Power headroom within one scheduling cycle: the allocator's check that no placement takes a site
over its `power_cap_kw` (the draw rule is cpnet.core.power).

`PowerRoom.for_running` starts from the draw of the jobs that keep running (event-driven policies);
`PowerRoom.for_round` from every capped site idle, since a round reassigns every device (Gavel's
mechanism). `fits` / `take` then check and book each gang. Sites without a cap are never looked up
past one set membership test, so uncapped networks pay nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cpnet.core.model import Accelerator, Site
from cpnet.core.power import busy_increment_kw, idle_draw_kw
from cpnet.core.snapshot import Placement, Snapshot

_EPS_KW = 1e-9  # float slack: a gang that exactly meets the cap fits


class PowerRoom:
    """kW left under the cap of each capped up site in this cycle (mutable, one per cycle)."""

    __slots__ = ("_left", "_sites", "_catalog", "_need")

    def __init__(self, sites: Iterable[Site], catalog: Mapping[str, Accelerator]) -> None:
        self._catalog = catalog
        self._need: dict[tuple[str, str, int], float] = {}  # a gang's draw, asked for once per shape in a cycle
        self._sites = {s.id: s for s in sites if s.power_cap_kw is not None}
        self._left = {sid: float(s.power_cap_kw or 0.0) - idle_draw_kw(s, catalog) for sid, s in self._sites.items()}

    @classmethod
    def for_round(cls, snapshot: Snapshot) -> PowerRoom:
        return cls(snapshot.sites, snapshot.catalog)

    @classmethod
    def for_running(cls, snapshot: Snapshot) -> PowerRoom:
        room = cls(snapshot.sites, snapshot.catalog)
        if room._sites:
            left, need = room._left, room.need_kw
            for jv in snapshot.jobs:  # every cycle, over a long queue too: `take` inlined
                p = jv.placement
                if p is not None and p.site in left:
                    left[p.site] -= need(p.site, p.accelerator, p.num_devices)
        return room

    @property
    def capped(self) -> bool:
        return bool(self._sites)

    def need_kw(self, site_id: str, model: str, num_devices: int) -> float:
        key = (site_id, model, num_devices)
        kw = self._need.get(key)
        if kw is None:
            site = self._sites.get(site_id)
            kw = self._need[key] = 0.0 if site is None else busy_increment_kw(site, model, num_devices, self._catalog)
        return kw

    def fits(self, site_id: str, model: str, num_devices: int) -> bool:
        if site_id not in self._left:
            return True
        return self.need_kw(site_id, model, num_devices) <= self._left[site_id] + _EPS_KW

    def fits_freeing(self, site_id: str, model: str, num_devices: int, freed: Iterable[tuple[str, int]]) -> bool:
        """`fits`, once the gangs `freed` ((model, devices) at the same site) have stopped."""
        if site_id not in self._left:
            return True
        back = sum(self.need_kw(site_id, m, n) for m, n in freed)
        return self.need_kw(site_id, model, num_devices) <= self._left[site_id] + back + _EPS_KW

    def take(self, p: Placement) -> None:
        if p.site in self._left:
            self._left[p.site] -= self.need_kw(p.site, p.accelerator, p.num_devices)

    def give(self, p: Placement) -> None:
        """Book `p`'s gang as stopped."""
        if p.site in self._left:
            self._left[p.site] += self.need_kw(p.site, p.accelerator, p.num_devices)
