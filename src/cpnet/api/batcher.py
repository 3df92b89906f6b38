"""Group commit for submissions: concurrent requests are written in one transaction.

Each request waits on a future that resolves only after the transaction holding its job has
committed, so a 2xx still means "durably stored". One writer thread drains the queue; with one
request in flight a batch is that one request, so latency at low load is one commit.

The per-tenant queued-job limit (pending + scheduled + running, `Limits.max_queued_jobs`) is kept
here. The exact count is taken inside the writer's transaction (`Store.submit_jobs(max_live=...)`),
but only when it can matter: the writer keeps, per tenant, the last exact count plus the jobs it
admitted since. Jobs only leave the count elsewhere (they finish), so that estimate is never low in
a single API process, and a batch that stays below the limit by it needs no count. With several API
processes the others' admissions are unseen, so the writer counts again when its figure is older
than `REFRESH_S` or within what the others could have admitted since (their rate limits bound it).
A tenant found full is refused without the database for `FULL_S` (429 with Retry-After).
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from cpnet.api.limits import Limits
from cpnet.control.store.store import JobRecord, Store

MAX_BATCH = 256
REFRESH_S = 1.0  # with several API processes: count again at least this often (per active tenant)
FULL_S = 0.5  # a tenant found at its limit is refused without counting for this long


class SubmitBatcher:
    def __init__(self, store: Store, limits: Limits | None = None) -> None:
        self.store = store
        self.limits = limits or Limits()
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # Writer-thread state: tenant -> [live jobs (last count + admitted since), monotonic time of the count]
        self._live: dict[str, list[float]] = {}
        self._full_until: dict[str, float] = {}
        peers = max(self.limits.api_processes - 1, 0)
        if peers == 0:
            self._slack = 0.0
        elif self.limits.submit_rate_per_s > 0:
            self._slack = peers * (self.limits.submit_burst + self.limits.submit_rate_per_s * REFRESH_S)
        else:
            self._slack = float("inf")  # the others' admissions are unbounded: always count
        self._peers = peers > 0

    async def submit(self, tenant: str, key: str, spec: Mapping[str, Any], now_s: float) -> tuple[JobRecord, bool]:
        """Commit one submission; ApiError 429 when the tenant's queued-job limit is reached."""
        self._ensure_thread()
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[tuple[JobRecord, bool]] = loop.create_future()
        self._q.put((tenant, key, spec, now_s, fut, loop))
        return await fut

    def recount(self, tenant: str) -> None:
        """Jobs of `tenant` were stored past this batcher (a job array): count them exactly at its next submission.

        The estimate in `_live` only grows by what this batcher admits, so after a batch it is low."""
        self._live.pop(tenant, None)  # one atomic dict operation: safe beside the writer thread

    def _ensure_thread(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="cpnet-submit-writer", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while True:
            batch = [self._q.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._q.get_nowait())
                except queue.Empty:
                    break
            results = self._write([(t, k, s, n) for t, k, s, n, _, _ in batch])
            # One wake-up per event loop per batch (each call_soon_threadsafe writes to the loop's
            # self-pipe), not one per request.
            by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
            for (*_, fut, loop), res in zip(batch, results, strict=True):
                by_loop.setdefault(loop, []).append((fut, res))
            for loop, items in by_loop.items():
                loop.call_soon_threadsafe(_settle_all, items)

    def _write(self, items: list[tuple[str, str, Mapping[str, Any], float]]) -> list[Any]:
        """Results in order: (job, created), or the exception that request gets."""
        limit = self.limits.max_queued_jobs
        if limit <= 0:
            try:
                return list(self.store.submit_jobs(items))
            except Exception as exc:  # the whole transaction failed: every request in it gets the error
                return [exc] * len(items)
        now = time.monotonic()
        need = Counter(tenant for tenant, *_ in items)
        full = {tenant for tenant in need if self._full_until.get(tenant, 0.0) > now}
        check: dict[str, int] = {}
        for tenant, n in need.items():
            est = self._live.get(tenant)
            if tenant not in full and (est is None or est[0] + n > limit - self._slack or (self._peers and now - est[1] > REFRESH_S)):
                check[tenant] = limit
        todo = [i for i, item in enumerate(items) if item[0] not in full]
        out: list[Any] = [None] * len(items)
        if todo:
            live: dict[str, int] = {}
            try:
                written: list[Any] = self.store.submit_jobs([items[i] for i in todo], max_live=check, live=live)
            except Exception as exc:
                written = [exc] * len(todo)
            for i, res in zip(todo, written, strict=True):
                out[i] = res
            if not isinstance(written[0], Exception):
                for tenant, count in live.items():
                    self._live[tenant] = [float(count), now]
                    if count >= limit:
                        self._full_until[tenant] = now + FULL_S
                    else:
                        self._full_until.pop(tenant, None)
                admitted = Counter(items[i][0] for i, res in zip(todo, written, strict=True) if res is not None and res[1])
                for tenant, n in admitted.items():
                    if tenant not in check and tenant in self._live:
                        self._live[tenant][0] += n
        return [self._queue_full(items[i][0]) if res is None else res for i, res in enumerate(out)]

    def _queue_full(self, tenant: str) -> Exception:
        from cpnet.api.app import ApiError

        limit = self.limits.max_queued_jobs
        return ApiError(
            429,
            f"queued-job limit: tenant '{tenant}' has {limit} pending, scheduled or running jobs, the most it may have; retry when some have finished",
            headers={"Retry-After": str(self.limits.queue_full_retry_s)},
            extra={"limit": "max_queued_jobs", "value": limit},
        )


def _settle_all(items: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for fut, res in items:
        if fut.done():
            continue
        if isinstance(res, BaseException):
            fut.set_exception(res)
        else:
            fut.set_result(res)
