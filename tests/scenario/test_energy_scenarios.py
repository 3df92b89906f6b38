"""Scenarios with energy signals: the bundled default, the European bench scenario, and the new fields' errors."""

from __future__ import annotations

import math
import textwrap
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from cpnet.catalog import load_catalog, load_throughputs
from cpnet.core.errors import InputError
from cpnet.core.model import Tier
from cpnet.core.power import idle_draw_kw, site_draw_kw
from cpnet.scenario import DEFAULT_SCENARIO, Scenario, load_scenario, scenario_names
from cpnet.sim.traces.gavel_job_table import GAVEL_JOB_TYPES

REPO = Path(__file__).resolve().parents[2]
EUROPE = REPO / "bench" / "scenarios" / "europe-carbon.yaml"
LWA = REPO.parent / "shared" / "data" / "energy" / "lets_wait_awhile"
FIXTURES = REPO / "tests" / "fixtures" / "energy"
needs_lwa = pytest.mark.skipif(not LWA.is_dir(), reason=f"needs the Let's Wait Awhile series under {LWA} (not shipped: no licence)")
CN = timezone(timedelta(hours=8))
KNOWN = {"V100", "A100", "T4"}


@pytest.fixture(scope="module")
def edwc() -> Scenario:
    return load_scenario(DEFAULT_SCENARIO)


def test_default_scenario_prices_change_during_a_day(edwc: Scenario) -> None:
    energy = edwc.energy
    assert energy is not None
    assert energy.epoch_s == edwc.epoch_s == datetime(2024, 1, 1, tzinfo=CN).timestamp()
    for site in edwc.sites:
        if site.tier is Tier.DEVICE:
            continue
        prices = {energy.price_at(site, h * 3600.0 + 60.0) for h in range(24)}
        assert len(prices) >= 3, site.id  # at least valley, flat and peak
        assert min(prices) < site.price_usd_per_kwh < max(prices), site.id  # the static price is the flat period's
        se = energy.sites[site.id]
        assert se.price_usd_per_kwh is not None and se.price_usd_per_kwh.label.startswith("TOU tariff ")
    assert energy.next_change_s(0.0) <= 8 * 3600  # something changes within the first morning


def test_default_scenario_carbon_is_labelled_annual_and_flat(edwc: Scenario) -> None:
    energy = edwc.energy
    assert energy is not None
    for site in edwc.sites:
        carbon = energy.sites[site.id].carbon_g_per_kwh
        assert carbon is not None and carbon.is_flat and carbon.values == (site.carbon_g_per_kwh,)
        assert carbon.label.endswith("2022 (flat; not hourly)") and carbon.label.startswith("annual factor ")


def test_default_scenario_hub_wuhu_follows_the_anhui_tariff(edwc: Scenario) -> None:
    # Anhui, Jul-Sep row: peak 16:00-24:00 at 1.843 x flat; flat price 0.62 CNY / 7.2.
    assert edwc.energy is not None
    site = edwc.site("hub-wuhu")
    t = datetime(2024, 7, 10, 17, tzinfo=CN).timestamp() - edwc.epoch_s
    assert edwc.energy.price_at(site, t) == pytest.approx(0.62 / 7.2 * 1.843)


def test_default_scenario_home_sites_are_eastern_hubs(edwc: Scenario) -> None:
    homes = {t.id: t.home_site for t in edwc.tenants.values()}
    assert homes == {"research": "hub-zhangjiakou", "industry": "hub-wuhu", "public": "hub-shaoguan"}
    for site_id in homes.values():
        assert site_id is not None and edwc.site(site_id).tier is Tier.CLOUD
        assert edwc.site(site_id).region in {"Beijing-Tianjin-Hebei", "Yangtze River Delta", "Guangdong-HK-Macao"}


def test_default_scenario_power_caps_bind_only_at_high_load(edwc: Scenario) -> None:
    catalog = load_catalog()
    capped = [s for s in edwc.sites if s.power_cap_kw is not None]
    assert capped
    for s in capped:
        assert s.power_cap_kw is not None
        full = site_draw_kw(s, dict(s.inventory), catalog)
        assert idle_draw_kw(s, catalog) < 0.75 * full < s.power_cap_kw < full, s.id


@needs_lwa
def test_european_scenario_loads_with_three_carbon_series() -> None:
    sc = load_scenario(str(EUROPE))
    assert sc.energy is not None and sc.epoch_s == datetime(2020, 1, 1, tzinfo=UTC).timestamp()
    assert {s.region for s in sc.sites} == {"Germany", "Great Britain", "France"}
    for s in sc.sites:
        carbon = sc.energy.sites[s.id].carbon_g_per_kwh
        assert carbon is not None and not carbon.is_flat and "_ci.csv" in carbon.label
        assert carbon.times_s[0] <= sc.epoch_s < carbon.times_s[-1]
        day = [sc.energy.carbon_at(s, h * 3600.0) for h in range(24)]
        assert len(set(day)) > 12, s.id
        # The static number is the file's mean; the first week's mean is of the same order.
        assert 0.4 < sc.energy.mean_carbon(s, 0.0, 7 * 86400.0) / s.carbon_g_per_kwh < 2.5, s.id
    assert all(t.home_site is not None for t in sc.tenants.values())
    fr, de = sc.site("cloud-paris"), sc.site("cloud-frankfurt")
    assert sc.energy.mean_carbon(fr, 0, 30 * 86400) < sc.energy.mean_carbon(de, 0, 30 * 86400)


def _all_scenarios() -> list[str]:
    return [*scenario_names(), *([str(EUROPE)] if LWA.is_dir() else [])]


@pytest.mark.parametrize("name", _all_scenarios())
def test_every_device_model_has_a_throughput_for_some_gavel_job_type(name: str) -> None:
    throughputs = load_throughputs()
    for model in load_scenario(name).total_inventory():
        runnable = [t for t in GAVEL_JOB_TYPES if throughputs.steps_per_s(t, model, 1)]
        assert runnable, f"{name}: no Gavel job type runs on {model}"


def test_old_style_scenarios_have_no_energy_signals() -> None:
    sc = load_scenario("gavel-36-36-36")
    assert sc.energy is None and sc.epoch_s == datetime(2024, 1, 1, tzinfo=CN).timestamp()


# ---- the new fields in small files ----

SITE = """\
  - id: a
    tier: cloud
    region: r
    lat: 30.0
    lon: 110.0
    inventory: {V100: 4}
    pue: 1.1
    price_usd_per_kwh: 0.1
    carbon_g_per_kwh: 300.0
"""
TENANTS = "tenants:\n  - {id: x, weight: 1}\n"


def write(tmp_path: Path, body: str, extra_site: str = "", tenants: str = TENANTS, head: str = "") -> Path:
    f = tmp_path / "s.yaml"
    f.write_text("schema_version: 1\nname: t\n" + head + "sites:\n" + SITE + textwrap.indent(extra_site, "    ") + body + tenants, encoding="utf-8")
    return f


def test_series_paths_are_relative_to_the_scenario_file(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "ci.csv").write_text((FIXTURES / "good_15min.csv").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "data" / "p.csv").write_text((FIXTURES / "unix_price.csv").read_text(encoding="utf-8"), encoding="utf-8")
    extra = "carbon_series: {path: data/ci.csv}\nprice_series: {path: data/p.csv, time_column: unix_s, value_column: price_eur_per_mwh, scale: 0.001}\npower_cap_kw: 2.5\n"
    sc = load_scenario(str(write(tmp_path, "", extra, head='epoch: "2020-01-01T00:00:00Z"\n')), known_accelerators=KNOWN)
    assert sc.energy is not None and sc.site("a").power_cap_kw == 2.5
    a = sc.site("a")
    assert sc.energy.carbon_at(a, 0.0) == 300.0 and sc.energy.carbon_at(a, 900.0) == 310.0
    assert sc.energy.price_at(a, 7200.0) == pytest.approx(-0.002)
    assert sc.energy.site_at(a, 900.0).carbon_g_per_kwh == 310.0


def test_unquoted_yaml_epoch_and_naive_epoch_are_utc(tmp_path: Path) -> None:
    for text in ("epoch: 2020-01-01T00:00:00Z\n", "epoch: '2020-01-01T00:00:00'\n", "epoch: 2020-01-01 00:00:00\n"):
        sc = load_scenario(str(write(tmp_path, "", head=text)), known_accelerators=KNOWN)
        assert sc.epoch_s == datetime(2020, 1, 1, tzinfo=UTC).timestamp(), text
        assert sc.energy is None


def test_tariff_site_in_a_small_file(tmp_path: Path) -> None:
    sc = load_scenario(str(write(tmp_path, "", "tariff: {province: Guizhou}\n")), known_accelerators=KNOWN)
    assert sc.energy is not None
    a = sc.site("a")
    # Guizhou, all months: valley 00:00-08:00 x0.4; epoch 2024-01-01 00:00 UTC+8.
    assert sc.energy.price_at(a, 3600.0) == pytest.approx(0.04)
    assert sc.energy.price_at(a, 11 * 3600.0) == pytest.approx(0.16)
    assert math.isfinite(sc.energy.next_change_s(0.0))


# (case, extra site lines, tenants block, head, line of the error in s.yaml (None: in another file), words)
ERRORS: list[tuple[str, str, str, str, int | None, tuple[str, ...]]] = [
    ("unknown home site", "", "tenants:\n  - {id: x, weight: 1, home_site: nowhere}\n", "", 14, ("unknown home_site 'nowhere'", "valid: a")),
    ("missing series file", "carbon_series:\n  path: nope.csv\n", TENANTS, "", 14, ("series file not found", "nope.csv", "relative to the scenario")),
    ("price series and tariff", "tariff: {province: Guizhou}\nprice_series: {path: p.csv}\n", TENANTS, "", 4, ("at most one of price_series or tariff",)),
    ("carbon series and annual", "carbon_annual: {province: Gansu, year: 2022}\ncarbon_series: {path: p.csv}\n", TENANTS, "", 4, ("at most one",)),
    ("unknown province", "tariff: {province: Atlantis}\n", TENANTS, "", 13, ("no TOU tariff for province 'Atlantis'",)),
    ("blank ratios", "tariff: {province: Gansu}\n", TENANTS, "", 13, ("fallback_peak_vs_flat", "Gansu")),
    ("ambiguous grid area", "tariff: {province: Hebei, fallback_peak_vs_flat: 1.5, fallback_valley_vs_flat: 0.5}\n", TENANTS, "", 13, ("grid_area",)),
    ("annual factor mismatch", "carbon_annual: {province: Gansu, year: 2022}\n", TENANTS, "", 13, ("not the 2022 factor of Gansu", "477.2")),
    ("annual factor year", "carbon_annual: {province: Gansu, year: 2030}\n", TENANTS, "", 13, ("no 2030 factor", "[2021, 2022]")),
    ("unknown tariff field", "tariff: {province: Gansu, fallback: 1.5}\n", TENANTS, "", 13, ("unknown field 'fallback'", "fallback_peak_vs_flat")),
    ("bad utc offset", "carbon_series: {path: p.csv, utc_offset: '+8'}\n", TENANTS, "", 13, ("pattern",)),
    ("non-positive cap", "power_cap_kw: 0\n", TENANTS, "", 13, ("greater than 0",)),
    ("date epoch", "", TENANTS, "epoch: 2020-01-01\n", 3, ("is a date",)),
    ("bad epoch", "", TENANTS, "epoch: 'yesterday'\n", 3, ("not an ISO-8601 date-time",)),
]


@pytest.mark.parametrize(("case", "extra", "tenants", "head", "line", "words"), ERRORS, ids=[e[0] for e in ERRORS])
def test_new_field_errors_name_the_line(tmp_path: Path, case: str, extra: str, tenants: str, head: str, line: int | None, words: tuple[str, ...]) -> None:
    f = write(tmp_path, "", extra, tenants=tenants, head=head)
    with pytest.raises(InputError) as err:
        load_scenario(str(f), known_accelerators=KNOWN)
    msg = str(err.value)
    assert err.value.path == str(f) and err.value.line == line, msg
    for w in words:
        assert w in msg, (w, msg)


def test_a_broken_series_file_names_that_file_and_its_line(tmp_path: Path) -> None:
    (tmp_path / "gap.csv").write_text((FIXTURES / "gap.csv").read_text(encoding="utf-8"), encoding="utf-8")
    f = write(tmp_path, "", "carbon_series: {path: gap.csv}\n")
    with pytest.raises(InputError) as err:
        load_scenario(str(f), known_accelerators=KNOWN)
    assert err.value.path == str(tmp_path / "gap.csv") and err.value.line == 6
