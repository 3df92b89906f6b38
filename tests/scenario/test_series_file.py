"""Series CSV files: a good file gives the right step Series; each broken rule names the file and line."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cpnet.core.energy import Series
from cpnet.core.errors import InputError
from cpnet.scenario.series_file import SeriesFileOptions, load_series_file

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "energy"
LWA = Path("/work/shared/data/energy/lets_wait_awhile")
CI = SeriesFileOptions(what="carbon intensity")


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_good_file_is_a_step_series_that_repeats_after_span_plus_one_step() -> None:
    s = load_series_file(FIXTURES / "good_15min.csv", CI)
    assert s.times_s[0] == utc("2020-01-01 00:00:00") and len(s.times_s) == 6
    assert s.values == (300.0, 310.0, 320.0, 330.0, 340.0, 350.0)
    assert s.period_s == 5 * 900 + 900  # span 75 min + one median step
    assert "good_15min.csv" in s.label and "carbon intensity" in s.label
    t0 = s.times_s[0]
    assert s.at(t0 + 899) == 300.0 and s.at(t0 + 900) == 310.0
    assert s.at(t0 + 5 * 900 + 899) == 350.0  # the last point lasts one step
    assert s.at(t0 + 6 * 900) == 300.0  # then the file repeats from its start
    assert s.at(t0 + 6 * 900 + 2 * 900) == 320.0


def test_named_columns_unix_seconds_and_scale() -> None:
    opt = SeriesFileOptions(what="price", time_column="unix_s", value_column="price_eur_per_mwh", scale=0.001)
    s = load_series_file(FIXTURES / "unix_price.csv", opt)
    assert s.times_s == (1577836800.0, 1577840400.0, 1577844000.0, 1577847600.0)
    assert s.values == pytest.approx((0.04, 0.0385, -0.002, 0.04525))
    assert "price_eur_per_mwh" in s.label and "x 0.001" in s.label


def test_naive_times_take_the_given_utc_offset() -> None:
    s = load_series_file(FIXTURES / "good_15min.csv", SeriesFileOptions(what="ci", utc_offset_s=8 * 3600))
    assert s.times_s[0] == utc("2019-12-31 16:00:00")


# (fixture, options, 1-based line of the error, words the message must contain)
BROKEN: list[tuple[str, SeriesFileOptions, int, tuple[str, ...]]] = [
    ("gap.csv", CI, 6, ("gap", "2020-01-01T00:45:00Z", "2020-01-01T01:30:00Z", "expected a step of 900 s", "max_step_s")),
    ("unsorted.csv", CI, 5, ("unsorted", "'2020-01-01 00:30:00'", "line 4")),
    ("duplicate.csv", CI, 5, ("duplicate", "'2020-01-01 00:30:00'", "line 4")),
    ("non_numeric.csv", CI, 4, ("'n/a'", "not a number", "Carbon Intensity")),
    ("good_15min.csv", SeriesFileOptions(what="ci", value_column="CO2"), 1, ("no column 'CO2'", "Time, Carbon Intensity")),
]


@pytest.mark.parametrize(("name", "options", "line", "words"), BROKEN, ids=[b[0] + ":" + str(b[2]) for b in BROKEN])
def test_broken_fixture_names_file_and_line(name: str, options: SeriesFileOptions, line: int, words: tuple[str, ...]) -> None:
    with pytest.raises(InputError) as err:
        load_series_file(FIXTURES / name, options)
    msg = str(err.value)
    assert err.value.line == line
    assert name in msg and f"line {line}:" in msg
    for w in words:
        assert w in msg, (w, msg)


def test_a_gap_within_max_step_s_is_accepted() -> None:
    s = load_series_file(FIXTURES / "gap.csv", SeriesFileOptions(what="ci", max_step_s=2700))
    assert len(s.times_s) == 6


# (case, file text, line, words) for problems easier to show inline
INLINE: list[tuple[str, str, int | None, tuple[str, ...]]] = [
    ("empty file", "", None, ("empty file", "header")),
    ("header only", "Time,Carbon Intensity\n", 1, ("no data rows",)),
    ("bad time", "t,v\n2020-01-01 00:00,1\n2020-13-01 00:15,2\n", 3, ("'2020-13-01 00:15'", "ISO-8601")),
    ("iso then number", "t,v\n2020-01-01 00:00,1\n1577836900,2\n", 3, ("ISO-8601",)),
    ("number then iso", "t,v\n1577836800,1\n2020-01-01 00:15,2\n", 3, ("not Unix seconds",)),
    ("infinite value", "t,v\n0,1\n60,inf\n", 3, ("not a finite number",)),
    ("short row", "t,v\n0,1\n60\n", 3, ("at least 2 columns",)),
    ("one column header", "t\n0\n", 1, ("expected a time and a value column",)),
]


@pytest.mark.parametrize(("case", "text", "line", "words"), INLINE, ids=[c[0] for c in INLINE])
def test_inline_problems(tmp_path: Path, case: str, text: str, line: int | None, words: tuple[str, ...]) -> None:
    f = tmp_path / "series.csv"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_series_file(f, CI)
    assert err.value.line == line and "series.csv" in str(err.value)
    for w in words:
        assert w in str(err.value), (w, str(err.value))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="series file not found"):
        load_series_file(tmp_path / "nope.csv", CI)


def test_single_row_is_flat_and_blank_lines_are_skipped(tmp_path: Path) -> None:
    f = tmp_path / "one.csv"
    f.write_text("t,v\n\n2020-01-01T00:00:00Z,5\n\n", encoding="utf-8")
    s = load_series_file(f, CI)
    assert s.is_flat and s.period_s is None and s.at(1e12) == 5.0


@pytest.mark.skipif(not LWA.is_dir(), reason="needs /work/shared/data/energy/lets_wait_awhile (Let's Wait Awhile series, not shipped)")
def test_german_series_loads_fast_and_has_two_known_long_steps() -> None:
    f = LWA / "ger_ci.csv"
    with pytest.raises(InputError) as err:  # 2020-12-19 23:00 -> 23:30 in 15-min data
        load_series_file(f, SeriesFileOptions(what="ci", time_column="Time", value_column="Carbon Intensity", scale=1.0))
    assert err.value.line == 35135 and "2020-12-19T23:00:00Z" in str(err.value)
    start = time.perf_counter()
    s = load_series_file(f, SeriesFileOptions(what="ci", time_column="Time", value_column="Carbon Intensity", max_step_s=1800))
    elapsed = time.perf_counter() - start
    assert len(s.times_s) == 37147
    assert elapsed < 2.0, elapsed  # ~0.1 s here
    assert min(s.values) > 100 and max(s.values) < 600


def test_stepping_from_change_to_change_always_advances() -> None:
    # Fractional times and period at Unix scale: the folding rounds; a change time must still lie after t
    # and carry the new value (core.energy fix: the committed version returned t itself after a dozen changes).
    s = Series((1.7e9 + 0.1, 1.7e9 + 900.3, 1.7e9 + 1800.7), (1.0, 2.0, 3.0), "x", period_s=3600.7)  # stalled at change 12 before the fix
    t, n = s.times_s[0], 0
    while t < 1.7e9 + 3600.7 * 500:
        nxt = s.next_change_s(t)
        assert nxt > t
        assert s.at(nxt) != s.at(t), n  # the value at a change time is the new one
        t, n = nxt, n + 1
    assert n == 3 * 500
    assert all(v == s.at((a + b) / 2) for a, b, v in s.segments(1.7e9, 1.7e9 + 3600.7 * 50))
