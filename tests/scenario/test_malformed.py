"""Malformed scenario files: each gives one InputError naming the file, the line and the field.

Each snippet marks the offending line with `# <-`; the error must point at that line.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from cpnet.core.errors import InputError, UnknownNameError
from cpnet.scenario import load_scenario

KNOWN = {"V100", "P100", "K80", "A100"}

SITE = """\
  - id: a
    tier: cloud
    region: r
    lat: 30.0
    lon: 110.0
    inventory: {V100: 4}
    pue: 1.1
    price_usd_per_kwh: 0.1
    carbon_g_per_kwh: 500
"""
HEAD = "schema_version: 1\nname: t\n"
TENANTS = "tenants:\n  - {id: x, weight: 1}\n"


def site(**changes: str) -> str:
    """SITE with lines replaced: key -> full new line text (without indentation), '' drops the line."""
    out = []
    for line in SITE.splitlines():
        key = line.strip().removeprefix("- ").split(":")[0]
        if key in changes:
            if changes[key]:
                prefix = "  - " if line.startswith("  - ") else "    "
                out.append(prefix + changes[key])
        else:
            out.append(line)
    return "\n".join(out) + "\n"


CASES: list[tuple[str, str, str | None, str]] = [
    # (case id, file text, field, words the message must contain)
    (
        "compute tariff rate at an unknown site",
        HEAD + "sites:\n" + SITE + TENANTS + "compute_tariff:\n  version: t-1\n  rates:\n    - {model: V100, site: b, usd_per_device_hour: 2.0}   # <-\n",
        "compute_tariff.rates[0].site",
        "unknown site 'b'; valid: *, a",
    ),
    (
        "compute tariff rate of an unknown model",
        HEAD + "sites:\n" + SITE + TENANTS + "compute_tariff:\n  version: t-1\n  rates:\n    - {model: H1000, usd_per_device_hour: 2.0}   # <-\n",
        "compute_tariff.rates[0].model",
        "unknown accelerator 'H1000'",
    ),
    (
        "compute tariff period without hours",
        HEAD + "sites:\n" + SITE + TENANTS + "compute_tariff:\n  version: t-1\n  time_of_use:\n    - {start_hour: 6, end_hour: 6, multiplier: 1.2}   # <-\n",
        "compute_tariff.time_of_use[0]",
        "a period needs hours",
    ),
    (
        "compute tariff discount over 1",
        HEAD + "sites:\n" + SITE + TENANTS + "compute_tariff:\n  version: t-1\n  preemptible_discount: 1.5   # <-\n",
        "compute_tariff.preemptible_discount",
        "less than or equal to 1",
    ),
    (
        "negative count",
        HEAD + "sites:\n" + site(inventory="inventory:\n      V100: 4\n      A100: -3   # <-") + TENANTS,
        "sites[0].inventory.A100",
        "greater than or equal to 0",
    ),
    (
        "float count",
        HEAD + "sites:\n" + site(inventory="inventory: {V100: 4.0}   # <-") + TENANTS,
        "sites[0].inventory.V100",
        "valid integer",
    ),
    (
        "unknown accelerator",
        HEAD + "sites:\n" + site(inventory="inventory:\n      V100: 4\n      H1000: 8   # <-") + TENANTS,
        "sites[0].inventory.H1000",
        "unknown accelerator 'H1000'",
    ),
    (
        "unknown field",
        HEAD + "sites:\n" + site(pue="pue: 1.1\n    pue_target: 1.2   # <-") + TENANTS,
        "sites[0].pue_target",
        "unknown field 'pue_target'",
    ),
    (
        "bad tier",
        HEAD + "sites:\n" + site(tier="tier: fog   # <-") + TENANTS,
        "sites[0].tier",
        "'cloud', 'edge' or 'device'",
    ),
    (
        "latitude as string",
        HEAD + "sites:\n" + site(lat='lat: "30.0"   # <-') + TENANTS,
        "sites[0].lat",
        "valid number",
    ),
    (
        "latitude out of range",
        HEAD + "sites:\n" + site(lat="lat: 130.0   # <-") + TENANTS,
        "sites[0].lat",
        "less than or equal to 90",
    ),
    (
        "pue below 1",
        HEAD + "sites:\n" + site(pue="pue: 0.9   # <-") + TENANTS,
        "sites[0].pue",
        "greater than or equal to 1",
    ),
    (
        "missing pue points at the site",
        HEAD + "sites:\n" + site(id="id: a   # <-", pue="") + TENANTS,
        "sites[0].pue",
        "missing required field 'pue'",
    ),
    (
        "two prices",
        HEAD + "sites:\n" + site(id="id: a   # <-", price_usd_per_kwh="price_usd_per_kwh: 0.1\n    price_cny_per_kwh: 0.7") + TENANTS,
        "sites[0]",
        "exactly one of price_usd_per_kwh or price_cny_per_kwh",
    ),
    (
        "duplicate site id",
        HEAD + "sites:\n" + SITE + site(id="id: a   # <-") + TENANTS,
        "sites[1].id",
        "duplicate site id 'a'",
    ),
    (
        "bad site id",
        HEAD + "sites:\n" + site(id="id: 'a b'   # <-") + TENANTS,
        "sites[0].id",
        "pattern",
    ),
    (
        "emulated model not in inventory",
        HEAD + "sites:\n" + site(pue="pue: 1.1\n    emulated: [V100, A100]   # <-") + TENANTS,
        "sites[0].emulated[1]",
        "emulated model 'A100'",
    ),
    (
        "link to unknown site",
        HEAD + "sites:\n" + SITE + "links:\n  - a: a\n    b: z   # <-\n    latency_ms: 3\n    bandwidth_gbps: 10\n" + TENANTS,
        "links[0].b",
        "unknown site 'z'; valid: a",
    ),
    (
        "link to itself",
        HEAD + "sites:\n" + SITE + "links:\n  - {a: a, b: a, latency_ms: 3, bandwidth_gbps: 10}   # <-\n" + TENANTS,
        "links[0].b",
        "two different sites",
    ),
    (
        "link with two latencies",
        HEAD + "sites:\n" + SITE + site(id="id: b") + "links:\n  - {a: a, b: b, latency_ms: 3, latency: from_distance, bandwidth_gbps: 10}   # <-\n" + TENANTS,
        "links[0]",
        "exactly one of latency_ms",
    ),
    (
        "link latency rule misspelt",
        HEAD + "sites:\n" + SITE + site(id="id: b") + "links:\n  - a: a\n    b: b\n    latency: from_distanse   # <-\n    bandwidth_gbps: 10\n" + TENANTS,
        "links[0].latency",
        "from_distance",
    ),
    (
        "second link for a pair",
        HEAD
        + "sites:\n"
        + SITE
        + site(id="id: b")
        + "links:\n  - {a: a, b: b, latency_ms: 3, bandwidth_gbps: 10}\n"
        + "  - {a: b, b: a, latency_ms: 4, bandwidth_gbps: 10}   # <-\n"
        + TENANTS,
        "links[1]",
        "second link between 'b' and 'a'",
    ),
    (
        "tenant weight zero",
        HEAD + "sites:\n" + SITE + "tenants:\n  - id: x\n    weight: 0   # <-\n",
        "tenants[0].weight",
        "greater than 0",
    ),
    (
        "schema version 2",
        "schema_version: 2   # <-\nname: t\nsites:\n" + SITE + TENANTS,
        "schema_version",
        "1",
    ),
    (
        "duplicate YAML key",
        HEAD + "sites:\n" + site(pue="pue: 1.1\n    pue: 1.2   # <-") + TENANTS,
        "sites[0].pue",
        "duplicate key 'pue'",
    ),
    (
        "YAML syntax error",
        HEAD + "sites:\n" + site(inventory="inventory: {V100: 4   # <-\n    pue: 1.1") + TENANTS,
        None,
        "not valid YAML",
    ),
]


def _marked_line(text: str) -> int:
    lines = [i for i, line in enumerate(text.splitlines(), start=1) if "# <-" in line]
    assert len(lines) == 1, "each snippet marks exactly one line"
    return lines[0]


@pytest.mark.parametrize(("text", "field", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_file_names_file_line_and_field(tmp_path: Path, text: str, field: str | None, words: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_scenario(str(path), known_accelerators=KNOWN)
    err = info.value
    message = str(err)
    assert err.path == str(path) and message.startswith(str(path))
    if words != "not valid YAML":
        assert err.line == _marked_line(text), message
    assert f"line {err.line}" in message
    assert err.field == field, message
    if field is not None:
        assert f"'{field}'" in message
    assert words in message


def test_yaml_syntax_error_points_near_the_bad_line(tmp_path: Path) -> None:
    text = HEAD + "sites:\n" + site(inventory="inventory: {V100: 4") + TENANTS
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_scenario(str(path), known_accelerators=KNOWN)
    # The unclosed flow mapping opens on line 9 and the parser notices at the next key.
    assert info.value.line in (9, 10)


@pytest.mark.parametrize(
    "text",
    ["", "- just\n- a list\n", "42\n"],
    ids=["empty", "list", "scalar"],
)
def test_file_that_is_not_a_mapping(tmp_path: Path, text: str) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match="expected a YAML mapping"):
        load_scenario(str(path), known_accelerators=KNOWN)


def test_several_problems_reports_the_first_and_counts_the_rest(tmp_path: Path) -> None:
    text = HEAD + "sites:\n" + site(pue="pue: 0.5", lat="lat: 100.0") + TENANTS
    path = tmp_path / "many.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=r"and 1 more problem\)") as info:
        load_scenario(str(path), known_accelerators=KNOWN)
    assert info.value.field == "sites[0].lat"


def test_unknown_bundled_name_lists_valid_ones() -> None:
    with pytest.raises(UnknownNameError) as info:
        load_scenario("east-data-west-compte")
    message = str(info.value)
    for name in ("east-data-west-compute", "gavel-36-36-36", "philly-cluster"):
        assert name in message


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(InputError, match="file not found") as info:
        load_scenario(str(path))
    assert info.value.path == str(path)


def test_catalog_keys_are_the_default_check(tmp_path: Path) -> None:
    # Without known_accelerators the loader checks against cpnet.catalog.
    text = HEAD + "sites:\n" + site(inventory="inventory: {V100: 4, Z9000: 1}") + TENANTS
    path = tmp_path / "z.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match="unknown accelerator 'Z9000'") as info:
        load_scenario(str(path))
    assert "Ascend-910B" in str(info.value)  # the valid keys come from the catalog


def test_minimal_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(textwrap.dedent(HEAD + "sites:\n" + SITE + TENANTS), encoding="utf-8")
    scenario = load_scenario(str(path), known_accelerators=KNOWN)
    assert scenario.name == "t"
    assert scenario.total_inventory() == {"V100": 4}


def test_recursive_alias_is_an_input_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("schema_version: 1\nloop: &x [1, *x]\n", encoding="utf-8")
    with pytest.raises(InputError):
        load_scenario(str(path), known_accelerators=KNOWN)
