"""Accelerator architectures for lowbit.sim, loaded once from YAML (configs/arch/) into frozen dataclasses.

An `Arch` is a rows x cols systolic PE array with a dataflow ("os" output-, "ws" weight-, "is" input-
stationary, as in SCALE-Sim: Samajdar et al., ISPASS 2020), a PE datapath (operand and accumulator formats,
`kind` "mac" or "lns": the LNS-Madam PE of Zhao et al. with exponent-add multiply and 2*gamma bucket
accumulators converted once per dot product), three double-buffered on-chip SRAMs (a = ifmap / A operand,
b = filter / B operand, c = ofmap / outputs and partial sums), a DRAM bandwidth, a clock, a vector unit
for elementwise (optimizer) work, and the name of the energy table that prices its actions.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from lowbit.numerics._io import load_yaml
from lowbit.numerics._resources import config_dir
from .workload import _check_keys, _fmt, _int, format_bits

__all__ = ["Arch", "Buffer", "Datapath", "load_arch", "list_arch_presets", "ARCH_DIR", "DATAFLOWS"]

ARCH_DIR = config_dir("arch")
DATAFLOWS = ("os", "ws", "is")
KINDS = ("mac", "lns")
CONVERSIONS = ("table", "mitchell")
BUFFER_NAMES = ("a", "b", "c")


def _num(owner, key, value, positive=True):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or (
            value <= 0 if positive else value < 0):
        raise ValueError(f"{owner}: {key}={value!r} must be a finite number {'> 0' if positive else '>= 0'}")
    return float(value)


@dataclass(frozen=True)
class Buffer:
    """One SRAM: `kib` KiB in `banks` banks of `word_bits`-bit words; half of it is the prefetch buffer."""
    kib: float
    word_bits: int = 64
    banks: int = 1

    def __post_init__(self):
        object.__setattr__(self, "kib", _num("buffer", "kib", self.kib))
        object.__setattr__(self, "word_bits", _int("buffer", "word_bits", self.word_bits, 1))
        object.__setattr__(self, "banks", _int("buffer", "banks", self.banks, 1))

    @property
    def bits(self) -> int:
        return int(self.kib * 1024 * 8)


@dataclass(frozen=True)
class Datapath:
    """Per-MAC formats. kind="lns": products are exponent-code adds, accumulated as `1 << q` into
    2*gamma buckets (acc_format = bucket integer width), converted per dot product (`conversion`)."""
    a_format: str
    b_format: str
    acc_format: str
    kind: str = "mac"
    gamma: int | None = None
    conversion: str = "table"

    def __post_init__(self):
        own = "datapath"
        for key in ("a_format", "b_format", "acc_format"):
            _fmt(own, key, getattr(self, key))
        if self.kind not in KINDS:
            raise ValueError(f"{own}: kind={self.kind!r}; allowed: {', '.join(KINDS)}")
        if self.conversion not in CONVERSIONS:
            raise ValueError(f"{own}: conversion={self.conversion!r}; allowed: {', '.join(CONVERSIONS)}")
        if self.kind == "lns":
            g = _int(own, "gamma", self.gamma, 1)
            if g & (g - 1):
                raise ValueError(f"{own}: gamma={g} must be a power of two (the remainder is the low log2(gamma) bits)")
            object.__setattr__(self, "gamma", g)
        elif self.gamma is not None:
            raise ValueError(f"{own}: gamma={self.gamma!r} is only meaningful for kind: lns")


@dataclass(frozen=True)
class Arch:
    name: str
    rows: int
    cols: int
    dataflow: str
    datapath: Datapath
    buffers: dict            # {"a": Buffer, "b": Buffer, "c": Buffer}
    dram_gbps: float         # GB/s (1e9 bytes per second)
    clock_mhz: float = 1000.0
    vector_lanes: int = 0    # elementwise ops per cycle; 0 = cols
    energy: str = "horowitz45"
    description: str = ""

    def __post_init__(self):
        own = f"arch {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"arch: name={self.name!r} must be a non-empty string")
        for key in ("rows", "cols"):
            object.__setattr__(self, key, _int(own, key, getattr(self, key), 1))
        if self.dataflow not in DATAFLOWS:
            raise ValueError(f"{own}: dataflow={self.dataflow!r}; allowed: {', '.join(DATAFLOWS)}")
        if not isinstance(self.datapath, Datapath):
            raise ValueError(f"{own}: datapath must be a Datapath")
        if not isinstance(self.buffers, dict) or set(self.buffers) != set(BUFFER_NAMES) or not all(
                isinstance(b, Buffer) for b in self.buffers.values()):
            raise ValueError(f"{own}: buffers must map each of a, b, c to a Buffer")
        object.__setattr__(self, "dram_gbps", _num(own, "dram_gbps", self.dram_gbps))
        object.__setattr__(self, "clock_mhz", _num(own, "clock_mhz", self.clock_mhz))
        object.__setattr__(self, "vector_lanes", _int(own, "vector_lanes", self.vector_lanes, 0) or self.cols)
        if not isinstance(self.energy, str) or not self.energy:
            raise ValueError(f"{own}: energy={self.energy!r} must name an energy table in configs/energy/")

    def __hash__(self):
        return hash((self.name, self.rows, self.cols, self.dataflow, self.datapath,
                     tuple(sorted(self.buffers.items())), self.dram_gbps, self.clock_mhz))

    @property
    def pes(self) -> int:
        return self.rows * self.cols

    @property
    def dram_bits_per_cycle(self) -> int:
        """DRAM bandwidth per clock cycle, rounded down to whole bits (at least 1)."""
        return max(1, int(self.dram_gbps * 8e9 // (self.clock_mhz * 1e6)))

    def operand_bits(self) -> tuple:
        dp = self.datapath
        return format_bits(dp.a_format), format_bits(dp.b_format), format_bits(dp.acc_format)

    @classmethod
    def from_dict(cls, d: dict, where: str = "arch") -> "Arch":
        _check_keys(where, d, cls, required=("name", "rows", "cols", "dataflow", "datapath", "buffers", "dram_gbps"))
        dp = d["datapath"]
        _check_keys(f"{where}: datapath", dp, Datapath, required=("a_format", "b_format", "acc_format"))
        bufs = d["buffers"]
        if not isinstance(bufs, dict) or set(bufs) != set(BUFFER_NAMES):
            got = sorted(bufs) if isinstance(bufs, dict) else bufs
            raise ValueError(f"{where}: buffers={got!r} must have exactly the keys a, b, c (ifmap, filter, ofmap)")
        built = {}
        for key, b in bufs.items():
            _check_keys(f"{where}: buffers.{key}", b, Buffer, required=("kib",))
            try:
                built[key] = Buffer(**b)
            except ValueError as exc:
                raise ValueError(f"{where}: buffers.{key}: {exc}") from None
        try:
            return cls(**{**d, "datapath": Datapath(**dp), "buffers": built})
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None


def list_arch_presets() -> list:
    return sorted(p.stem for p in ARCH_DIR.glob("*.yaml"))


def load_arch(spec) -> Arch:
    """An Arch passes through; a preset name loads configs/arch/<name>.yaml; otherwise a YAML path."""
    if isinstance(spec, Arch):
        return spec
    if not isinstance(spec, (str, Path)):
        raise ValueError(f"arch must be a preset name, a YAML path or an Arch, got {type(spec).__name__}")
    path = Path(spec)
    if not path.suffix and not path.exists():
        if not (ARCH_DIR / f"{spec}.yaml").is_file():
            raise ValueError(f"unknown arch preset {str(spec)!r}; presets: {', '.join(list_arch_presets())} "
                             "(or give a path to a YAML file)")
        path = ARCH_DIR / f"{spec}.yaml"
    return Arch.from_dict(load_yaml(path), where=str(path))
