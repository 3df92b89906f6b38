"""Electrical draw of a site: the rule the power-cap filter, the simulator's check and the metrics share.

    draw_kw(site) = PUE x (sum over busy devices of TDP + sum over idle devices of IDLE_FRACTION x TDP) / 1000

Assumption (documented, not measured here): an idle datacenter accelerator draws IDLE_FRACTION =
0.15 of its TDP (nvidia-smi idle readings of A100/V100/H100 boards are roughly 10-20 % of TDP).
A model without a TDP in the catalog draws 0 (and the metrics list it as missing).
So starting a gang of n devices of model m adds n x (1 - IDLE_FRACTION) x TDP(m) x PUE / 1000 kW.
"""

from __future__ import annotations

from collections.abc import Mapping

from cpnet.core.model import Accelerator, Site

IDLE_FRACTION = 0.15


def tdp_kw(model: str, catalog: Mapping[str, Accelerator]) -> float:
    acc = catalog.get(model)
    return (acc.tdp_w or 0.0) / 1000.0 if acc is not None else 0.0


def idle_draw_kw(site: Site, catalog: Mapping[str, Accelerator]) -> float:
    """Draw of the site with every device idle."""
    return site.pue * IDLE_FRACTION * sum(n * tdp_kw(m, catalog) for m, n in site.inventory.items())


def busy_increment_kw(site: Site, model: str, num_devices: int, catalog: Mapping[str, Accelerator]) -> float:
    """Extra draw when `num_devices` idle devices of `model` at `site` become busy."""
    return site.pue * (1.0 - IDLE_FRACTION) * num_devices * tdp_kw(model, catalog)


def site_draw_kw(site: Site, busy: Mapping[str, int], catalog: Mapping[str, Accelerator]) -> float:
    """Draw of `site` with `busy[model]` devices busy."""
    return idle_draw_kw(site, catalog) + sum(busy_increment_kw(site, m, n, catalog) for m, n in busy.items() if n)
