"""Score plugins, one normalised term per module (see cpnet.sched.framework.Score)."""

from cpnet.sched.scores.carbon import Carbon
from cpnet.sched.scores.data_locality import DataLocality
from cpnet.sched.scores.data_transfer import DataTransfer
from cpnet.sched.scores.energy_price import EnergyPrice
from cpnet.sched.scores.latency import Latency
from cpnet.sched.scores.power_headroom import PowerHeadroom
from cpnet.sched.scores.throughput import Throughput

__all__ = ["Carbon", "DataLocality", "DataTransfer", "EnergyPrice", "Latency", "PowerHeadroom", "Throughput"]
