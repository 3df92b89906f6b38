"""CLI habits (issue 13 item 7): `cpnet --version`, `-h` as `--help` on every command and group,
shell completion (`--show-completion`, `--install-completion`, and the completion itself), and help
without Typer's type column noise (`<bool>`, `<str>`, `<list[str]>`)."""

from __future__ import annotations

import importlib.metadata
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

CLI = [sys.executable, "-m", "cpnet.cli.main"]
NOISE = re.compile(r"<(bool|str|int|float|path)[^>]*>|list\[")


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "160", **(env or {})})


def test_version_prints_the_installed_version() -> None:
    out = _run("--version")
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"cpnet {importlib.metadata.version('cpnet')}\n"


@pytest.mark.parametrize("argv", [[], ["admin"], ["job", "submit"], ["admin", "rotate-token"], ["site", "register"]])
def test_dash_h_is_help(argv: list[str]) -> None:
    short, long = _run(*argv, "-h"), _run(*argv, "--help")
    assert short.returncode == 0 and long.returncode == 0, short.stderr + long.stderr
    assert short.stdout == long.stdout and f"Usage: cpnet {' '.join(argv)}".rstrip() in short.stdout


def _command_paths() -> list[list[str]]:
    from cpnet.cli.main import _register, app

    _register()

    def walk(cmd: typer.core.TyperGroup | typer.core.TyperCommand, path: list[str]) -> list[list[str]]:
        found = [path]
        for name, sub in getattr(cmd, "commands", {}).items():
            found += walk(sub, [*path, name])
        return found

    return walk(typer.main.get_command(app), [])  # type: ignore[arg-type]


def test_every_command_and_group_takes_dash_h_and_shows_no_type_noise() -> None:
    from cpnet.cli.main import app

    paths = _command_paths()
    assert ["site", "register"] in paths and ["admin", "list-tenants"] in paths and ["whoami"] in paths and len(paths) > 20
    runner = CliRunner()
    for path in paths:
        short = runner.invoke(app, [*path, "-h"], prog_name="cpnet", env={"COLUMNS": "160"})
        assert short.exit_code == 0, (path, short.output)
        assert "Usage: cpnet" in short.output and "Show this message and exit" in short.output, (path, short.output)
        assert not NOISE.search(short.output), (path, NOISE.search(short.output), short.output)
        assert short.output == runner.invoke(app, [*path, "--help"], prog_name="cpnet", env={"COLUMNS": "160"}).output, path


@pytest.mark.parametrize("rich", ["1", "0"])
def test_help_of_submit_and_simulate_has_no_type_noise(rich: str) -> None:
    for argv in (["job", "submit", "--help"], ["simulate", "--help"]):
        out = _run(*argv, env={"TYPER_USE_RICH": rich})
        assert out.returncode == 0, out.stderr
        for noise in ("<bool>", "<str>", "<int>", "<float>", "list[", "<int range>", " None"):
            assert noise not in out.stdout, (argv, noise, out.stdout)
    submit = _run("job", "submit", "--help", env={"TYPER_USE_RICH": rich}).stdout
    simulate = _run("simulate", "--help", env={"TYPER_USE_RICH": rich}).stdout
    # what to type after an option is still there: a value word, the choices, the range; nothing after a flag
    assert re.search(r"--devices\s+INTEGER", submit) and re.search(r"--tenants\s+\[?map\|trace", simulate), submit + simulate
    assert re.search(r"--jobs\s+INTEGER\s+\[?x>=1", simulate) or "x>=1" in simulate
    assert re.search(r"--json\s+print JSON", submit), submit


def _bash(command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # `; exit $?` keeps bash from exec-ing the command, so bash is its parent (the shell completion detects)
    return subprocess.run(["bash", "-c", f"{command}; exit $?"], capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})})


def test_show_completion_prints_a_bash_script_for_cpnet() -> None:
    out = _bash(f"{shlex.join(CLI)} --show-completion", {"SHELL": "/bin/bash"})
    assert out.returncode == 0, out.stderr
    assert "_cpnet_completion()" in out.stdout and "_CPNET_COMPLETE=complete_bash" in out.stdout, out.stdout
    assert re.search(r"complete .*-F _cpnet_completion cpnet\b", out.stdout), out.stdout
    assert "python" not in out.stdout  # the program is `cpnet`, also when started as python -m


def test_completion_completes_commands_and_subcommands() -> None:
    def complete(words: str) -> list[str]:
        env = {"_CPNET_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1))}
        out = subprocess.run(CLI, capture_output=True, text=True, timeout=60, env={**os.environ, **env})
        assert out.returncode == 0, out.stderr
        return out.stdout.split()

    assert complete("cpnet adm") == ["admin"]
    assert complete("cpnet admin rot") == ["rotate-token"]
    assert set(complete("cpnet site ")) == {"list", "register"}


def test_install_completion_writes_the_script_and_sources_it(tmp_path: Path) -> None:
    out = _bash(f"{shlex.join(CLI)} --install-completion", {"HOME": str(tmp_path), "SHELL": "/bin/bash"})
    assert out.returncode == 0, out.stderr
    script = tmp_path / ".bash_completions" / "cpnet.sh"
    assert str(script) in out.stdout and "_cpnet_completion" in script.read_text()
    assert f"source '{script}'" in (tmp_path / ".bashrc").read_text()
