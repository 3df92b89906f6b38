"""Cell parsers shared by the trace readers; each failure is an InputError naming file, line, field.

Readers call these only on their slow path or for rare fields; hot loops inline the happy path
and fall back here to build the message.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from cpnet.core.errors import InputError


def header_columns(path: str, header: str, sep: str, required: Sequence[str]) -> dict[str, int]:
    """Map each required column name to its index in the header line (line 1)."""
    names = [c.strip() for c in header.rstrip("\r\n").split(sep)]
    index = {name: i for i, name in enumerate(names)}
    for name in required:
        if name not in index:
            expected = sep.join(required)
            raise InputError(path, f"header lacks column '{name}'; expected columns {expected!r}", line=1, field=name)
    return index


def field_count_error(path: str, line: int, expected: int, found: int, sep_name: str) -> InputError:
    return InputError(path, f"expected {expected} {sep_name}-separated fields, found {found}", line=line)


def number(path: str, line: int, field: str, text: str, *, minimum: float = 0.0, strict: bool = False) -> float:
    """A finite float >= minimum (> minimum when strict)."""
    try:
        value = float(text)
    except ValueError:
        raise InputError(path, f"expected a number, got {text!r}", line=line, field=field) from None
    bound_ok = value > minimum if strict else value >= minimum
    if not (math.isfinite(value) and bound_ok):
        relation = ">" if strict else ">="
        raise InputError(path, f"expected a finite number {relation} {minimum:g}, got {text!r}", line=line, field=field)
    return value


def integer(path: str, line: int, field: str, text: str, *, minimum: int = 1) -> int:
    """An integer >= minimum (written without a decimal point)."""
    try:
        value = int(text)
    except ValueError:
        raise InputError(path, f"expected an integer >= {minimum}, got {text!r}", line=line, field=field) from None
    if value < minimum:
        raise InputError(path, f"expected an integer >= {minimum}, got {text!r}", line=line, field=field)
    return value


def out_of_order(path: str, line: int, field: str, value: float, previous: float, previous_line: int) -> InputError:
    return InputError(
        path,
        f"arrival times must be nondecreasing; {value:g} is earlier than {previous:g} on line {previous_line}",
        line=line,
        field=field,
    )
