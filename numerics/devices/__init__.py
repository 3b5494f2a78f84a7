"""lowbit.numerics.devices: discrete-conductance synaptic device models (docs/references.md sections 8-9).

Public API
- `DeviceParams`, `make_device(kind, **aihwkit_params)`, `KINDS`: frozen device models with IBM aihwkit's
  parameter names (constant, linear, softbounds, exp, pow, piecewise step) plus NeuroSim's discrete
  pulse-count model (`neurosim`), finite `levels`, stuck-at faults and write-energy figures.
- Registry: `get_device(name)`, `list_devices()`, `register_device`, `load_device(path)`; presets are
  configs/devices/*.yaml.
- `sample_devices(params, shape, seed) -> DeviceArray` (device-to-device variation, drawn once);
  `init_state`, `with_weights`, `pulse(state, n, direction, generator) -> DeviceState`, `read_weights`,
  `step_size`, `pulse_response` (N up then N down), `neurosim_curve`.
- Weight mapping: `weight_map(w_lo, w_hi, params, scheme="pair"|"single")`, `to_devices`, `to_conductance`.
"""
from .params import KINDS, DeviceParams, make_device
from .registry import PRESET_DIR, get_device, list_devices, load_device, register_device
from .sample import DeviceArray, as_rng, sample_devices
from .response import (DeviceState, init_state, neurosim_curve, pulse, pulse_response, read_weights, step_size,
                       with_weights)
from .mapping import WeightMap, to_conductance, to_devices, weight_map

__all__ = ["KINDS", "DeviceParams", "make_device", "PRESET_DIR", "get_device", "list_devices", "load_device",
           "register_device", "DeviceArray", "as_rng", "sample_devices", "DeviceState", "init_state",
           "neurosim_curve", "pulse", "pulse_response", "read_weights", "step_size", "with_weights",
           "WeightMap", "to_conductance", "to_devices", "weight_map"]
