"""Accelerator catalog and throughput model.

- `load_catalog(path=None) -> Catalog`: datasheet specs, a frozen mapping model key -> Accelerator.
- `load_throughputs(catalog=None, extra_measurements_dir=None) -> ThroughputModel`: steps/s of a
  job type on n devices of a model, measured where public measurements exist, else estimated
  (formula in cpnet.catalog.throughput).
"""

from __future__ import annotations

from cpnet.catalog.consistency import resolve
from cpnet.catalog.measurements import read_measured_file, sia_overlay_points
from cpnet.catalog.specs import Catalog, CatalogEntry, load_catalog
from cpnet.catalog.throughput import ThroughputEntry, ThroughputModel

__all__ = [
    "Catalog",
    "CatalogEntry",
    "ThroughputEntry",
    "ThroughputModel",
    "load_catalog",
    "load_throughputs",
]


def load_throughputs(catalog: Catalog | None = None, extra_measurements_dir: str | None = None) -> ThroughputModel:
    """Build the throughput model from the shipped measurements (+ an optional Sia overlay).

    `extra_measurements_dir` points at a Sia artifact copy (e.g. /work/shared/data/sia); its
    V100/A100/RTX2080Ti/RTX6000 measurements are read at run time, labelled measured with source
    "Sia (SOSP'23) artifact, research use", and fill gaps: where the shipped (licensed) data
    already has a value for the same (type, chip, count), the shipped value is kept. Points of a
    source declared to lose a disagreement (cpnet.catalog.consistency.DECLARED) are left out.
    """
    cat = catalog if catalog is not None else load_catalog()
    overlay = sia_overlay_points(extra_measurements_dir) if extra_measurements_dir else []
    # Later points win: overlay first, shipped last.
    return ThroughputModel(cat, resolve([*overlay, *read_measured_file()]))
