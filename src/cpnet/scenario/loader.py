"""Read a scenario YAML file (bundled name or path), validate it, and build a `Scenario`.

Every problem becomes one InputError naming the file, the line, the field path
(e.g. `sites[3].inventory.H100`) and what was expected. A malformed series file gives an
InputError naming that file and its line; a missing one names the scenario line that refers to it.
A tenant tree that breaks a rule of cpnet.core.tenancy names the line of the node at fault.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ValidationError

from cpnet.core.energy import EnergySignals, Series, SiteEnergy
from cpnet.core.errors import InputError, UnknownNameError
from cpnet.core.model import Link, Site, Tier
from cpnet.core.tariff import Tariff, TimeOfUse, default_tariff
from cpnet.core.tenancy import Budget, BudgetPeriod, BudgetUnit, NodeKind, TenantNode, TenantTree, TenantTreeError
from cpnet.scenario.distance import NetworkModel, UnlinkedPairs, great_circle_km
from cpnet.scenario.grid_factors import FactorLookupError, annual_carbon_series
from cpnet.scenario.scenario import Scenario
from cpnet.scenario.schema import (
    BudgetSpec,
    CarbonAnnualSpec,
    ComputeTariffSpec,
    LinkSpec,
    NetworkSpec,
    ScenarioSpec,
    SeriesFileSpec,
    SiteSpec,
    TariffSpec,
    TenantSpec,
)
from cpnet.scenario.series_file import SeriesFileOptions, load_series_file
from cpnet.scenario.tariff import TariffLookupError, tariff_year_start_s, tou_tariff_series
from cpnet.scenario.yaml_source import Loc, YamlDocument, format_loc, parse_yaml, validation_error

_SUFFIXES = (".yaml", ".yml")
# Which model an error location's first part points into, for "expected one of" hints.
_SECTION_MODELS: dict[str, type[BaseModel]] = {
    "sites": SiteSpec,
    "links": LinkSpec,
    "tenants": TenantSpec,
    "network": NetworkSpec,
}
# Models of nested fields, for the same hints one level down (e.g. sites[2].tariff.provnce).
_FIELD_MODELS: dict[str, type[BaseModel]] = {
    "price_series": SeriesFileSpec,
    "carbon_series": SeriesFileSpec,
    "tariff": TariffSpec,
    "carbon_annual": CarbonAnnualSpec,
    "budget": BudgetSpec,
}


def scenario_names() -> list[str]:
    """Names of the scenarios shipped in the package, sorted."""
    data = resources.files("cpnet.scenario").joinpath("data")
    return sorted(p.name.rsplit(".", 1)[0] for p in data.iterdir() if p.name.endswith(_SUFFIXES))


def load_scenario(name_or_path: str, *, known_accelerators: Collection[str] | None = None, known_families: Collection[str] | None = None) -> Scenario:
    """Load a bundled scenario by name, or a scenario YAML file by path.

    `known_accelerators`: the valid inventory keys; None means the catalog's keys (skipped when
    the catalog package is not available). `known_families`: the valid keys of `family_quota_cu_s`;
    None means the catalog's vendors (likewise skipped).
    """
    path, text = _read(name_or_path)
    doc = parse_yaml(text, path)
    if not isinstance(doc.data, dict):
        raise InputError(path, "expected a YAML mapping with schema_version, name, sites, links and tenants", line=1)
    try:
        spec = ScenarioSpec.model_validate(doc.data)
    except ValidationError as exc:
        raise _from_validation(doc, exc) from None
    known = _catalog_keys() if known_accelerators is None else set(known_accelerators)
    _check_references(doc, spec, known)
    families = _catalog_vendors() if known_families is None else set(known_families)
    tree = _build_tree(doc, spec, families)
    return _build(spec, path, _build_energy(doc, spec), tree)


def _read(name_or_path: str) -> tuple[str, str]:
    names = scenario_names()
    if name_or_path in names:
        for suffix in _SUFFIXES:
            res = resources.files("cpnet.scenario").joinpath("data", name_or_path + suffix)
            if res.is_file():
                return str(res), res.read_text(encoding="utf-8")
    p = Path(name_or_path)
    looks_like_path = p.suffix in _SUFFIXES or "/" in name_or_path or p.exists()
    if not looks_like_path:
        raise UnknownNameError("scenario", name_or_path, names)
    try:
        return str(p), p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(str(p), "file not found; expected a scenario YAML file or one of: " + ", ".join(names)) from None
    except UnicodeDecodeError as exc:
        raise InputError(str(p), f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise InputError(str(p), f"cannot read file ({exc.strerror})") from None


def _catalog_keys() -> set[str] | None:
    try:
        from cpnet.catalog import load_catalog  # lazy: scenario must not require the catalog to import
    except ImportError:
        return None
    return set(load_catalog())


def _catalog_vendors() -> set[str] | None:
    try:
        from cpnet.catalog import load_catalog  # lazy, as in _catalog_keys
    except ImportError:
        return None
    return set(load_catalog().vendors())


def _from_validation(doc: YamlDocument, exc: ValidationError) -> InputError:
    return validation_error(doc, exc, _expected_fields)


def _expected_fields(loc: Loc) -> list[str]:
    parent = _SECTION_MODELS.get(str(loc[0]), ScenarioSpec) if len(loc) > 1 else ScenarioSpec
    nested = [_FIELD_MODELS[str(p)] for p in loc[:-1] if str(p) in _FIELD_MODELS]
    return list((nested[-1] if nested else parent).model_fields)


def _fail(doc: YamlDocument, loc: Loc, problem: str) -> InputError:
    return InputError(doc.path, problem, line=doc.line_of(loc), field=format_loc(loc))


def _check_references(doc: YamlDocument, spec: ScenarioSpec, known: set[str] | None) -> None:
    site_ids: set[str] = set()
    for i, s in enumerate(spec.sites):
        if s.id in site_ids:
            raise _fail(doc, ("sites", i, "id"), f"duplicate site id '{s.id}'; site ids must be unique")
        site_ids.add(s.id)
        for model in s.inventory:
            if known is not None and model not in known:
                raise _fail(doc, ("sites", i, "inventory", model), _unknown_accelerator(model, known))
        for j, model in enumerate(s.emulated):
            if model not in s.inventory:
                raise _fail(doc, ("sites", i, "emulated", j), f"emulated model '{model}' is not in this site's inventory")
    pairs: set[frozenset[str]] = set()
    for j, link in enumerate(spec.links):
        for end in ("a", "b"):
            name = getattr(link, end)
            if name not in site_ids:
                raise _fail(doc, ("links", j, end), f"unknown site '{name}'; valid: {', '.join(sorted(site_ids))}")
        if link.a == link.b:
            raise _fail(doc, ("links", j, "b"), f"a link joins two different sites; both ends are '{link.a}'")
        pair = frozenset((link.a, link.b))
        if pair in pairs:
            raise _fail(doc, ("links", j), f"second link between '{link.a}' and '{link.b}'; give one link per pair")
        pairs.add(pair)
    if spec.compute_tariff is not None:
        for r, rate in enumerate(spec.compute_tariff.rates):
            if rate.site != "*" and rate.site not in site_ids:
                raise _fail(doc, ("compute_tariff", "rates", r, "site"), f"unknown site '{rate.site}'; valid: *, {', '.join(sorted(site_ids))}")
            if known is not None and rate.model not in known:
                raise _fail(doc, ("compute_tariff", "rates", r, "model"), _unknown_accelerator(rate.model, known))
        for p, period in enumerate(spec.compute_tariff.time_of_use or ()):
            if period.start_hour == period.end_hour:
                raise _fail(doc, ("compute_tariff", "time_of_use", p), f"start_hour and end_hour are both {period.start_hour}; a period needs hours")
    tenant_ids: set[str] = set()
    for k, t in enumerate(spec.tenants):
        if t.id in tenant_ids:
            raise _fail(doc, ("tenants", k, "id"), f"duplicate tenant id '{t.id}'; tenant ids must be unique")
        tenant_ids.add(t.id)
        if t.home_site is not None and t.home_site not in site_ids:
            raise _fail(doc, ("tenants", k, "home_site"), f"unknown home_site '{t.home_site}'; valid: {', '.join(sorted(site_ids))}")


def _build_tree(doc: YamlDocument, spec: ScenarioSpec, families: set[str] | None) -> TenantTree:
    index = {t.id: k for k, t in enumerate(spec.tenants)}
    for k, t in enumerate(spec.tenants):
        for family in t.family_quota_cu_s:
            if families is not None and family not in families:
                valid = ", ".join(sorted(families))
                raise _fail(doc, ("tenants", k, "family_quota_cu_s", family), f"unknown accelerator family '{family}'; expected a vendor: {valid}")
    try:
        return TenantTree(tuple(_tree_node(t) for t in spec.tenants))
    except TenantTreeError as exc:
        loc: Loc = ("tenants", index[exc.node], *exc.field.split("."))
        raise _fail(doc, loc, exc.problem) from None


def _tree_node(t: TenantSpec) -> TenantNode:
    return TenantNode(
        id=t.id,
        kind=NodeKind(t.kind),
        parent=t.parent,
        weight=t.weight,
        quota_cu_s=t.quota_cu_s,
        family_quota_cu_s=dict(t.family_quota_cu_s),
        borrowing_limit_cu_s=t.borrowing_limit_cu_s,
        lending_limit_cu_s=t.lending_limit_cu_s,
        budget=_budget(t.budget),
        home_site=t.home_site,
    )


def _budget(spec: BudgetSpec | None) -> Budget | None:
    return None if spec is None else Budget(amount=spec.amount, unit=BudgetUnit(spec.unit), period=BudgetPeriod(spec.period))


def _unknown_accelerator(model: str, known: set[str]) -> str:
    return f"unknown accelerator '{model}'; expected a catalog key: {', '.join(sorted(known))}"


def _build_energy(doc: YamlDocument, spec: ScenarioSpec) -> EnergySignals | None:
    """Every site's price and carbon series; None when no site has one (static numbers hold)."""
    base = Path(doc.path).parent
    epoch_s = spec.epoch_s()
    sites: dict[str, SiteEnergy] = {}
    for i, s in enumerate(spec.sites):
        price: Series | None = None
        carbon: Series | None = None
        if s.price_series is not None:
            price = _series(doc, base, ("sites", i, "price_series"), s.price_series, "price (USD/kWh)")
        elif s.tariff is not None:
            price = _tariff(doc, base, ("sites", i, "tariff"), s.tariff, s.price_usd(), epoch_s)
        if s.carbon_series is not None:
            carbon = _series(doc, base, ("sites", i, "carbon_series"), s.carbon_series, "carbon intensity (gCO2/kWh)")
        elif s.carbon_annual is not None:
            try:
                carbon = annual_carbon_series(s.carbon_annual.province, s.carbon_annual.year, s.carbon_g_per_kwh)
            except FactorLookupError as exc:
                raise _fail(doc, ("sites", i, "carbon_annual"), str(exc)) from None
        if price is not None or carbon is not None:
            sites[s.id] = SiteEnergy(price_usd_per_kwh=price, carbon_g_per_kwh=carbon)
    return EnergySignals(epoch_s=epoch_s, sites=sites) if sites else None


def _series(doc: YamlDocument, base: Path, loc: Loc, spec: SeriesFileSpec, what: str) -> Series:
    file = base / spec.path
    if not file.is_file():
        raise _fail(doc, (*loc, "path"), f"series file not found: {file} (paths are relative to the scenario file's directory)")
    options = SeriesFileOptions(
        what=what,
        time_column=spec.time_column,
        value_column=spec.value_column,
        scale=spec.scale,
        utc_offset_s=spec.utc_offset_s(),
        max_step_s=spec.max_step_s,
    )
    return load_series_file(file, options)  # its InputErrors name the series file and line


def _tariff(doc: YamlDocument, base: Path, loc: Loc, spec: TariffSpec, flat_usd: float, epoch_s: float) -> Series:
    file: str | None = None
    if spec.file is not None:
        file = str(base / spec.file)
        if not Path(file).is_file():
            raise _fail(doc, (*loc, "file"), f"tariff file not found: {file} (paths are relative to the scenario file's directory)")
    try:
        return tou_tariff_series(
            spec.province,
            flat_usd,
            grid_area=spec.grid_area,
            year_start_s=tariff_year_start_s(epoch_s),
            path=file,
            fallback_peak_vs_flat=spec.fallback_peak_vs_flat,
            fallback_valley_vs_flat=spec.fallback_valley_vs_flat,
        )
    except TariffLookupError as exc:
        raise _fail(doc, loc, str(exc)) from None


def _build(spec: ScenarioSpec, path: str, energy: EnergySignals | None, tree: TenantTree) -> Scenario:
    network = NetworkModel(
        unlinked_pairs=UnlinkedPairs(spec.network.unlinked_pairs),
        route_factor=spec.network.route_factor,
        fibre_us_per_km=spec.network.fibre_us_per_km,
        overhead_ms=spec.network.overhead_ms,
        default_bandwidth_gbps=spec.network.default_bandwidth_gbps,
    )
    sites = tuple(
        Site(
            id=s.id,
            tier=Tier(s.tier),
            region=s.region,
            lat=s.lat,
            lon=s.lon,
            inventory=dict(s.inventory),
            pue=s.pue,
            price_usd_per_kwh=s.price_usd(),
            carbon_g_per_kwh=s.carbon_g_per_kwh,
            emulated=frozenset(s.emulated),
            power_cap_kw=s.power_cap_kw,
        )
        for s in spec.sites
    )
    by_id = {s.id: s for s in sites}
    links = tuple(_build_link(link, by_id, network) for link in spec.links)
    return Scenario(
        name=spec.name,
        description=spec.description,
        sites=sites,
        links=links,
        tenants=tree.tenant_models(),
        path=path,
        network=network,
        energy=energy,
        epoch_s=spec.epoch_s(),
        tree=tree,
        compute_tariff=None if spec.compute_tariff is None else _compute_tariff(spec.compute_tariff),
    )


def _compute_tariff(spec: ComputeTariffSpec) -> Tariff:
    """The file's tariff over the default one: what the file gives replaces, the rest is kept."""
    from cpnet.catalog.compute_units import shipped_units

    base = default_tariff(shipped_units().default)
    rates = {**base.rates, **{(r.site, r.model): r.usd_per_device_hour for r in spec.rates}}
    sources = {**base.sources, **{r.model: f"scenario tariff {spec.version}" for r in spec.rates}}
    periods = base.periods if spec.time_of_use is None else tuple(TimeOfUse(p.start_hour, p.end_hour, p.multiplier) for p in spec.time_of_use)
    return replace(
        base,
        version=spec.version,
        rates=rates,
        sources=sources,
        periods=periods,
        **{
            k: v
            for k, v in spec.model_dump(include={"default_usd_per_device_hour", "preemptible_discount", "energy_pass_through", "carbon_usd_per_kg"}).items()
            if v is not None
        },
    )


def _build_link(spec: LinkSpec, by_id: dict[str, Site], network: NetworkModel) -> Link:
    if spec.latency_ms is not None:
        latency = spec.latency_ms
    else:
        a, b = by_id[spec.a], by_id[spec.b]
        latency = network.latency_ms_for_km(great_circle_km(a.lat, a.lon, b.lat, b.lon))
    return Link(a=spec.a, b=spec.b, latency_ms=latency, bandwidth_gbps=spec.bandwidth_gbps)
