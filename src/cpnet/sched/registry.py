"""Policy names -> factories. Policies register themselves when `cpnet.sched.policies` is imported."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cpnet.core.errors import UnknownNameError
from cpnet.sched.framework import Policy

PolicyFactory = Callable[[Mapping[str, Any]], Policy]

_FACTORIES: dict[str, PolicyFactory] = {}


def register(name: str) -> Callable[[PolicyFactory], PolicyFactory]:
    """Decorator: register a factory `f(params) -> Policy` under `name` (import-time only)."""

    def wrap(factory: PolicyFactory) -> PolicyFactory:
        if name in _FACTORIES:
            raise ValueError(f"policy '{name}' registered twice")
        _FACTORIES[name] = factory
        return factory

    return wrap


def policy_names() -> list[str]:
    _load()
    return sorted(_FACTORIES)


def make_policy(name: str, params: Mapping[str, Any] | None = None) -> Policy:
    _load()
    if name not in _FACTORIES:
        raise UnknownNameError("policy", name, _FACTORIES)
    return _FACTORIES[name](params or {})


def _load() -> None:
    import cpnet.sched.policies  # noqa: F401  (registers the bundled policies)
