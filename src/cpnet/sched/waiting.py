"""Why each waiting job still waits after a decision, in words a tenant can act on (`cpnet job list`).

Pure, like `schedule()`: from the snapshot the decision was made on and the decision. Each reason
starts with its kind, as `squeue` shows `(Resources)` / `(Priority)`:
- the policy's own word when it gives one (`Decision.waiting`: `quota:`, `budget:`, `fair-share:`);
- `capacity:` no usable pool (as the policy's filters define usable) has its gang free once the
  decision's placements are taken;
- `round:` (round-based policies) or `its turn:` (event-driven ones) a pool has its gang free, but
  the policy gave the devices to other jobs first (a higher share, an earlier arrival).
"""

from __future__ import annotations

from collections.abc import Mapping

from cpnet.core.snapshot import Decision, Snapshot
from cpnet.sched.feasibility import NetworkIndex, Pool


def wait_reasons(snapshot: Snapshot, decision: Decision, index: NetworkIndex, policy: str, *, round_based: bool = False) -> dict[str, str]:
    """job id -> why it waits, for each waiting job of `snapshot` that `decision` neither places nor finds infeasible."""
    free: dict[Pool, int] = dict(snapshot.free)
    views = {v.id: v for v in snapshot.jobs}
    for p in decision.placements:
        old = views[p.job_id].placement if p.job_id in views else None
        if old is not None:
            free[old.pool] = free.get(old.pool, 0) + old.num_devices
        free[p.pool] = free.get(p.pool, 0) - p.num_devices
    for jid in decision.preemptions:
        old = views[jid].placement if jid in views else None
        if old is not None:
            free[old.pool] = free.get(old.pool, 0) + old.num_devices
    decided = {p.job_id for p in decision.placements} | {i.job_id for i in decision.infeasible}
    memo: dict[tuple[int, int], str] = {}
    out: dict[str, str] = {}
    for v in snapshot.jobs:
        if v.placement is not None or v.id in decided:
            continue
        own = decision.waiting.get(v.id)
        if own is not None:
            out[v.id] = own
            continue
        pools = index.pools_for(v.spec)
        key = (id(pools), v.spec.num_devices)  # the index memoises JobPools per shape; hashing its pool tuple costs O(pools) per job
        if key not in memo:
            memo[key] = (
                _reason(pools.pools, v.spec.num_devices, free, policy, round_based)
                if pools.feasible
                else f"capacity: no up site can hold it now ({pools.reason})"
            )
        out[v.id] = memo[key]
    return out


def _reason(pools: tuple[Pool, ...], n: int, free: Mapping[Pool, int], policy: str, round_based: bool) -> str:
    best: Pool | None = None
    most = 0
    for pool in pools:  # preference order: the first of equal counts is named
        k = free.get(pool, 0)
        if k > most:
            best, most = pool, k
    if best is not None and most >= n:
        if round_based:
            return f"round: {policy} gave this round's devices to other jobs ({most} x {best[1]} free at {best[0]})"
        return f"its turn: {policy} gave the free devices to other jobs first ({most} x {best[1]} free at {best[0]})"
    if best is None:
        return f"capacity: wants {n} device{'s' if n != 1 else ''}; none free in its {len(pools)} usable pool{'s' if len(pools) != 1 else ''}"
    return f"capacity: wants {n} devices; the most free in a usable pool is {most} x {best[1]} at {best[0]}"
