"""Capacity planning: what to buy so that forecast demand meets a service target (`cpnet plan`).

demand.py samples future jobs from a history's fitted forecast; target.py reads and checks targets
like "p90 queueing < 1h"; prices.py holds device purchase prices; search.py finds the cheapest
purchase that meets the target by replaying the sampled jobs through the simulator; sweep.py runs
those replays serially, in worker processes, or on a Ray cluster.
"""
