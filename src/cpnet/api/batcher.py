"""Group commit for submissions: concurrent requests are written in one transaction.

Each request waits on a future that resolves only after the transaction holding its job has
committed, so a 2xx still means "durably stored". One writer thread drains the queue; with one
request in flight a batch is that one request, so latency at low load is one commit.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Mapping
from typing import Any

from cpnet.control.store.store import JobRecord, Store

MAX_BATCH = 256


class SubmitBatcher:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    async def submit(self, tenant: str, key: str, spec: Mapping[str, Any], now_s: float) -> tuple[JobRecord, bool]:
        self._ensure_thread()
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[tuple[JobRecord, bool]] = loop.create_future()
        self._q.put((tenant, key, spec, now_s, fut, loop))
        return await fut

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
            try:
                results: list[Any] = self.store.submit_jobs([(t, k, s, n) for t, k, s, n, _, _ in batch])
                settle: Any = _done
            except Exception as exc:  # the whole transaction failed: every request in it gets the error
                results, settle = [exc] * len(batch), _fail
            # One wake-up per event loop per batch (each call_soon_threadsafe writes to the loop's
            # self-pipe), not one per request.
            by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
            for (*_, fut, loop), res in zip(batch, results):
                by_loop.setdefault(loop, []).append((fut, res))
            for loop, items in by_loop.items():
                loop.call_soon_threadsafe(_settle_all, settle, items)


def _settle_all(settle: Any, items: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for fut, res in items:
        settle(fut, res)


def _done(fut: asyncio.Future[Any], res: Any) -> None:
    if not fut.done():
        fut.set_result(res)


def _fail(fut: asyncio.Future[Any], exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)
