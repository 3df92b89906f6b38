"""`cpnet dashboard`: open the server's web dashboard in a browser, or print its URL where there is none."""

from __future__ import annotations

import webbrowser
from typing import Annotated

import typer

from cpnet.cli.client import resolve
from cpnet.core.errors import CpnetError


def dashboard(
    url: Annotated[str | None, typer.Option("--url", help="the server; default $CPNET_URL, the config file, or http://127.0.0.1:8080")] = None,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="only print the URL")] = False,
) -> None:
    """Open the web dashboard of a running `cpnet serve`.

    Log in there by pasting your token (`cpnet admin create-tenant NAME` prints one); it is never
    put in the URL."""
    import httpx

    base, _ = resolve(url, None)
    try:
        httpx.get(f"{base}/healthz", timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        raise CpnetError(f"no cpnet server answers at {base} ({exc.__class__.__name__}); start one with `cpnet serve` or pass --url") from exc
    page = f"{base}/"
    typer.echo(page)
    if no_browser:
        return
    try:
        opened = webbrowser.get().open(page)
    except webbrowser.Error:
        opened = False
    if not opened:
        typer.echo("no browser found here: open the URL above in one", err=True)


def register(app: typer.Typer) -> None:
    app.command("dashboard")(dashboard)
