"""Scenario files: sites, links and tenants of a computing power network, as validated YAML.

The names below are loaded on first use (PEP 562), so that importing one light submodule (e.g.
`cpnet.scenario.yaml_source`, which the CLI's job files use) does not build every pydantic schema:
each CLI command would otherwise pay for it at start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cpnet.scenario.defaults import DEFAULT_SCENARIO
    from cpnet.scenario.distance import NetworkModel, UnlinkedPairs, great_circle_km
    from cpnet.scenario.loader import load_scenario, scenario_names
    from cpnet.scenario.scenario import Scenario
    from cpnet.scenario.schema import CNY_PER_USD

_HOME = {
    "CNY_PER_USD": "schema",
    "DEFAULT_SCENARIO": "defaults",
    "NetworkModel": "distance",
    "Scenario": "scenario",
    "UnlinkedPairs": "distance",
    "great_circle_km": "distance",
    "load_scenario": "loader",
    "scenario_names": "loader",
}

__all__ = [
    "CNY_PER_USD",
    "DEFAULT_SCENARIO",
    "NetworkModel",
    "Scenario",
    "UnlinkedPairs",
    "great_circle_km",
    "load_scenario",
    "scenario_names",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'cpnet.scenario' has no attribute {name!r}")
    return getattr(importlib.import_module(f"cpnet.scenario.{home}"), name)
