"""Parse YAML while keeping where each value came from, so errors can name a line.

PyYAML's composed node tree carries a `start_mark` per node; we keep it next to the plain
data and look a pydantic error location such as ('sites', 3, 'inventory', 'H100') up in it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import ValidationError

from cpnet.core.errors import InputError

Loc = Sequence[str | int]


@dataclass(frozen=True, slots=True)
class YamlDocument:
    """The plain data of one YAML file plus its node tree (for line numbers)."""

    path: str
    data: Any
    root: yaml.Node | None

    def line_of(self, loc: Loc) -> int | None:
        """1-based line of the deepest node along `loc` that exists (a missing field points at its parent)."""
        node = self.root
        if node is None:
            return None
        line = node.start_mark.line + 1
        for part in loc:
            child = _child(node, part)
            if child is None:
                break
            node = child
            line = node.start_mark.line + 1
        return line


def format_loc(loc: Loc) -> str:
    """('sites', 3, 'inventory', 'H100') -> 'sites[3].inventory.H100'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def parse_yaml(text: str, path: str) -> YamlDocument:
    """Safe-load `text`; a syntax error or a duplicate key becomes an InputError with its line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise InputError(path, f"not valid YAML: {problem}", line=line) from None
    except yaml.YAMLError as exc:
        raise InputError(path, f"not valid YAML: {exc}") from None
    if root is not None:
        _reject_duplicate_keys(root, path, [], set())
    return YamlDocument(path=path, data=data, root=root)


def _child(node: yaml.Node, part: str | int) -> yaml.Node | None:
    # The stubs leave Node.value untyped: a mapping node holds (key, value) node pairs, a sequence node its item nodes.
    if isinstance(node, yaml.MappingNode):
        pairs: list[tuple[yaml.Node, yaml.Node]] = node.value
        for key, value in pairs:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                return value
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int):
        items: list[yaml.Node] = node.value
        return items[part] if 0 <= part < len(items) else None
    return None


def _reject_duplicate_keys(node: yaml.Node, path: str, loc: list[str | int], visited: set[int]) -> None:
    # PyYAML silently keeps the last of two equal keys; in a scenario that hides a typo.
    if id(node) in visited:  # an alias: already checked, and possibly recursive
        return
    visited.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    raise InputError(
                        path,
                        f"duplicate key '{key.value}'; each key may appear once per mapping",
                        line=key.start_mark.line + 1,
                        field=format_loc([*loc, key.value]),
                    )
                seen.add(key.value)
                _reject_duplicate_keys(value, path, [*loc, key.value], visited)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _reject_duplicate_keys(item, path, [*loc, i], visited)


def validation_error(doc: YamlDocument, exc: ValidationError, expected_fields: Callable[[Loc], Sequence[str]], *, name_missing: bool = True) -> InputError:
    """The first of pydantic's errors as one InputError naming the file, line and field;
    `expected_fields(loc)` lists the fields allowed where an unknown one was found."""
    errors = exc.errors(include_url=False)
    err = errors[0]
    loc: Loc = tuple(p for p in err["loc"] if p != "[key]")
    kind = err["type"]
    if kind == "missing" and name_missing:
        problem = f"missing required field '{loc[-1]}'"
    elif kind == "extra_forbidden":
        problem = f"unknown field '{loc[-1]}'; expected one of: {', '.join(expected_fields(loc))}"
    else:
        msg = err["msg"].removeprefix("Value error, ")
        problem = msg if kind == "value_error" else f"{msg} (got {short_repr(err.get('input'))})"
    if len(errors) > 1:
        problem += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return InputError(doc.path, problem, line=doc.line_of(loc), field=format_loc(loc) or None)


def short_repr(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
