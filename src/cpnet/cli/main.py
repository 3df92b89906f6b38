"""`cpnet` command line. Each command group lives in its own module and is added here."""

from __future__ import annotations

import importlib
import sys

import typer
import typer._click as _click  # Typer >= 0.29 bundles its own click
from rich.console import Console
from rich.markup import escape

from cpnet.core.errors import CpnetError

app = typer.Typer(
    name="cpnet",
    help="cpnet: a computing power network. Simulate scheduling policies on real GPU-cluster traces, "
    "inspect the accelerator catalog, and run the control plane.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """cpnet: a computing power network."""
    # An explicit callback keeps `cpnet <command>` a group even while only one command exists.


# Each command module exposes `register(app)`; imported when the CLI starts.
_COMMAND_MODULES = ("catalog_cmd", "simulate_cmd", "scenario_cmd", "serve_cmd", "admin_cmd", "job_cmd", "site_cmd", "usage_cmd", "dashboard_cmd")


def _register() -> None:
    for name in _COMMAND_MODULES:
        importlib.import_module(f"cpnet.cli.{name}").register(app)


def main() -> None:
    """Entry point: user errors become one clear line on stderr and exit code 2."""
    _register()
    try:
        app(standalone_mode=False)
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


if __name__ == "__main__":
    main()
