"""Score plugins, one normalised term per module (see cpnet.sched.framework.Score)."""

from cpnet.sched.scores.data_locality import DataLocality
from cpnet.sched.scores.energy_price import EnergyPrice
from cpnet.sched.scores.latency import Latency
from cpnet.sched.scores.throughput import Throughput

__all__ = ["DataLocality", "EnergyPrice", "Latency", "Throughput"]
