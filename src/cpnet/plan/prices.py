"""What one device costs to buy, in USD, for capacity plans.

Release prices from the Epoch AI ML Hardware dataset (CC BY 4.0; ../shared/data/accelerators/
epoch_ml_hardware.csv, column "Release price (USD)", with the row named and the source it cites).
A model without a price there is an assumption: the V100's price times the model's compute-unit
rate (cpnet.catalog.compute_units), and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from cpnet.catalog.compute_units import cu_rate

# catalog model -> (USD, the Epoch row)
EPOCH_RELEASE_PRICES_USD: dict[str, tuple[float, str]] = {
    "K80": (5000.0, "NVIDIA Tesla K80"),
    "P100": (5699.0, "NVIDIA P100"),
    "V100": (11500.0, "NVIDIA Tesla V100 SXM2"),
    "A10": (2800.0, "NVIDIA A10 PCIe"),
    "A100": (15000.0, "NVIDIA A100 SXM4 40 GB"),
    "H100": (33600.0, "NVIDIA H100 SXM5 80GB"),
    "H20": (12000.0, "NVIDIA HGX H20"),
    "MI250X": (14500.0, "AMD Radeon Instinct MI250X"),
    "MI300X": (15000.0, "AMD Instinct MI300X"),
    "Ascend-910B": (16854.0, "Huawei Ascend 910B"),
    "RTX2080Ti": (999.0, "NVIDIA GeForce RTX 2080 Ti 11GB"),
    "RTX6000": (6300.0, "NVIDIA Quadro RTX 6000"),
}


@dataclass(frozen=True, slots=True)
class DevicePrice:
    usd: float | None  # None: neither a listed price nor a CU rate to scale one from
    source: str


def device_price(model: str) -> DevicePrice:
    listed = EPOCH_RELEASE_PRICES_USD.get(model)
    if listed is not None:
        return DevicePrice(listed[0], f"Epoch AI ML Hardware dataset, release price of '{listed[1]}'")
    rate = cu_rate(model)
    if rate is None:
        return DevicePrice(None, "no listed price and no CU rate")
    v100 = EPOCH_RELEASE_PRICES_USD["V100"][0]
    return DevicePrice(v100 * rate, f"assumption: V100 release price x CU rate {rate:.2f}")
