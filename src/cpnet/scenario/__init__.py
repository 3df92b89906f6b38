"""Scenario files: sites, links and tenants of a computing power network, as validated YAML."""

from cpnet.scenario.distance import NetworkModel, UnlinkedPairs, great_circle_km
from cpnet.scenario.loader import DEFAULT_SCENARIO, load_scenario, scenario_names
from cpnet.scenario.scenario import Scenario
from cpnet.scenario.schema import CNY_PER_USD

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
