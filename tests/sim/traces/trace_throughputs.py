"""A literal ThroughputTable for trace tests: Gavel's isolated (null) throughputs, nothing estimated.

Built from tests/fixtures/traces/gavel_isolated_throughputs.csv, extracted from Gavel's
simulation_throughputs.json, so these tests do not depend on cpnet.catalog. A measured 0.0
("did not run") and any count Gavel did not measure give None.
"""

from __future__ import annotations

import csv
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "traces"


class GavelIsolatedTable:
    """Measured values only. With `beyond_8=True`, counts above a type's largest measured count m
    get rate(m) * n / m: a plain stand-in for cpnet.catalog's estimate, so that traces with 16-128
    GPU jobs (Philly, ITP) can be typed in tests."""

    def __init__(self, *, beyond_8: bool = False) -> None:
        self._beyond_8 = beyond_8
        self._rates: dict[tuple[str, str, int], float] = {}
        with open(FIXTURES / "gavel_isolated_throughputs.csv", newline="") as f:
            for row in csv.DictReader(f):
                rate = float(row["steps_per_s"])
                if rate > 0:
                    self._rates[(row["job_type"], row["accelerator"], int(row["num_devices"]))] = rate
        self._types = sorted({t for t, _, _ in self._rates})

    def steps_per_s(self, job_type: str, accelerator: str, num_devices: int) -> float | None:
        rate = self._rates.get((job_type, accelerator, num_devices))
        if rate is None and self._beyond_8 and num_devices > 8:
            top = max((n for t, a, n in self._rates if t == job_type and a == accelerator), default=None)
            if top is not None:
                rate = self._rates[(job_type, accelerator, top)] * num_devices / top
        return rate

    def job_types(self) -> list[str]:
        return list(self._types)

    def scale_factors(self, job_type: str) -> tuple[int, ...]:
        return tuple(sorted({n for t, _, n in self._rates if t == job_type}))


def fixture(name: str) -> str:
    return str(FIXTURES / name)
