"""Annual provincial grid CO2 factors of China (MEE/NBS) as flat carbon-intensity Series.

Source: `china_grid_co2_factors_mee.csv` (shared/data/energy, SOURCES.md section 12; a verbatim copy
ships in cpnet/scenario/data/energy): location-based annual averages of electricity consumed, in
kgCO2/kWh. They are one number per province and year, so the Series is flat (one point) and its
label says so: "annual factor <province> <year> (flat; not hourly)".

The scenario keeps its `carbon_g_per_kwh` number; `carbon_annual: {province, year}` checks that the
number is the file's factor x 1000 (to within ANNUAL_TOLERANCE_G, the file's 4th decimal) and labels it.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from importlib import resources
from pathlib import Path

from cpnet.core.energy import Series
from cpnet.core.errors import InputError

FACTORS_FILE = "china_grid_co2_factors_mee.csv"
ANNUAL_TOLERANCE_G = 0.051  # the file gives kgCO2/kWh to 4 decimals, i.e. 0.1 g; scenarios round to 0.1 g


class FactorLookupError(ValueError):
    """The scenario's annual factor is not in the file or does not match it."""


def default_factors_file() -> str:
    return str(resources.files("cpnet.scenario").joinpath("data", "energy", FACTORS_FILE))


@lru_cache(maxsize=4)
def read_province_factors(path: str) -> dict[tuple[str, int], float]:
    """(province name_en lower-case, year) -> gCO2/kWh of every `level == province` row."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(path, f"cannot read grid factor file ({exc.strerror})") from None
    reader = csv.DictReader(text.splitlines())
    out: dict[tuple[str, int], float] = {}
    for rec in reader:
        if rec.get("level") != "province":
            continue
        try:
            key = (rec["name_en"].strip().lower(), int(rec["year"]))
            out[key] = float(rec["factor_kgco2_per_kwh"]) * 1000.0
        except (KeyError, ValueError):
            raise InputError(path, "expected year, name_en and factor_kgco2_per_kwh as numbers", line=reader.line_num) from None
    return out


def annual_carbon_series(province: str, year: int, value_g_per_kwh: float, *, path: str | None = None) -> Series:
    """A flat Series of `value_g_per_kwh`, after checking it against the file's factor for (province, year)."""
    file = path or default_factors_file()
    factors = read_province_factors(file)
    factor = factors.get((province.lower(), year))
    if factor is None:
        years = sorted({y for p, y in factors if p == province.lower()})
        known = sorted({p.title() for p, _ in factors})
        hint = f"years for {province}: {years}" if years else f"provinces: {', '.join(known)}"
        raise FactorLookupError(f"no {year} factor for province '{province}' in {Path(file).name}; {hint}")
    if abs(factor - value_g_per_kwh) > ANNUAL_TOLERANCE_G:
        raise FactorLookupError(f"carbon_g_per_kwh {value_g_per_kwh:g} is not the {year} factor of {province} in {Path(file).name} ({factor:.1f} gCO2/kWh)")
    return Series.flat(value_g_per_kwh, f"annual factor {province} {year} (flat; not hourly)")
