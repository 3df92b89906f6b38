"""`cpnet forecast` on the bundled Philly sample (2,000 Philly jobs, CC BY 4.0): PNG and JSON written."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

import cpnet.cli.forecast_cmd as forecast_cmd
from cpnet.core.errors import CpnetError


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """A group, so `forecast` is a subcommand as in `cpnet`."""

    forecast_cmd.register(app)
    return app


def test_forecast_writes_plot_and_json(tmp_path: Path) -> None:
    out = tmp_path / "fc"
    result = CliRunner().invoke(
        _app(), ["forecast", "--trace", "philly-sample", "--by", "class", "--top", "2", "--horizon", "12h", "--out", str(out), "--backtest"]
    )
    assert result.exit_code == 0, result.output
    assert "backtest class=" in result.output and "series too short" in result.output
    png = (out / "forecast.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    doc = json.loads((out / "forecast.json").read_text())
    assert doc["horizon_h"] == 12 and doc["by"] == "class" and "CU/h not given" in doc["cu_note"]
    assert len(doc["series"]) == 2
    assert doc["intervals"] == "model"
    for s in doc["series"]:
        fc = s["forecast"]
        assert len(fc["mean"]) == 12 and all(lo >= 0 for lo in fc["lo95"])
        assert all(a <= b <= c for a, b, c in zip(fc["lo95"], fc["lo80"], fc["mean"], strict=True))
        horizons = {h["horizon_h"]: h for h in s["backtest"]["horizons"]}
        assert horizons[1]["status"] == "ok" and "snaive24" in horizons[1]["baselines"]
        assert horizons[2160]["status"] == "series too short"


def test_bad_options_are_user_errors(tmp_path: Path) -> None:
    for args, message in (
        (["--by", "site"], "--by site"),
        (["--horizon", "0h"], "horizon"),
        (["--model", "prophet"], "--model prophet"),
        (["--intervals", "x"], "--intervals x"),
    ):
        result = CliRunner().invoke(_app(), ["forecast", "--out", str(tmp_path), *args])
        assert isinstance(result.exception, CpnetError), result.output
        assert message in str(result.exception)


def test_forecast_conformal_auto_wide(tmp_path: Path) -> None:
    out = tmp_path / "fc"
    args = ["forecast", "--trace", "philly-sample", "--horizon", "24h", "--model", "auto_wide", "--intervals", "conformal", "--out", str(out)]
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 0, result.output
    (s,) = json.loads((out / "forecast.json").read_text())["series"]
    assert s["intervals"] == "conformal" and s["model"] != "auto_wide"
    assert all(a <= b <= c <= d for a, b, c, d in zip(s["forecast"]["lo95"], s["forecast"]["lo80"], s["forecast"]["hi80"], s["forecast"]["hi95"], strict=True))
