"""Executor names -> factories.

An executor module registers itself with `@register_executor("name")` at import time. The
shipped executor `x` lives in `cpnet.executors.x`; `make_executor` imports it on first use, so
heavy engines (Ray) are imported only when chosen.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from cpnet.core.errors import UnknownNameError
from cpnet.executors.base import Executor

ExecutorFactory = Callable[..., Executor]

_FACTORIES: dict[str, ExecutorFactory] = {}
# Modules that register an executor under their own name; imported on first use.
_SHIPPED = ("local", "ray", "simulated", "sites", "slurm")


def register_executor(name: str) -> Callable[[ExecutorFactory], ExecutorFactory]:
    """Decorator: register `factory(**config) -> Executor` under `name` (import-time only)."""

    def wrap(factory: ExecutorFactory) -> ExecutorFactory:
        if name in _FACTORIES and _FACTORIES[name] is not factory:
            raise ValueError(f"executor '{name}' registered twice")
        _FACTORIES[name] = factory
        return factory

    return wrap


def executor_names() -> list[str]:
    """Names of the shipped executors and of any registered since."""
    return sorted(set(_SHIPPED) | set(_FACTORIES))


def make_executor(name: str, **config: Any) -> Executor:
    """Build the executor registered as `name`; UnknownNameError lists the valid names."""
    if name not in _FACTORIES and name in _SHIPPED:
        importlib.import_module(f"cpnet.executors.{name}")
    if name not in _FACTORIES:
        raise UnknownNameError("executor", name, executor_names())
    return _FACTORIES[name](**config)
