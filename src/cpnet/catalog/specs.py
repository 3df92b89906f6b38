"""The accelerator catalog: a versioned CSV of datasheet specs read into frozen `Accelerator`s.

File format (`data/accelerators.csv`): leading `#` comment lines, one of which carries
`schema_version: N`; then a CSV header with `REQUIRED_COLUMNS`; one row per canonical model key.
Numeric cells may be empty (value not found in a public source); a row with an empty number
must say so in `note`. Every row names its `source`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from cpnet.core.errors import InputError
from cpnet.core.model import Accelerator

SCHEMA_VERSION = 1
TIERS = ("cloud", "edge", "device")
NUMERIC_COLUMNS = ("peak_fp16_tflops", "fp32_tflops", "memory_gib", "memory_bandwidth_gb_s", "tdp_w")
REQUIRED_COLUMNS = (
    "model",
    "vendor",
    "display_name",
    "variant",
    "peak_fp16_tflops",
    "fp16_metric",
    "fp32_tflops",
    "memory_gib",
    "memory_bandwidth_gb_s",
    "tdp_w",
    "tier_hint",
    "source",
    "source_url",
    "note",
)
_VERSION_RE = re.compile(r"schema_version:\s*(\d+)")


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One catalog row: the `Accelerator` plus the columns it does not carry."""

    accelerator: Accelerator
    display_name: str
    variant: str
    fp16_metric: str
    fp32_tflops: float | None
    source_url: str
    note: str


class Catalog(Mapping[str, Accelerator]):
    """Read-only mapping model key -> Accelerator, in file order, with `version` and `path`."""

    __slots__ = ("_entries", "_version", "_path")

    def __init__(self, entries: Mapping[str, CatalogEntry], version: int, path: str) -> None:
        self._entries = dict(entries)
        self._version = version
        self._path = path

    @property
    def version(self) -> int:
        return self._version

    @property
    def path(self) -> str:
        return self._path

    def __getitem__(self, model: str) -> Accelerator:
        return self._entries[model].accelerator

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def entry(self, model: str) -> CatalogEntry:
        return self._entries[model]

    def vendors(self) -> list[str]:
        return sorted({e.accelerator.vendor for e in self._entries.values()})


def default_catalog_path() -> str:
    return str(resources.files("cpnet.catalog") / "data" / "accelerators.csv")


def load_catalog(path: str | None = None) -> Catalog:
    """Read and validate a catalog file (the shipped one when `path` is None).

    Raises InputError naming the file, line and field of the first malformed cell.
    """
    file = path or default_catalog_path()
    try:
        text = Path(file).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(file, f"cannot read catalog file ({exc.strerror or exc})") from exc
    version, first_data_line = _read_version(file, text)
    lines = text.splitlines(keepends=True)[first_data_line - 1 :]
    reader = csv.DictReader(io.StringIO("".join(lines)))
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InputError(file, f"header lacks columns {missing}; expected {list(REQUIRED_COLUMNS)}", line=first_data_line)
    entries: dict[str, CatalogEntry] = {}
    for row in reader:
        # reader.line_num counts physical lines read so far within the data part.
        line = first_data_line + reader.line_num - 1
        entry = _parse_row(file, line, row)
        if entry.accelerator.model in entries:
            raise InputError(file, f"duplicate model key '{entry.accelerator.model}'", line=line, field="model")
        entries[entry.accelerator.model] = entry
    if not entries:
        raise InputError(file, "no accelerator rows; expected at least one")
    return Catalog(entries, version, file)


def _read_version(file: str, text: str) -> tuple[int, int]:
    version: int | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.startswith("#"):
            if version is None:
                raise InputError(file, "missing '# ... schema_version: N' comment before the header", line=number)
            if version != SCHEMA_VERSION:
                raise InputError(file, f"schema_version {version} is not supported; expected {SCHEMA_VERSION}", line=1)
            return version, number
        match = _VERSION_RE.search(raw)
        if match:
            version = int(match.group(1))
    raise InputError(file, "no CSV header after the comment lines")


def _parse_row(file: str, line: int, row: dict[str, str | None]) -> CatalogEntry:
    if None in row:  # csv puts surplus cells under the None key
        raise InputError(file, f"too many cells; expected {len(REQUIRED_COLUMNS)}", line=line)
    cells = {k: (v or "").strip() for k, v in row.items()}
    for name in ("model", "vendor", "source"):
        if not cells[name]:
            raise InputError(file, "empty; expected a non-empty value", line=line, field=name)
    numbers: dict[str, float | None] = {}
    for name in NUMERIC_COLUMNS:
        numbers[name] = _number(file, line, name, cells[name])
    if any(v is None for v in numbers.values()) and not cells["note"]:
        raise InputError(file, "a number is empty, so the note must say why (e.g. 'not found')", line=line, field="note")
    if cells["tier_hint"] not in TIERS:
        raise InputError(file, f"'{cells['tier_hint']}'; expected one of {', '.join(TIERS)}", line=line, field="tier_hint")
    accelerator = Accelerator(
        model=cells["model"],
        vendor=cells["vendor"],
        peak_fp16_tflops=numbers["peak_fp16_tflops"],
        memory_gib=numbers["memory_gib"],
        memory_bandwidth_gb_s=numbers["memory_bandwidth_gb_s"],
        tdp_w=numbers["tdp_w"],
        source=cells["source"],
        tier_hint=cells["tier_hint"],
    )
    return CatalogEntry(
        accelerator=accelerator,
        display_name=cells["display_name"] or cells["model"],
        variant=cells["variant"],
        fp16_metric=cells["fp16_metric"],
        fp32_tflops=numbers["fp32_tflops"],
        source_url=cells["source_url"],
        note=cells["note"],
    )


def _number(file: str, line: int, field: str, cell: str) -> float | None:
    if not cell:
        return None
    try:
        value = float(cell)
    except ValueError:
        raise InputError(file, f"'{cell}' is not a number; expected a positive number or empty", line=line, field=field) from None
    if not value > 0 or value == float("inf"):
        raise InputError(file, f"{cell}; expected a positive finite number or empty", line=line, field=field)
    return value
