"""Per-tenant submission rate: a token bucket per tenant, in each API process.

Called on the event loop only (the submission path), so it needs no lock. With `--workers N` each
worker has its own buckets: a tenant whose connections spread over the workers may reach N times
the rate (the queued-job limit, checked in the database, holds for all of them together).
"""

from __future__ import annotations

import math
import time


class TokenBucket:
    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate = float(rate_per_s)
        self.burst = float(max(burst, 1))
        self._buckets: dict[str, list[float]] = {}  # key -> [tokens, monotonic time of that level]

    def take(self, key: str, now: float | None = None) -> float:
        """Take one token for `key`: 0.0 when allowed, else the seconds until one is available."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        b = self._buckets.get(key)
        if b is None:
            self._buckets[key] = [self.burst - 1.0, now]
            return 0.0
        tokens = min(self.burst, b[0] + (now - b[1]) * self.rate)
        b[1] = now
        if tokens >= 1.0:
            b[0] = tokens - 1.0
            return 0.0
        b[0] = tokens
        return (1.0 - tokens) / self.rate


def retry_after(wait_s: float) -> str:
    """A Retry-After header value: whole seconds, at least 1."""
    return str(max(1, math.ceil(wait_s)))
