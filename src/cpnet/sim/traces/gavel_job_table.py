"""Gavel's 26 job types in the order of its `scheduler/job_table.py` (the order its RNG draws from).

`distributed` types (ResNet-18, ResNet-50, Transformer, LM) may run with scale factor 2, 4 or 8;
Recommendation, A3C and CycleGAN are single-GPU only, matching the keys of
`simulation_throughputs.json`.
"""

from __future__ import annotations

_RESNET18 = tuple(f"ResNet-18 (batch size {b})" for b in (16, 32, 64, 128, 256))
_RESNET50 = tuple(f"ResNet-50 (batch size {b})" for b in (16, 32, 64, 128))
_TRANSFORMER = tuple(f"Transformer (batch size {b})" for b in (16, 32, 64, 128, 256))
_LM = tuple(f"LM (batch size {b})" for b in (5, 10, 20, 40, 80))
_RECOMMENDATION = tuple(f"Recommendation (batch size {b})" for b in (512, 1024, 2048, 4096, 8192))

GAVEL_JOB_TYPES: tuple[str, ...] = _RESNET18 + _RESNET50 + _TRANSFORMER + _LM + _RECOMMENDATION + ("A3C", "CycleGAN")
GAVEL_DISTRIBUTED: frozenset[str] = frozenset(_RESNET18 + _RESNET50 + _TRANSFORMER + _LM)
