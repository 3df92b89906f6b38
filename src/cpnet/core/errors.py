"""User-facing errors: each message says what was wrong and what was expected."""

from __future__ import annotations

from collections.abc import Iterable


class CpnetError(Exception):
    """Base class of errors a user can act on; the CLI prints the message as one line."""


class InputError(CpnetError):
    """A data file (scenario, catalog, trace) is malformed."""

    def __init__(self, path: str, problem: str, *, line: int | None = None, field: str | None = None) -> None:
        where = str(path)
        if line is not None:
            where += f", line {line}"
        if field is not None:
            where += f", field '{field}'"
        super().__init__(f"{where}: {problem}")
        self.path = str(path)
        self.line = line
        self.field = field
        self.problem = problem


class UnknownNameError(CpnetError):
    """A name (policy, scenario, trace, accelerator) that is not registered."""

    def __init__(self, kind: str, name: str, valid: Iterable[str]) -> None:
        names = ", ".join(sorted(valid))
        super().__init__(f"unknown {kind} '{name}'; valid: {names}")
        self.kind = kind
        self.name = name
