"""Policy names -> compositions. Policies register themselves when `cpnet.sched.policies` is imported.

Each name is registered with its parameters and their defaults; `make_policy(name, params)` rejects
a parameter name the policy does not know (the error lists the valid ones) and hands the factory
the defaults overlaid with `params`. A factory composes the policy: an allocator, the filters and
weighted scores of a `framework.Profile` (see each module in cpnet.sched.policies).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cpnet.core.errors import UnknownNameError
from cpnet.sched.framework import Policy

PolicyFactory = Callable[[Mapping[str, Any]], Policy]


@dataclass(frozen=True)
class PolicyEntry:
    factory: PolicyFactory
    defaults: Mapping[str, Any]  # every valid parameter name -> its default (None: unset)


_ENTRIES: dict[str, PolicyEntry] = {}


def register(name: str, defaults: Mapping[str, Any]) -> Callable[[PolicyFactory], PolicyFactory]:
    """Decorator: register a factory `f(params) -> Policy` under `name` (import-time only).

    `defaults` names every parameter the policy accepts, with its default value."""

    def wrap(factory: PolicyFactory) -> PolicyFactory:
        if name in _ENTRIES:
            raise ValueError(f"policy '{name}' registered twice")
        _ENTRIES[name] = PolicyEntry(factory, dict(defaults))
        return factory

    return wrap


def policy_names() -> list[str]:
    _load()
    return sorted(_ENTRIES)


def policy_params(name: str) -> dict[str, Any]:
    """The parameters `name` accepts, with their defaults."""
    return dict(_entry(name).defaults)


def make_policy(name: str, params: Mapping[str, Any] | None = None) -> Policy:
    entry = _entry(name)
    params = params or {}
    for key in params:
        if key not in entry.defaults:
            raise UnknownNameError(f"parameter of policy '{name}':", key, entry.defaults)
    return entry.factory({**entry.defaults, **params})


def _entry(name: str) -> PolicyEntry:
    _load()
    if name not in _ENTRIES:
        raise UnknownNameError("policy", name, _ENTRIES)
    return _ENTRIES[name]


def _load() -> None:
    import cpnet.sched.policies  # noqa: F401  (registers the bundled policies)
