"""Executor names -> factories.

An executor module registers itself with `@register_executor("name")` at import time. By
convention the module for name `x` is `cpnet.executors.x`; `make_executor` imports it on first
use, so heavy engines (Ray) are imported only when chosen.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

from cpnet.core.errors import UnknownNameError
from cpnet.executors.base import Executor

ExecutorFactory = Callable[..., Executor]

_FACTORIES: dict[str, ExecutorFactory] = {}
_NOT_EXECUTORS = frozenset({"base", "registry"})


def register_executor(name: str) -> Callable[[ExecutorFactory], ExecutorFactory]:
    """Decorator: register `factory(**config) -> Executor` under `name` (import-time only)."""

    def wrap(factory: ExecutorFactory) -> ExecutorFactory:
        if name in _FACTORIES and _FACTORIES[name] is not factory:
            raise ValueError(f"executor '{name}' registered twice")
        _FACTORIES[name] = factory
        return factory

    return wrap


def executor_names() -> list[str]:
    """Names of the executor modules shipped in `cpnet.executors` (not imported)."""
    import cpnet.executors as pkg

    shipped = {m.name for m in pkgutil.iter_modules(pkg.__path__) if m.name not in _NOT_EXECUTORS}
    return sorted(shipped | set(_FACTORIES))


def make_executor(name: str, **config: Any) -> Executor:
    """Build the executor registered as `name`; UnknownNameError lists the valid names."""
    if name not in _FACTORIES and name not in _NOT_EXECUTORS:
        try:
            importlib.import_module(f"cpnet.executors.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"cpnet.executors.{name}":
                raise
    if name not in _FACTORIES:
        raise UnknownNameError("executor", name, executor_names())
    return _FACTORIES[name](**config)
