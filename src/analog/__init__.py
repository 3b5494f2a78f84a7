"""lowbit.analog: crossbar layers whose weights are synaptic device arrays, trained only by pulses.

Public API
- `IOConfig(inp_bits, inp_bound, out_bits, out_bound, out_noise)`, `AnalogTile(out, in, device, cell)`
  ("single" or "pair" cells), `symmetry_point(devices)`.
- Rules (each an `UpdateRule`: the tile it trains and its pulse update): `PulsedSGD(scheme="stochastic"|
  "count", bl)` (bidirectional on single cells, the unidirectional rule of Lim et al. 2019 with refresh on
  pair cells), `MixedPrecision`, `TikiTaka`, `MadamLog` (integer log-level update of log-spaced
  conductances, `LogTile`); `UpdateStats`.
- torch: `AnalogLinear`, `AnalogOptimizer` (a lowbit.optim FunctionalOptimizer, so lowbit.train.fit drives
  it; pulses / writes / energy per step; `workload_items()` as lowbit.sim Elementwise(op="device_pulse")
  items).
"""
from .tile import CELLS, AnalogTile, IOConfig, symmetry_point
from .rules import SCHEMES, MixedPrecision, PulsedSGD, TikiTaka, UpdateRule, UpdateStats
from .layer import AnalogLinear, AnalogOptimizer
from .madam_log import LogTile, MadamLog

__all__ = ["CELLS", "AnalogTile", "IOConfig", "symmetry_point", "SCHEMES", "MixedPrecision", "PulsedSGD",
           "TikiTaka", "UpdateRule", "UpdateStats", "AnalogLinear", "AnalogOptimizer", "LogTile", "MadamLog"]
