"""lowbit.sim: the Numba cycle/energy simulator of accelerator datapaths (docs/design.md, "sim").

Public API
- Workloads (sim/workload.py, sim/training.py): `Gemm`, `Elementwise`, `Transfer`, `Workload` (YAML
  load/save), `Layer`, `linear`, `conv`, `matmul`, `conv_output_size`, `StepFormats`, `training_step`,
  `update_work`, `OPTIMIZER_OPS`, `format_bits`; `trace_layers(model, example_input)` (sim/trace.py).
- Architectures (sim/arch.py): `Arch`, `Buffer`, `Datapath`, `load_arch(name | path | Arch)`,
  `list_arch_presets()` (configs/arch/).
- Cycle model (sim/systolic.py, sim/_kernel.py): `systolic_gemm(m, n, k, rows, cols, dataflow, ...)`
  -> `GemmResult` (`cycles` = SCALE-Sim's index of the last busy cycle; `cycle_count` = cycles + 1).
- Energy (sim/energy.py, sim/report.py): `load_energy_table`, `list_energy_tables`, `EnergyTable`, `Cost`,
  `simulate(workload, arch, energy=None)` and `energy_per_update(workload, arch)` -> `SimReport`
  (`.pj_per_step`, `.pj_per_weight_update`, `.breakdown["component"|"layer"]`, `.cycles`, `.actions`).
- Design-space exploration (sim/dse.py, sim/area.py, sim/dse_report.py; `lowbit dse`): `explore(space)` ->
  `DSEResult` (`.columns`, `.pareto`), `load_space`, `Space`, `pareto_mask`; area tables (configs/area/):
  `load_area_table`, `AreaTable`.
"""
from .workload import (ELEMENTWISE_OPS, LEVELS, PHASES, TENSOR_CLASSES, Elementwise, Gemm, Transfer, Workload,
                       format_bits)
from .trace import trace_layers
from .arch import Arch, Buffer, Datapath, list_arch_presets, load_arch
from .systolic import GemmResult, systolic_gemm
from .energy import Cost, EnergyTable, list_energy_tables, load_energy_table
from .report import COMPONENTS, SimReport, energy_per_update, simulate
from .dse import DSEResult, Space, explore, load_space, pareto_mask
from .area import AreaTable, load_area_table
from .training import (OPTIMIZER_OPS, Layer, StepFormats, conv, conv_output_size, linear, matmul, training_step,
                       update_work)

__all__ = ["Gemm", "Elementwise", "Transfer", "Workload", "PHASES", "ELEMENTWISE_OPS", "TENSOR_CLASSES", "LEVELS",
           "format_bits", "Layer", "linear", "conv", "matmul", "conv_output_size", "StepFormats", "training_step",
           "update_work", "OPTIMIZER_OPS", "trace_layers", "Arch", "Buffer", "Datapath", "load_arch", "list_arch_presets",
           "systolic_gemm", "GemmResult", "Cost", "EnergyTable", "list_energy_tables", "load_energy_table",
           "COMPONENTS", "SimReport", "energy_per_update", "simulate", "explore", "load_space", "Space", "DSEResult",
           "pareto_mask", "AreaTable", "load_area_table"]
