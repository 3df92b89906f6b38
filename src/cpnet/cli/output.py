"""A list of rows printed one of three ways: a rich table (the default), JSON or CSV.

Commands describe their columns once (`Col`) and call `emit`:

- table: the columns' headers and `fmt` (thousands separators, fixed decimals); `no_wrap` columns
  (ids, numbers) are never cut, the others fold, so the table stays readable at 80 columns;
- `--json`: the rows as a JSON list (or the `doc` a command passes instead, e.g. the server's whole
  answer), values unformatted;
- `--csv`: a header row of the column keys, then one line per row, numbers unformatted (Python's
  shortest repr), None as an empty cell, a list or mapping as compact JSON.

`--json` with `--csv` is a usage error (one line, exit 2).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from cpnet.core.errors import CpnetError

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]
CsvOpt = Annotated[bool, typer.Option("--csv", help="print CSV (a header row, numbers unformatted)")]


@dataclass(frozen=True, slots=True)
class Col:
    """One column: `key` in each row (and the CSV header), `header` in the table, `fmt` for the table only."""

    key: str
    header: str | None = None
    fmt: Callable[[Any], str] | None = None
    justify: Literal["left", "right"] = "left"
    no_wrap: bool = False
    min_width: int | None = None


def num(decimals: int) -> Callable[[Any], str]:
    """A table format: thousands separators and `decimals` fixed decimals."""
    return lambda v: "" if v is None else f"{v:,.{decimals}f}"


def check_writable(out: Path) -> None:
    """Fail before the work, not after it, when an output folder cannot be made or written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".cpnet-write-check"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise CpnetError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None


def output_format(as_json: bool, as_csv: bool) -> Literal["table", "json", "csv"]:
    if as_json and as_csv:
        raise CpnetError("choose one of --json and --csv")
    return "json" if as_json else "csv" if as_csv else "table"


def _csv_cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, (Mapping, list, tuple, set, frozenset)):
        return json.dumps(sorted(v) if isinstance(v, (set, frozenset)) else v, separators=(",", ":"))
    return v


def csv_text(rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> str:
    """The CSV of every cpnet listing: a header row of `keys`, then one line per row (cells as `_csv_cell`)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(keys)
    for r in rows:
        w.writerow([_csv_cell(r.get(k)) for k in keys])
    return out.getvalue()


def table(rows: Sequence[Mapping[str, Any]], cols: Sequence[Col], title: str | None = None, caption: str | None = None) -> Table:
    t = Table(title=title, caption=caption, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    for c in cols:
        t.add_column(c.header or c.key, justify=c.justify, no_wrap=c.no_wrap, min_width=c.min_width, overflow="ellipsis" if c.no_wrap else "fold")
    for r in rows:
        t.add_row(*(c.fmt(r.get(c.key)) if c.fmt else ("" if r.get(c.key) is None else str(r.get(c.key))) for c in cols))
    return t


def emit(
    rows: Sequence[Mapping[str, Any]],
    cols: Sequence[Col],
    fmt: Literal["table", "json", "csv"],
    *,
    title: str | None = None,
    caption: str | None = None,
    doc: Any = None,
    console: Console | None = None,
) -> None:
    """Print `rows` as `fmt`; JSON prints `doc` instead when it is given."""
    if fmt == "json":
        typer.echo(json.dumps(list(rows) if doc is None else doc))
    elif fmt == "csv":
        typer.echo(csv_text(rows, [c.key for c in cols]), nl=False)
    else:
        (console or Console()).print(table(rows, cols, title, caption))
