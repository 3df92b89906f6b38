"""Deterministic pseudo-random choices keyed by (seed, name): no generator state to carry.

`pick(seed, key, n)` is a SplitMix64 hash of the seed and a CRC-32 of the key, reduced mod n.
The same job gets the same draw however often, and in whatever order, it is asked about; that keeps
policies pure (same snapshot, same decision) without threading an RNG through calls.
"""

from __future__ import annotations

import zlib

_MASK = (1 << 64) - 1
_crc32 = zlib.crc32


def splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def pick(seed: int, key: str, n: int) -> int:
    """A uniform-looking index in [0, n) determined by `seed` and `key`."""
    if n <= 0:
        raise ValueError(f"n must be >= 1, got {n}")
    # splitmix64 inlined: `fifo` draws once per placed job, and the call was a visible share of it.
    x = ((((seed & 0xFFFFFFFF) << 32) | _crc32(key.encode())) + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return (x ^ (x >> 31)) % n
