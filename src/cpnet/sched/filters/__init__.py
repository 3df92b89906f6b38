"""Filter plugins, one rule per module (see cpnet.sched.framework.Filter).

`DEFAULT_FILTERS` is the order every bundled policy uses; the first filter that leaves no pool
gives the job's reason, so the order decides which reason a user sees.
"""

from cpnet.sched.filters.accelerators_allowed import AcceleratorsAllowed
from cpnet.sched.filters.data_reachable import DataReachable
from cpnet.sched.filters.gang_fits import GangFits
from cpnet.sched.filters.known_throughput import KnownThroughput
from cpnet.sched.filters.latency_slo import LatencySlo
from cpnet.sched.filters.power_cap import PowerCap
from cpnet.sched.filters.site_up import SiteUp
from cpnet.sched.filters.sites_allowed import SitesAllowed
from cpnet.sched.filters.valid_gang import ValidGang

DEFAULT_FILTERS = (SiteUp(), ValidGang(), SitesAllowed(), LatencySlo(), DataReachable(), AcceleratorsAllowed(), KnownThroughput(), GangFits(), PowerCap())

__all__ = [
    "DEFAULT_FILTERS",
    "AcceleratorsAllowed",
    "DataReachable",
    "GangFits",
    "KnownThroughput",
    "LatencySlo",
    "PowerCap",
    "SiteUp",
    "SitesAllowed",
    "ValidGang",
]
