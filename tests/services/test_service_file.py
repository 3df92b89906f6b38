"""Service files: a good one plans through `cpnet service plan`; bad ones are one InputError naming the file, line and field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cpnet.core.errors import InputError
from cpnet.scenario import load_scenario
from cpnet.scenario.service_file import load_service_file

GOOD = """name: chat-llm
accelerators: [H800, A100]
devices_per_replica: 1
service_rate_rps: {H800: 4.0, A100: 2.0}
slo_p99_ms: 800
min_replicas: 1
max_replicas: 64
regions:
  - {region: Beijing-Tianjin-Hebei, rps: 20}
  - region: Yangtze River Delta
    diurnal: {mean_rps: 30, peak_to_trough: 5, peak_hour: 20, utc_offset_h: 8}
"""


@pytest.fixture(scope="module")
def net():  # type: ignore[no-untyped-def]
    return load_scenario("east-data-west-compute")


def _write(tmp_path: Path, text: str) -> str:
    f = tmp_path / "service.yaml"
    f.write_text(text)
    return str(f)


def test_a_good_file_loads_with_its_rates(tmp_path: Path, net) -> None:  # type: ignore[no-untyped-def]
    sf = load_service_file(_write(tmp_path, GOOD), net)
    s = sf.service
    assert (s.name, s.slo_p99_ms, s.max_replicas, sorted(s.accelerators)) == ("chat-llm", 800.0, 64, ["A100", "H800"])
    assert s.rates_at(12 * 3600.0)["Yangtze River Delta"] == pytest.approx(50.0)  # peak 20:00 at UTC+8: 30 x (1 + 4/6)
    assert s.rates_at(0.0)["Yangtze River Delta"] == pytest.approx(10.0)  # the trough, 12 h later: a fifth of the peak
    assert sf.access_site == {"Beijing-Tianjin-Hebei": "edge-beijing", "Yangtze River Delta": "edge-hangzhou"}  # each region's first edge site by id


@pytest.mark.parametrize(
    ("change", "field", "line", "words"),
    [
        (("  - {region: Beijing-Tianjin-Hebei, rps: 20}", "  - {region: Atlantis, rps: 20}"), "regions[0].region", 9, "unknown region 'Atlantis'"),
        (("slo_p99_ms: 800", "slo_p99_ms: 1"), "slo_p99_ms", 5, "cannot be met for users in Beijing-Tianjin-Hebei"),
        (("min_replicas: 1", "min_replicas: 80"), None, None, "min_replicas 80 > max_replicas 64"),
        (("accelerators: [H800, A100]", "accelerators: [H800, B200]"), None, None, "no rate for B200"),
        (("devices_per_replica: 1", "devices_per_replica: 1\nreplicas: 3"), "replicas", 4, "unknown field 'replicas'"),
        (("  - {region: Beijing-Tianjin-Hebei, rps: 20}", "  - {region: Beijing-Tianjin-Hebei}"), "regions[0]", 9, "exactly one of rps"),
    ],
)
def test_a_bad_file_is_one_error_naming_file_line_and_field(tmp_path: Path, net, change, field, line, words) -> None:  # type: ignore[no-untyped-def]
    path = _write(tmp_path, GOOD.replace(*change))
    with pytest.raises(InputError) as err:
        load_service_file(path, net)
    text = str(err.value)
    assert text.startswith(path) and words in text, text
    if field is not None:
        assert f"field '{field}'" in text and f"line {line}" in text, text


def test_an_unknown_model_names_the_scenarios_models(tmp_path: Path, net) -> None:  # type: ignore[no-untyped-def]
    path = _write(tmp_path, GOOD.replace("[H800, A100]", "[H800, B200]").replace("A100: 2.0", "B200: 9.0"))
    with pytest.raises(InputError, match=r"accelerators\[1\]'.*no site of scenario 'east-data-west-compute' has 'B200'"):
        load_service_file(path, net)


def test_the_cli_plans_replicas_and_says_bad_files_in_one_line(tmp_path: Path) -> None:
    cli = [sys.executable, "-m", "cpnet.cli.main", "service", "plan", "-f"]
    ok = subprocess.run([*cli, _write(tmp_path, GOOD)], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert "Beijing-Tianjin-Hebei: 20.0 req/s -> hub-zhangjiakou/H800" in ok.stdout and "device-hours per hour" in ok.stdout, ok.stdout
    bad = subprocess.run([*cli, _write(tmp_path, GOOD.replace("min_replicas: 1", "min_replicas: 80"))], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "min_replicas 80 > max_replicas 64" in bad.stderr, bad.stderr
