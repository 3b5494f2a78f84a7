"""lowbit.verify: run RTL against the lowbit numerics with cocotb (Icarus or Verilator).

Public API
- Simulators: `find_simulator(name)`, `available_simulators()`, `SimulatorNotFound`, `install_hint`.
- Building and running: `build(sim, sources, top, parameters)` -> `Build`; `run_cocotb(build, module)`;
  `CompileError`, `SimulationError`, `build_root()`.
- Streaming vectors through memory files: `Port`, `build_stream(...)` -> `StreamBuild`, `run_stream(...)`;
  `write_hex`, `read_hex` for `$readmemh`/`$writememh` files.
- Checking against the numerics: `list_ops()`, `op_formats(op)`, `get_unit(op, fmt, contract)` -> `Unit`
  (ports, vectors, golden model), `check_unit(op, fmt, sim, sources=None, top=None, contract=Contract(...),
  timing=Timing(...), sv=None, includes=(), defines=None)` -> `Report` (mismatches grouped by class).
See docs/hw.md.
"""
from .sims import SIMULATORS, SimulatorNotFound, available_simulators, find_simulator, install_hint
from .build import Build, CompileError, SimulationError, build, build_root, run_cocotb
from .harness import Port
from .memfile import read_hex, write_hex
from .stream import StreamBuild, build_stream, run_stream
from .ops import Unit, get_unit, list_ops, op_formats
from .contract import Contract, Timing
from .check import Report, check_unit, run_unit

__all__ = ["SIMULATORS", "SimulatorNotFound", "available_simulators", "find_simulator", "install_hint",
           "Build", "CompileError", "SimulationError", "build", "build_root", "run_cocotb", "Port",
           "read_hex", "write_hex", "StreamBuild", "build_stream", "run_stream", "Unit", "get_unit", "list_ops",
           "op_formats", "Report", "check_unit", "run_unit", "Contract", "Timing"]
