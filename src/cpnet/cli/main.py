"""`cpnet` command line. Each command group lives in its own module and is added here."""

from __future__ import annotations

import importlib
import sys
from typing import Annotated, Any, get_args

import typer
import typer._click as _click  # Typer >= 0.29 bundles its own click
from rich.console import Console
from rich.markup import escape
from typer.core import TyperArgument, TyperOption

from cpnet.core.errors import CpnetError

app = typer.Typer(
    name="cpnet",
    help="cpnet: a computing power network. Simulate scheduling policies on real GPU-cluster traces, "
    "inspect the accelerator catalog, and run the control plane.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, powershell)
    context_settings={"help_option_names": ["-h", "--help"]},  # inherited by every group and command
)

# -- help without type noise ------------------------------------------------------------------------
# Typer 0.29 puts each parameter's Python type in the help's type column (`--json <bool>`,
# `--env <list[str]>`) and has no setting to turn that off. Every cpnet help shows instead: nothing
# for a flag or an argument (its name says what it is), the choices for a choice (`map|trace`), and
# click's words for a value (TEXT, INTEGER, FLOAT, PATH); an option's explicit metavar wins. Typer
# still appends ranges (`[x>=1]`). tests/cli/test_cli_habits.py walks every command's help.
_VALUE_WORDS: dict[Any, str] = {str: "TEXT", int: "INTEGER", float: "FLOAT"}
_typer_display_type = TyperOption.display_type


def _value_hint(param: TyperArgument | TyperOption, ctx: _click.Context) -> str:
    desc = param.type_descriptor
    if isinstance(param, TyperOption) and param.metavar is not None:
        return param.metavar  # (an argument's metavar is already its name in the first column)
    if desc.is_choice:
        label = _typer_display_type(param, ctx)  # "<a|b>" or "<list[a|b]>" (one implementation, on their common base class)
        return label[1:-1].removeprefix("list[").removesuffix("]")
    if isinstance(param, TyperArgument) or param.is_flag or param.count:
        return ""
    if desc.is_path:
        return "PATH"
    annotation = get_args(desc.annotation)[0] if desc.is_list and get_args(desc.annotation) else desc.annotation
    return _VALUE_WORDS.get(annotation, "VALUE")


TyperOption.display_type_rich = _value_hint  # type: ignore[method-assign,assignment]
TyperArgument.display_type_rich = _value_hint  # type: ignore[method-assign,assignment]


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            v = version("cpnet")
        except PackageNotFoundError:  # running from a source tree that was never installed
            v = "unknown (not installed)"
        typer.echo(f"cpnet {v}")
        raise typer.Exit(0)


@app.callback()
def _root(
    _version_flag: Annotated[
        bool, typer.Option("--version", is_eager=True, expose_value=False, callback=_version, help="print cpnet's version and exit")
    ] = False,
) -> None:
    """cpnet: a computing power network."""
    # An explicit callback keeps `cpnet <command>` a group even while only one command exists.


# Each command module exposes `register(app)`; imported when the CLI starts.
_COMMAND_MODULES = (
    "catalog_cmd",
    "simulate_cmd",
    "scenario_cmd",
    "serve_cmd",
    "admin_cmd",
    "job_cmd",
    "site_cmd",
    "usage_cmd",
    "whoami_cmd",
    "dashboard_cmd",
    "offers_cmd",
    "ledger_cmd",
    "invoice_cmd",
    "forecast_cmd",
    "plan_cmd",
    "service_cmd",
)


_registered = False


def _register() -> None:
    """Add every command group to `app` (once: tests that drive `app` in process call it too)."""
    global _registered
    if not _registered:
        for name in _COMMAND_MODULES:
            importlib.import_module(f"cpnet.cli.{name}").register(app)
        _registered = True


def main() -> None:
    """Entry point: user errors become one clear line on stderr and exit code 2."""
    _register()
    try:
        # prog_name: `cpnet` in usage lines and completion scripts also under `python -m cpnet.cli.main`
        rc = app(prog_name="cpnet", standalone_mode=False)
    except CpnetError as exc:
        # soft_wrap: the message stays one line even when stderr is a pipe
        Console(stderr=True, soft_wrap=True).print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        sys.exit(2)
    except typer.Abort:
        sys.exit(130)
    except _click.exceptions.ClickException as exc:  # usage errors, in non-standalone mode
        exc.show()
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    if isinstance(rc, int) and rc != 0:  # non-standalone mode returns a command's `typer.Exit(code)` instead of exiting
        sys.exit(rc)


if __name__ == "__main__":
    main()
