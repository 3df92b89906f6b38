"""Paths over the network: shortest latency between sites and the bottleneck bandwidth on that path.

Rule: the path between two sites is the minimum-latency path over the links (Dijkstra; a site is
0 ms from itself); its bandwidth is the smallest link bandwidth on it. Moving `data_gb` gigabytes
from a to b takes

    transfer_s = data_gb x 8 / bandwidth_gbps + RTT,   RTT = latency_ms / 1000

(a Link's latency_ms is the round trip, as scenarios define it)
(0 when a == b or there is nothing to move; inf when b is unreachable). Links are full duplex and
a transfer is assumed to get the path's whole bandwidth (no sharing between transfers; documented
simplification).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass

from cpnet.core.model import Link


@dataclass(frozen=True, slots=True)
class Paths:
    latency_ms: dict[str, dict[str, float]]
    bandwidth_gbps: dict[str, dict[str, float]]

    @classmethod
    def build(cls, site_ids: Iterable[str], links: Iterable[Link]) -> Paths:
        adj: dict[str, list[tuple[str, float, float]]] = {s: [] for s in site_ids}
        for link in links:
            adj.setdefault(link.a, []).append((link.b, link.latency_ms, link.bandwidth_gbps))
            adj.setdefault(link.b, []).append((link.a, link.latency_ms, link.bandwidth_gbps))
        lat: dict[str, dict[str, float]] = {}
        bw: dict[str, dict[str, float]] = {}
        for src in adj:
            dist = {src: 0.0}
            neck = {src: math.inf}
            heap = [(0.0, src)]
            while heap:
                d, u = heapq.heappop(heap)
                if d > dist.get(u, math.inf):
                    continue
                for v, w, b in adj.get(u, ()):
                    nd = d + w
                    nb = min(neck[u], b)
                    old = dist.get(v, math.inf)
                    if nd < old or (nd == old and nb > neck.get(v, 0.0)):
                        dist[v] = nd
                        neck[v] = nb
                        heapq.heappush(heap, (nd, v))
            lat[src] = dist
            bw[src] = neck
        return cls(lat, bw)

    def latency(self, a: str | None, b: str) -> float:
        """Shortest latency in ms (0 when `a` is None or a == b, inf when unreachable)."""
        if a is None:
            return 0.0
        return self.latency_ms.get(a, {}).get(b, math.inf)

    def bottleneck_gbps(self, a: str, b: str) -> float:
        return self.bandwidth_gbps.get(a, {}).get(b, 0.0)

    def transfer_s(self, data_gb: float, a: str | None, b: str) -> float:
        if a is None or a == b or data_gb <= 0:
            return 0.0
        lat = self.latency(a, b)
        bw = self.bottleneck_gbps(a, b)
        if math.isinf(lat) or bw <= 0:
            return math.inf
        return data_gb * 8.0 / bw + lat / 1000.0
