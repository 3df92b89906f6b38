"""Invoices: a tenant's ledger records of one UTC calendar month, summed per site and accelerator model.

A record belongs to the month in which its run ended (the record's `t_s`, when it was billed).
Every number is a sum over those records (math.fsum, in ledger order), so an invoice's totals are
the ledger's: nothing is priced again here. An invoice of a month not yet over is `provisional`.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cpnet.core.errors import CpnetError

_PERIOD = re.compile(r"^(\d{4})-(\d{2})$")
# Summed per line and in the totals; device_h is device_s / 3600.
AMOUNTS = ("device_s", "cu", "energy_kwh", "kg_co2", "compute_usd", "energy_usd", "carbon_usd", "amount_usd")


class PeriodError(CpnetError):
    pass


@dataclass(frozen=True, slots=True)
class Period:
    """A UTC calendar month, [start_s, end_s)."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Period:
        m = _PERIOD.match(text.strip())
        if m is None or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 1970:
            raise PeriodError(f"period '{text}': expected YYYY-MM, a UTC calendar month from 1970 on (e.g. 2026-11)")
        return cls(int(m.group(1)), int(m.group(2)))

    @classmethod
    def of(cls, t_s: float) -> Period:
        d = datetime.fromtimestamp(t_s, UTC)
        return cls(d.year, d.month)

    @property
    def start_s(self) -> float:
        return datetime(self.year, self.month, 1, tzinfo=UTC).timestamp()

    @property
    def end_s(self) -> float:
        y, m = (self.year + 1, 1) if self.month == 12 else (self.year, self.month + 1)
        return datetime(y, m, 1, tzinfo=UTC).timestamp()

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def periods_between(first_s: float, last_s: float) -> list[Period]:
    """Every month from the one holding first_s to the one holding last_s."""
    p, last, out = Period.of(first_s), Period.of(last_s), []
    while (p.year, p.month) <= (last.year, last.month):
        out.append(p)
        p = Period(p.year + 1, 1) if p.month == 12 else Period(p.year, p.month + 1)
    return out


@dataclass(frozen=True, slots=True)
class Line:
    site: str
    accelerator: str
    runs: int
    sums: Mapping[str, float]  # AMOUNTS -> sum
    cu_unknown_runs: int  # runs whose model has no CU rate (counted 0 CU)
    energy_source: str  # engine | estimated | mixed
    tariffs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Invoice:
    tenant: str
    period: Period
    as_of_s: float
    lines: tuple[Line, ...]
    totals: Mapping[str, float]
    runs: int
    days: tuple[tuple[str, float, float], ...]  # (UTC day, amount_usd, device_s) of each day with records
    first_seq: int | None
    last_seq: int | None

    @property
    def provisional(self) -> bool:
        return self.as_of_s < self.period.end_s

    def to_json(self) -> dict[str, Any]:
        def amounts(sums: Mapping[str, float]) -> dict[str, float]:
            return {**{k: sums[k] for k in AMOUNTS}, "device_h": sums["device_s"] / 3600.0}

        return {
            "tenant": self.tenant,
            "period": str(self.period),
            "start_s": self.period.start_s,
            "end_s": self.period.end_s,
            "as_of_s": self.as_of_s,
            "provisional": self.provisional,
            "currency": "USD",
            "runs": self.runs,
            "lines": [
                {
                    "site": ln.site,
                    "accelerator": ln.accelerator,
                    "runs": ln.runs,
                    **amounts(ln.sums),
                    "cu_unknown_runs": ln.cu_unknown_runs,
                    "energy_source": ln.energy_source,
                    "tariffs": list(ln.tariffs),
                }
                for ln in self.lines
            ],
            "totals": amounts(self.totals),
            "days": [{"day": d, "amount_usd": a, "device_s": s} for d, a, s in self.days],
            "ledger": {"records": self.runs, "first_seq": self.first_seq, "last_seq": self.last_seq},
        }

    def to_csv(self) -> str:
        """One row per line, then a `total` row; the same numbers as the JSON."""
        cols = ["site", "accelerator", "runs", "device_h", *AMOUNTS, "energy_source", "tariffs"]
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["tenant", "period", *cols])
        doc = self.to_json()
        for ln in doc["lines"]:
            w.writerow([self.tenant, str(self.period), *(" ".join(ln[c]) if c == "tariffs" else ln[c] for c in cols)])
        tot = doc["totals"]
        w.writerow([self.tenant, str(self.period), "total", "", self.runs, *(tot[c] for c in cols[3:-2]), "", ""])
        return buf.getvalue()


def _fsum(records: Sequence[Mapping[str, Any]], key: str) -> float:
    return math.fsum(float(r[key]) for r in records if r[key] is not None)


def _sums(records: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    return {k: _fsum(records, k) for k in AMOUNTS}


def build_invoice(tenant: str, period: Period, records: Iterable[Mapping[str, Any]], as_of_s: float) -> Invoice:
    """`records`: ledger rows (Store.ledger_records) of `tenant` billed within `period`, in seq order."""
    rows = list(records)
    for r in rows:
        if r["tenant_id"] != tenant or not period.start_s <= float(r["t_s"]) < period.end_s:
            raise ValueError(f"ledger record {r.get('seq')} is not {tenant}'s in {period}")
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["site"], r["accelerator"]), []).append(r)
    lines = []
    for (site, model), rs in sorted(groups.items()):
        sources = {r["energy_source"] for r in rs}
        lines.append(
            Line(
                site,
                model,
                len(rs),
                _sums(rs),
                sum(1 for r in rs if r["cu"] is None),
                sources.pop() if len(sources) == 1 else "mixed",
                tuple(sorted({r["tariff"] for r in rs})),
            )
        )
    by_day: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        by_day.setdefault(datetime.fromtimestamp(float(r["t_s"]), UTC).strftime("%Y-%m-%d"), []).append(r)
    days = tuple((d, _fsum(rs, "amount_usd"), _fsum(rs, "device_s")) for d, rs in sorted(by_day.items()))
    seqs = [int(r["seq"]) for r in rows]
    return Invoice(tenant, period, as_of_s, tuple(lines), _sums(rows), len(rows), days, min(seqs, default=None), max(seqs, default=None))
