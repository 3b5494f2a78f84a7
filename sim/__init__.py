"""lowbit.sim: the Numba cycle/energy simulator of accelerator datapaths (DESIGN.md, "sim").

Public API
- Workloads (sim/workload.py, sim/training.py): `Gemm`, `Elementwise`, `Transfer`, `Workload` (YAML
  load/save), `Layer`, `linear`, `conv`, `matmul`, `conv_output_size`, `StepFormats`, `training_step`,
  `update_work`, `OPTIMIZER_OPS`, `format_bits`.
"""
from .workload import (ELEMENTWISE_OPS, LEVELS, PHASES, TENSOR_CLASSES, Elementwise, Gemm, Transfer, Workload,
                       format_bits)
from .training import (OPTIMIZER_OPS, Layer, StepFormats, conv, conv_output_size, linear, matmul, training_step,
                       update_work)

__all__ = ["Gemm", "Elementwise", "Transfer", "Workload", "PHASES", "ELEMENTWISE_OPS", "TENSOR_CLASSES", "LEVELS",
           "format_bits", "Layer", "linear", "conv", "matmul", "conv_output_size", "StepFormats", "training_step",
           "update_work", "OPTIMIZER_OPS"]
