"""TOU tariff Series against values worked out by hand from rows of the tariff file.

Each expected multiplier below is read off the CSV row named in the comment (hours are UTC+8).
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from cpnet.core.energy import Series
from cpnet.core.errors import InputError
from cpnet.scenario import load_scenario
from cpnet.scenario.tariff import TariffLookupError, default_tou_file, read_tou_rows, select_rows, tariff_year_start_s, tou_tariff_series

CN = timezone(timedelta(hours=8))
FLAT = 0.1  # USD/kWh
FB = {"fallback_peak_vs_flat": 1.5, "fallback_valley_vs_flat": 0.5}

# (province, grid area, local date-time (UTC+8), expected price / flat, which row and period)
CASES: list[tuple[str, str | None, datetime, float, str]] = [
    # Anhui rows: Jul-Sep peak 16:00-24:00 x1.843; Jan/Dec valley 12:00-14:00 x0.382; other months peak 06-08,16-22 x1.74, flat 22-23.
    ("Anhui", None, datetime(2024, 7, 10, 17, 30, tzinfo=CN), 1.843, "Jul: peak 16:00-24:00"),
    ("Anhui", None, datetime(2024, 7, 10, 22, 30, tzinfo=CN), 1.843, "Jul: still peak"),
    ("Anhui", None, datetime(2024, 4, 10, 17, 30, tzinfo=CN), 1.74, "Apr: peak 16:00-22:00 at the other-months ratio"),
    ("Anhui", None, datetime(2024, 4, 10, 22, 30, tzinfo=CN), 1.0, "Apr: flat 22:00-23:00"),
    ("Anhui", None, datetime(2024, 1, 10, 12, 30, tzinfo=CN), 0.382, "Jan: valley 12:00-14:00"),
    ("Anhui", None, datetime(2024, 1, 10, 23, 30, tzinfo=CN), 0.382, "Jan: valley 23:00-06:00 (wraps)"),
    # Beijing: sharp = peak x 1.2 = 1.6 x 1.2 = 1.92, overlaying base periods in Jul/Aug (11-13, 16-17) and Jan/Dec (18-21).
    ("Beijing", None, datetime(2024, 7, 10, 11, 30, tzinfo=CN), 1.92, "Jul: sharp over peak"),
    ("Beijing", None, datetime(2024, 7, 10, 16, 30, tzinfo=CN), 1.92, "Jul: sharp over the flat block 13-17"),
    ("Beijing", None, datetime(2024, 3, 10, 11, 30, tzinfo=CN), 1.6, "Mar: no sharp, peak"),
    ("Beijing", None, datetime(2024, 12, 10, 19, 30, tzinfo=CN), 1.92, "Dec: sharp 18-21"),
    ("Beijing", None, datetime(2024, 12, 10, 3, 0, tzinfo=CN), 0.4, "Dec: valley"),
    # Inner Mongolia West: Jun-Aug valley 11-16 x0.44 with deep valley 13-15 = valley x 0.8 = 0.352; sharp 19-21 = 1.54 x 1.2.
    ("Inner Mongolia", "West", datetime(2024, 7, 10, 14, 0, tzinfo=CN), 0.352, "Jul: deep valley"),
    ("Inner Mongolia", "West", datetime(2024, 7, 10, 12, 0, tzinfo=CN), 0.44, "Jul: valley"),
    ("Inner Mongolia", "West", datetime(2024, 7, 10, 20, 0, tzinfo=CN), 1.848, "Jul: sharp"),
    ("Inner Mongolia", "West", datetime(2024, 3, 10, 14, 0, tzinfo=CN), 0.48, "Mar: windy-season valley 11-16"),
    # Shanghai: Jul-Sep row has sharp 12-14 (peak 1.8 x 1.25 = 2.25), but its notes say Jul and Aug only.
    ("Shanghai", None, datetime(2024, 8, 10, 12, 30, tzinfo=CN), 2.25, "Aug: sharp"),
    ("Shanghai", None, datetime(2024, 9, 10, 12, 30, tzinfo=CN), 1.8, "Sep: peak, sharp not applied"),
    ("Shanghai", None, datetime(2024, 4, 10, 9, 0, tzinfo=CN), 1.6, "Apr: other-months peak ratio 1.6"),
    # Jiangsu Mar-May/Sep-Nov: flat 22:00-02:00 wraps midnight, valley 02:00-06:00 x0.35.
    ("Jiangsu", None, datetime(2024, 4, 10, 1, 30, tzinfo=CN), 1.0, "Apr: flat past midnight"),
    ("Jiangsu", None, datetime(2024, 4, 10, 2, 30, tzinfo=CN), 0.35, "Apr: valley"),
    # Hebei South (blank ratios -> fallback 1.5/0.5): spring deep valley 12-15 is a separate block, no rule -> = valley.
    ("Hebei", "South", datetime(2024, 4, 10, 13, 0, tzinfo=CN), 0.5, "Apr: deep valley = valley (fallback)"),
    ("Hebei", "South", datetime(2024, 4, 10, 17, 0, tzinfo=CN), 1.5, "Apr: peak 16-24 (fallback)"),
    # North Hebei winter: sharp 17-19 separate block, no sharp rule -> = peak (fallback 1.5).
    ("Hebei", "North Hebei", datetime(2024, 1, 10, 18, 0, tzinfo=CN), 1.5, "Jan: sharp = peak"),
    ("Hebei", "North Hebei", datetime(2024, 1, 10, 0, 30, tzinfo=CN), 1.0, "Jan: flat 00-01"),
]


@pytest.mark.parametrize(("province", "area", "local", "mult", "why"), CASES, ids=[f"{c[0]}-{c[2]:%m%d-%H%M}" for c in CASES])
def test_price_at_hand_computed_hours(province: str, area: str | None, local: datetime, mult: float, why: str) -> None:
    s = tou_tariff_series(province, FLAT, grid_area=area, **FB)
    assert s.at(local.timestamp()) == pytest.approx(FLAT * mult), why


def test_local_hours_are_converted_to_utc() -> None:
    s = tou_tariff_series("Anhui", FLAT)
    # Jul 10, 16:00 local (peak starts) = 08:00 UTC.
    assert s.at(datetime(2024, 7, 10, 7, 59, tzinfo=UTC).timestamp()) == pytest.approx(FLAT * 1.0)
    assert s.at(datetime(2024, 7, 10, 8, 0, tzinfo=UTC).timestamp()) == pytest.approx(FLAT * 1.843)
    assert s.times_s[0] == datetime(2023, 12, 31, 16, 0, tzinfo=UTC).timestamp()


def test_year_repeats_with_period_365_days_and_label_names_document() -> None:
    s = tou_tariff_series("Anhui", FLAT)
    assert s.period_s == 365 * 86400
    t = datetime(2024, 7, 10, 17, 30, tzinfo=CN).timestamp()
    assert s.at(t + 365 * 86400) == s.at(t)
    doc = "皖发改价格\u30142025\u3015302号 (effective 2025-07-01)"  # the file's tortoise-shell brackets, escaped for the linter
    assert s.label.startswith(f"TOU tariff Anhui ({doc})")
    day = datetime(2024, 5, 1, tzinfo=CN).timestamp()
    changes = _changes(s, day, day + 86400)
    assert len(changes) >= 4  # valley -> peak -> flat -> valley -> ... within one day


def _changes(s: Series, t0: float, t1: float) -> list[float]:
    out, t = [], t0
    while (t := s.next_change_s(t)) < t1:
        out.append(t)
    return out


def test_fallback_is_named_in_the_label_only_when_used() -> None:
    assert "ASSUMED" in tou_tariff_series("Gansu", FLAT, **FB).label
    assert "ASSUMED" not in tou_tariff_series("Guizhou", FLAT, **FB).label


@pytest.mark.parametrize(
    ("province", "area", "kwargs", "words"),
    [
        ("Atlantis", None, FB, ("no TOU tariff for province 'Atlantis'", "Beijing")),
        ("Hebei", None, FB, ("2 grid areas", "North Hebei grid", "Hebei South grid")),
        ("Hebei", "Mars", FB, ("grid_area 'Mars'",)),
        ("Gansu", None, {}, ("no peak_vs_flat", "fallback_peak_vs_flat", "line 35")),
    ],
)
def test_lookup_errors(province: str, area: str | None, kwargs: dict[str, float], words: tuple[str, ...]) -> None:
    with pytest.raises(TariffLookupError) as err:
        tou_tariff_series(province, FLAT, grid_area=area, **kwargs)
    for w in words:
        assert w in str(err.value), (w, str(err.value))


def test_year_start_follows_the_epoch_in_china_time() -> None:
    assert tariff_year_start_s(datetime(2020, 1, 1, tzinfo=UTC).timestamp()) == datetime(2020, 1, 1, tzinfo=CN).timestamp()
    # 2019-12-31 20:00 UTC is already 2020-01-01 04:00 in China.
    assert tariff_year_start_s(datetime(2019, 12, 31, 20, tzinfo=UTC).timestamp()) == datetime(2020, 1, 1, tzinfo=CN).timestamp()
    assert tariff_year_start_s(datetime(2019, 12, 31, 15, tzinfo=UTC).timestamp()) == datetime(2019, 1, 1, tzinfo=CN).timestamp()


def test_every_province_and_grid_area_in_the_file_builds() -> None:
    rows = read_tou_rows(default_tou_file())
    for prov, area in sorted({(r.province, r.grid_area) for r in rows}):
        assert select_rows(rows, prov, area)
        s = tou_tariff_series(prov, FLAT, grid_area=area, **FB)
        assert s.label.startswith(f"TOU tariff {prov} (")
        assert min(s.values) < FLAT < max(s.values)


def test_malformed_tariff_row_names_file_and_line(tmp_path: Path) -> None:
    src = Path(default_tou_file())
    with src.open(encoding="utf-8", newline="") as fh:
        recs = list(csv.reader(fh))
    header = recs[0]
    recs[3][header.index("peak_hours")] = "10:00-25:00"  # line 4 of the file
    bad = tmp_path / "tou.csv"
    with bad.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(recs)
    with pytest.raises(InputError) as err:
        tou_tariff_series("Beijing", FLAT, path=str(bad))
    assert err.value.line == 4 and "tou.csv" in str(err.value) and "10:00-25:00" in str(err.value)


def test_uncovered_hours_are_an_error(tmp_path: Path) -> None:
    src = Path(default_tou_file())
    with src.open(encoding="utf-8", newline="") as fh:
        recs = list(csv.reader(fh))
    header = recs[0]
    line = next(i for i, r in enumerate(recs) if r[header.index("province_en")] == "Guizhou") + 1
    recs[line - 1][header.index("flat_hours")] = "08:00-10:00;13:00-17:00"  # drop 22:00-24:00
    bad = tmp_path / "tou.csv"
    with bad.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(recs)
    with pytest.raises(InputError) as err:
        tou_tariff_series("Guizhou", FLAT, path=str(bad))
    assert err.value.line == line and "22:00" in str(err.value)


def test_a_scenarios_compute_tariff_overrides_the_default_and_keeps_the_rest(tmp_path: Path) -> None:
    from cpnet.core.tariff import LIST_PRICES_USD_PER_HOUR

    f = tmp_path / "s.yaml"
    f.write_text(
        "schema_version: 1\nname: t\nsites:\n"
        "  - {id: a, tier: cloud, region: r, lat: 30.0, lon: 110.0, inventory: {V100: 4, A100: 2}, pue: 1.1, price_usd_per_kwh: 0.1, carbon_g_per_kwh: 500}\n"
        "tenants:\n  - {id: x, weight: 1}\n"
        "compute_tariff:\n  version: acme-2027.1\n  rates:\n    - {model: V100, usd_per_device_hour: 2.5}\n    - {model: V100, site: a, usd_per_device_hour: 2.0}\n"
        "  time_of_use:\n    - {start_hour: 9, end_hour: 18, multiplier: 1.5}\n  preemptible_discount: 0.5\n"
    )
    t = load_scenario(str(f)).compute_tariff
    assert t is not None and t.version == "acme-2027.1"
    assert (t.rate("a", "V100"), t.rate("b", "V100"), t.rate("a", "A100")) == (2.0, 2.5, LIST_PRICES_USD_PER_HOUR["A100"])  # A100: the default's
    assert (t.multiplier(10), t.multiplier(20)) == (1.5, 1.0)  # the file's periods replace the default's night rate
    assert t.preemptible_discount == 0.5 and t.carbon_usd_per_kg == 0.05  # given, and kept from the default
    assert load_scenario("east-data-west-compute").compute_tariff is None
