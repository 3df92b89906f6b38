"""Time-of-use (TOU) electricity tariffs of Chinese provinces as one-year price Series.

Source: `china_tou_tariffs_hub_provinces.csv` (shared/data/energy, SOURCES.md section 13; a verbatim
copy ships in cpnet/scenario/data/energy). One row per province x grid area x month group gives the
sharp / peak / flat / valley / deep-valley hours ("HH:MM-HH:MM;...", local time UTC+8, a range that
ends before it starts wraps past midnight) and the multipliers of the flat price.

Rule, for a site whose flat-period price is P (USD/kWh):

    price(t) = P x m(period of the local hour of t in the row of the local month of t)
    m(flat) = 1, m(peak) = peak_vs_flat, m(valley) = valley_vs_flat,
    m(sharp) = m(peak) x k  where sharp_rule reads "sharp = peak x k", else m(peak),
    m(deep valley) = m(valley) x k  where deep_valley_rule reads "deep valley = valley x k", else m(valley).

* Sharp and deep-valley hours overlay the base periods, or fill a separate block, as the row's
  `sharp_hours_convention` says; the base periods (plus separate blocks) must cover the 24 h once.
* Blank ratios (Hebei, Zhejiang, Chongqing, Gansu, Ningxia: "not given in the quote", or market-formed)
  are an error unless the caller gives fallback ratios, which then apply to the blank cells only
  and are named in the label. The fallback we suggest is peak 1.5 / valley 0.5 x flat (ASSUMED): a
  3:1 peak-valley ratio, the minimum that NDRC notice 发改价格[2021]1093号 sets for most provinces
  (4:1 where the system peak-valley gap exceeds 40 %); that notice is not in our data files.
* Only the hour columns are modelled. Holiday or weather rules in the text columns (deep valley on
  public holidays; sharp hours on >= 35 C days) are not; where the notes restrict a row's sharp hours
  to some of its months, `SHARP_MONTHS` applies them there only.
* Anchor: the series starts at local midnight, 1 January (UTC+8), of the year that holds the
  scenario epoch (2024 for the default epoch) and repeats with `period_s` = 365 days (in a leap year
  31 December takes 1 January's hours, the same winter row in every province of the file).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path

from cpnet.core.energy import Series
from cpnet.core.errors import InputError

CHINA_TZ = timezone(timedelta(hours=8))
YEAR_S = 365 * 86400.0
DAY_MIN = 24 * 60
TOU_FILE = "china_tou_tariffs_hub_provinces.csv"
# Sharp hours of these provinces apply only in these months of their rows (transcribed from the
# file's text columns): Shanghai "Sharp 12:00-14:00 applies in Jul and Aug only (not Sep)"; Sichuan
# "all of Jul-Aug, and other months after 3 consecutive days >= 35 C" (the heat trigger is not modelled).
SHARP_MONTHS: Mapping[str, frozenset[int]] = {"Shanghai": frozenset({7, 8}), "Sichuan": frozenset({7, 8})}

_SHARP_RULE = re.compile(r"sharp\s*=\s*peak\s*x\s*([0-9]+(?:\.[0-9]+)?)", re.IGNORECASE)
_DEEP_RULE = re.compile(r"deep valley\s*=\s*valley\s*x\s*([0-9]+(?:\.[0-9]+)?)", re.IGNORECASE)
_RANGE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
_BASE = ("peak", "flat", "valley")
_COLUMNS = (
    *("province_en", "grid_area", "policy_document", "months", "sharp_hours", "sharp_hours_convention", "peak_hours", "flat_hours"),
    *("valley_hours", "deep_valley_hours", "peak_vs_flat", "valley_vs_flat", "sharp_rule", "deep_valley_rule"),
)


class TariffLookupError(ValueError):
    """The scenario asked for a tariff the file cannot give (unknown province, ambiguous grid area, blank ratios)."""


@dataclass(frozen=True, slots=True)
class TouRow:
    """One row of the TOU file, parsed; hour ranges are (start, end) minutes of the local day, end exclusive."""

    line: int
    province: str
    grid_area: str
    policy_document: str
    months: frozenset[int]
    hours: Mapping[str, tuple[tuple[int, int], ...]]  # sharp, peak, flat, valley, deep_valley
    overlay: bool  # sharp / deep-valley hours overlay the base periods (else: separate blocks)
    peak_vs_flat: float | None
    valley_vs_flat: float | None
    sharp_x_peak: float | None
    deep_x_valley: float | None


def default_tou_file() -> str:
    return str(resources.files("cpnet.scenario").joinpath("data", "energy", TOU_FILE))


def tariff_year_start_s(epoch_s: float) -> float:
    """Unix time of local midnight, 1 January (UTC+8), of the year that holds `epoch_s`."""
    year = datetime.fromtimestamp(epoch_s, CHINA_TZ).year
    return datetime(year, 1, 1, tzinfo=CHINA_TZ).timestamp()


def tou_tariff_series(
    province: str,
    flat_price_usd: float,
    *,
    grid_area: str | None = None,
    year_start_s: float | None = None,
    path: str | None = None,
    fallback_peak_vs_flat: float | None = None,
    fallback_valley_vs_flat: float | None = None,
) -> Series:
    """The price Series (USD/kWh) of `province`'s TOU tariff for one year (rule in the module docstring).

    Raises TariffLookupError when the province / grid area is not in the file or a ratio is blank
    without a fallback; InputError (file, line) when a row of the file is malformed.
    """
    file = path or default_tou_file()
    start = datetime(2024, 1, 1, tzinfo=CHINA_TZ).timestamp() if year_start_s is None else year_start_s
    return _tariff_cached(file, province, grid_area, flat_price_usd, start, fallback_peak_vs_flat, fallback_valley_vs_flat)


@lru_cache(maxsize=64)
def _tariff_cached(file: str, province: str, grid_area: str | None, flat: float, start: float, fb_peak: float | None, fb_valley: float | None) -> Series:
    # Cached: a scenario loaded many times (tests, sweeps) builds each site's year once.
    return _build(file, select_rows(read_tou_rows(file), province, grid_area), flat, start, fb_peak, fb_valley)


def select_rows(rows: Iterable[TouRow], province: str, grid_area: str | None) -> list[TouRow]:
    """The rows of one province (and grid area, matched as a case-insensitive substring)."""
    rows = list(rows)
    mine = [r for r in rows if r.province.lower() == province.lower()]
    if not mine:
        known = sorted({r.province for r in rows})
        raise TariffLookupError(f"no TOU tariff for province '{province}'; the file has: {', '.join(known)}")
    areas = sorted({r.grid_area for r in mine})
    if grid_area is not None:
        hits = [a for a in areas if a == grid_area] or [a for a in areas if grid_area.lower() in a.lower()]
        if len(hits) != 1:
            raise TariffLookupError(f"grid_area '{grid_area}' matches {len(hits)} of {province}'s grid areas; expected one of: {'; '.join(areas)}")
        areas = hits
    elif len(areas) > 1:
        raise TariffLookupError(f"{province} has {len(areas)} grid areas with different tariffs; give grid_area, one of: {'; '.join(areas)}")
    return [r for r in mine if r.grid_area == areas[0]]


@lru_cache(maxsize=4)
def read_tou_rows(path: str) -> tuple[TouRow, ...]:
    """Parse every row of a TOU file (InputError naming the file and line on a malformed cell)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(path, f"cannot read tariff file ({exc.strerror})") from None
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in _COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InputError(path, f"header lacks columns {missing}", line=1)
    out: list[TouRow] = []
    for rec in reader:
        line = reader.line_num
        hours = {k: _ranges(path, line, k, rec[f"{k}_hours"]) for k in ("sharp", "peak", "flat", "valley", "deep_valley")}
        sharp_m = _SHARP_RULE.search(rec["sharp_rule"] or "")
        deep_m = _DEEP_RULE.search(rec["deep_valley_rule"] or "")
        out.append(
            TouRow(
                line=line,
                province=rec["province_en"].strip(),
                grid_area=rec["grid_area"].strip(),
                policy_document=rec["policy_document"].strip(),
                months=_months(path, line, rec["months"]),
                hours=hours,
                overlay="separate" not in (rec["sharp_hours_convention"] or ""),
                peak_vs_flat=_ratio(path, line, "peak_vs_flat", rec["peak_vs_flat"]),
                valley_vs_flat=_ratio(path, line, "valley_vs_flat", rec["valley_vs_flat"]),
                sharp_x_peak=float(sharp_m.group(1)) if sharp_m else None,
                deep_x_valley=float(deep_m.group(1)) if deep_m else None,
            )
        )
    return tuple(out)


def day_profile(row: TouRow, month: int, peak: float, valley: float, path: str = TOU_FILE) -> tuple[tuple[int, float], ...]:
    """(minute of the local day, multiplier of the flat price) steps of one day of `month` under `row`."""
    sharp = peak * (row.sharp_x_peak if row.sharp_x_peak is not None else 1.0)
    deep = valley * (row.deep_x_valley if row.deep_x_valley is not None else 1.0)
    mult = {"peak": peak, "flat": 1.0, "valley": valley, "sharp": sharp, "deep_valley": deep}
    sharp_here = month in SHARP_MONTHS.get(row.province, frozenset(range(1, 13)))
    extra = ("deep_valley", "sharp") if sharp_here else ("deep_valley",)
    minute: list[str | None] = [None] * DAY_MIN
    blocks = _BASE if row.overlay else _BASE + extra
    for kind in blocks:
        for a, b in row.hours[kind]:
            for m in _span(a, b):
                if minute[m] is not None:
                    raise InputError(path, f"{row.province}: {kind} hours overlap {minute[m]} hours at {m // 60:02d}:{m % 60:02d}", line=row.line)
                minute[m] = kind
    if not row.overlay and not sharp_here:  # sharp hours of a separate block fall back to peak outside SHARP_MONTHS
        for a, b in row.hours["sharp"]:
            for m in _span(a, b):
                minute[m] = minute[m] or "peak"
    gap = next((m for m, k in enumerate(minute) if k is None), None)
    if gap is not None:
        raise InputError(path, f"{row.province}: no period covers {gap // 60:02d}:{gap % 60:02d} local time; the blocks must cover 24 h", line=row.line)
    if row.overlay:
        for kind in extra:
            for a, b in row.hours[kind]:
                for m in _span(a, b):
                    minute[m] = kind
    steps: list[tuple[int, float]] = []
    for m, period in enumerate(minute):
        assert period is not None  # checked above: every minute is covered
        v = mult[period]
        if not steps or steps[-1][1] != v:
            steps.append((m, v))
    return tuple(steps)


def _build(file: str, rows: list[TouRow], flat: float, start: float, fb_peak: float | None, fb_valley: float | None) -> Series:
    province = rows[0].province
    by_month: dict[int, TouRow] = {}
    for r in rows:
        for month in r.months:
            if month in by_month:
                raise InputError(file, f"{province}: month {month} is in two rows (lines {by_month[month].line} and {r.line})", line=r.line)
            by_month[month] = r
    absent = sorted(set(range(1, 13)) - set(by_month))
    if absent:
        raise InputError(file, f"{province}: months {absent} are in no row; the rows must cover the year", line=rows[0].line)
    assumed: list[str] = []
    profiles: dict[int, tuple[tuple[int, float], ...]] = {}
    for month, r in sorted(by_month.items()):
        peak, valley = r.peak_vs_flat, r.valley_vs_flat
        if peak is None or valley is None:
            if fb_peak is None or fb_valley is None:
                raise TariffLookupError(
                    f"the TOU file ({Path(file).name}, line {r.line}) gives no peak_vs_flat / valley_vs_flat for {province} ({r.grid_area}); "
                    "give fallback_peak_vs_flat and fallback_valley_vs_flat in the site's tariff (e.g. 1.5 and 0.5, ASSUMED: the 3:1 "
                    "peak-valley minimum of NDRC 发改价格[2021]1093号)"
                )
            peak = fb_peak if peak is None else peak
            valley = fb_valley if valley is None else valley
            assumed.append(str(month))
        profiles[month] = day_profile(r, month, peak, valley, file)
    docs = list(dict.fromkeys(r.policy_document for r in sorted(rows, key=lambda r: r.line)))
    label = f"TOU tariff {province} ({'; '.join(docs)}), {rows[0].grid_area}, flat {flat:.4g} USD/kWh"
    if assumed:
        label += f"; ratios ASSUMED peak {fb_peak:g} / valley {fb_valley:g} x flat (blank in the source)"
    times: list[float] = []
    values: list[float] = []
    day0 = datetime.fromtimestamp(start, CHINA_TZ)
    for d in range(365):
        day_start = start + d * 86400.0
        month = (day0 + timedelta(days=d)).month
        for minute, m in profiles[month]:
            v = flat * m
            if not values or values[-1] != v:
                times.append(day_start + minute * 60.0)
                values.append(v)
    return Series(tuple(times), tuple(values), label, YEAR_S)


def _span(a: int, b: int) -> range | list[int]:
    # b <= a: the range wraps past midnight (e.g. 22:00-02:00).
    return range(a, b) if b > a else [*range(a, DAY_MIN), *range(0, b)]


def _ranges(path: str, line: int, kind: str, text: str | None) -> tuple[tuple[int, int], ...]:
    out: list[tuple[int, int]] = []
    for part in (text or "").split(";"):
        part = part.strip()
        if not part:
            continue
        m = _RANGE.match(part)
        if m is None:
            raise InputError(path, f"{kind}_hours '{part}' is not HH:MM-HH:MM", line=line)
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        a, b = h1 * 60 + m1, h2 * 60 + m2
        if not (0 <= a < DAY_MIN and 0 <= b <= DAY_MIN and m1 < 60 and m2 < 60) or a == b:
            raise InputError(path, f"{kind}_hours '{part}' is not a range within 00:00-24:00", line=line)
        out.append((a, b))
    return tuple(out)


def _months(path: str, line: int, text: str) -> frozenset[int]:
    months: set[int] = set()
    for part in text.split(";"):
        part = part.strip()
        lo, _, hi = part.partition("-")
        try:
            a, b = int(lo), int(hi or lo)
        except ValueError:
            raise InputError(path, f"months '{text}' is not a ';' list of months or a range like 1-12", line=line) from None
        if not 1 <= a <= b <= 12:
            raise InputError(path, f"months '{text}': {part} is not within 1-12", line=line)
        months.update(range(a, b + 1))
    return frozenset(months)


def _ratio(path: str, line: int, column: str, text: str | None) -> float | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        v = float(text)
    except ValueError:
        raise InputError(path, f"{column} '{text}' is not a number", line=line) from None
    if v <= 0:
        raise InputError(path, f"{column} {v} must be positive", line=line)
    return v
