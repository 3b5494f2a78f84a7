"""Workloads for lowbit.sim: what one training step (or inference pass) executes, as data.

A `Workload` is a tuple of items:
- `Gemm(name, m, n, k, a_format, b_format, acc_format, phase)`: C[m, n] = A[m, k] @ B[k, n], reduction k,
  A operand in `a_format`, B in `b_format`, products accumulated in `acc_format`; `phase` is "fwd",
  "bwd_input" (gradient w.r.t. A) or "bwd_weight" (gradient w.r.t. B). `count` identical independent
  GEMMs (conv groups, attention heads); `layer` groups items for the per-layer energy breakdown.
  This is the GEMM convention of SCALE-Sim (Samajdar et al., "A Systematic Methodology for Characterizing
  Scalability of DNN Accelerators using SCALE-Sim", ISPASS 2020): M x K inputs, K x N weights, M x N outputs.
- `Elementwise(name, count, op, format)`: optimizer / weight-update work, `count` ops of kind `op`
  (ELEMENTWISE_OPS) in `format`. `pj_each` optionally carries the energy of one op (e.g. a device pulse
  whose energy the device model knows), overriding the energy table.
- `Transfer(name, bytes, tensor_class, level)`: bytes moved per step outside the GEMM dataflow (optimizer
  state, weight write-back), priced per bit at `level` ("dram" or "sram").

Format names are lowbit registry names (`lowbit.numerics.get_format`); operand widths come from the
format's `bits` (amortized block-scale bits included for MX, e.g. mxfp8_e4m3 = 8.25).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import yaml

from lowbit.numerics import get_format

from lowbit.numerics._io import atomic_write_text, load_yaml

__all__ = ["Gemm", "Elementwise", "Transfer", "Workload", "PHASES", "ELEMENTWISE_OPS", "TENSOR_CLASSES",
           "LEVELS", "format_bits"]

PHASES = ("fwd", "bwd_input", "bwd_weight")
ELEMENTWISE_OPS = ("add", "mul", "fma", "div", "sqrt", "exp", "log", "compare", "copy", "round", "sr_round",
                   "rng", "kahan_add", "lns_code_add", "lns_convert", "device_pulse")
TENSOR_CLASSES = ("weight", "activation", "grad_output", "grad_input", "grad_weight", "optimizer_state",
                  "accumulator", "other")
LEVELS = ("dram", "sram")


@lru_cache(maxsize=None)
def format_bits(name: str) -> float:
    """Storage bits per element of a registry format (MX: element bits + scale bits / block)."""
    return float(get_format(name).bits)


def _int(owner: str, key: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{owner}: {key}={value!r} must be an integer >= {minimum}")
    if value < minimum:
        raise ValueError(f"{owner}: {key}={value!r} must be an integer >= {minimum}")
    return int(value)


def _fmt(owner: str, key: str, value, allow_empty=False) -> str:
    if allow_empty and value in ("", None):
        return ""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{owner}: {key}={value!r} must be a lowbit format name (see `lowbit formats`)")
    try:
        get_format(value)
    except ValueError as exc:
        raise ValueError(f"{owner}: {key}={value!r}: {exc}") from None
    return value


def _choice(owner: str, key: str, value, allowed) -> str:
    if value not in allowed:
        raise ValueError(f"{owner}: {key}={value!r}; allowed: {', '.join(allowed)}")
    return value


def _name(kind: str, value) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{kind}: name={value!r} must be a non-empty string")
    return value


def _check_keys(owner: str, d, allowed, required=()):
    """A mapping with only `allowed` keys (names or a dataclass) and every `required` key."""
    if not isinstance(d, dict):
        raise ValueError(f"{owner}: must be a mapping, got {d!r}")
    if not isinstance(allowed, (list, tuple)):
        allowed = [f.name for f in dataclasses.fields(allowed)]
    extra = sorted(set(d) - set(allowed), key=str)
    if extra:
        raise ValueError(f"{owner}: unknown key {extra[0]!r}; allowed: {', '.join(allowed)}")
    for r in required:
        if r not in d:
            raise ValueError(f"{owner}: missing key {r!r}")


def _set(obj, key, value):
    object.__setattr__(obj, key, value)


@dataclass(frozen=True)
class Gemm:
    name: str
    m: int
    n: int
    k: int
    a_format: str = "fp32"
    b_format: str = "fp32"
    acc_format: str = "fp32"
    phase: str = "fwd"
    count: int = 1
    layer: str = ""
    out_format: str = ""   # format the result is written in; "" = acc_format

    def __post_init__(self):
        own = f"Gemm {_name('Gemm', self.name)!r}"
        for key in ("m", "n", "k", "count"):
            _set(self, key, _int(own, key, getattr(self, key), 1))
        for key in ("a_format", "b_format", "acc_format"):
            _fmt(own, key, getattr(self, key))
        _fmt(own, "out_format", self.out_format, allow_empty=True)
        _choice(own, "phase", self.phase, PHASES)
        if not isinstance(self.layer, str):
            raise ValueError(f"{own}: layer={self.layer!r} must be a string")

    @property
    def macs(self) -> int:
        return self.m * self.n * self.k * self.count

    @property
    def group(self) -> str:
        return self.layer or self.name

    @property
    def result_format(self) -> str:
        return self.out_format or self.acc_format


@dataclass(frozen=True)
class Elementwise:
    name: str
    count: int
    op: str
    format: str = "fp32"
    layer: str = ""
    pj_each: float | None = None   # energy of one op, if the producer knows it (device pulses)

    def __post_init__(self):
        own = f"Elementwise {_name('Elementwise', self.name)!r}"
        _set(self, "count", _int(own, "count", self.count, 0))
        _choice(own, "op", self.op, ELEMENTWISE_OPS)
        _fmt(own, "format", self.format, allow_empty=self.op == "device_pulse" or self.pj_each is not None)
        if self.pj_each is not None:
            if isinstance(self.pj_each, bool) or not isinstance(self.pj_each, (int, float)) or not (
                    np.isfinite(self.pj_each) and self.pj_each >= 0):
                raise ValueError(f"{own}: pj_each={self.pj_each!r} must be a finite number >= 0 (pJ per op)")
            _set(self, "pj_each", float(self.pj_each))

    @property
    def group(self) -> str:
        return self.layer or self.name


@dataclass(frozen=True)
class Transfer:
    name: str
    bytes: int
    tensor_class: str = "other"
    level: str = "dram"
    layer: str = ""

    def __post_init__(self):
        own = f"Transfer {_name('Transfer', self.name)!r}"
        _set(self, "bytes", _int(own, "bytes", self.bytes, 0))
        _choice(own, "tensor_class", self.tensor_class, TENSOR_CLASSES)
        _choice(own, "level", self.level, LEVELS)

    @property
    def group(self) -> str:
        return self.layer or self.name


_KINDS = {"gemm": Gemm, "elementwise": Elementwise, "transfer": Transfer}
_KIND_OF = {cls: kind for kind, cls in _KINDS.items()}


def _item_from_dict(d, where: str):
    if not isinstance(d, dict):
        raise ValueError(f"{where}: each item must be a mapping with a 'kind', got {d!r}")
    kind = d.get("kind")
    if kind not in _KINDS:
        raise ValueError(f"{where}: kind={kind!r}; allowed: {', '.join(_KINDS)} "
                         "(conv/linear/matmul layers go under 'layers:' of a training step)")
    cls = _KINDS[kind]
    allowed = [f.name for f in dataclasses.fields(cls)]
    extra = sorted(set(d) - set(allowed) - {"kind"})
    if extra:
        raise ValueError(f"{where}: unknown key {extra[0]!r} for a {kind}; allowed: {', '.join(allowed)}")
    missing = [f.name for f in dataclasses.fields(cls)
               if f.default is dataclasses.MISSING and f.name not in d]
    if missing:
        raise ValueError(f"{where}: a {kind} needs key {missing[0]!r}")
    return cls(**{k: v for k, v in d.items() if k != "kind"})


def _item_to_dict(item) -> dict:
    out = {"kind": _KIND_OF[type(item)]}
    for f in dataclasses.fields(item):
        v = getattr(item, f.name)
        if f.default is dataclasses.MISSING or v != f.default:
            out[f.name] = v
    return out


@dataclass(frozen=True)
class Workload:
    items: tuple
    name: str = "workload"
    weight_updates: int | None = None   # weights written per step; None = derived from bwd_weight GEMMs

    def __post_init__(self):
        items = tuple(self.items)
        for i, it in enumerate(items):
            if type(it) not in _KIND_OF:
                raise ValueError(f"Workload {self.name!r}: items[{i}] is a {type(it).__name__}; "
                                 "allowed: Gemm, Elementwise, Transfer")
        _set(self, "items", items)
        _name("Workload", self.name)
        if self.weight_updates is not None:
            _set(self, "weight_updates", _int(f"Workload {self.name!r}", "weight_updates", self.weight_updates, 0))

    @property
    def gemms(self) -> tuple:
        return tuple(it for it in self.items if isinstance(it, Gemm))

    @property
    def elementwise(self) -> tuple:
        return tuple(it for it in self.items if isinstance(it, Elementwise))

    @property
    def transfers(self) -> tuple:
        return tuple(it for it in self.items if isinstance(it, Transfer))

    @property
    def macs(self) -> int:
        return sum(g.macs for g in self.gemms)

    @property
    def layers(self) -> tuple:
        """Layer (group) names in first-seen order."""
        return tuple(dict.fromkeys(it.group for it in self.items))

    @property
    def n_weight_updates(self) -> int:
        if self.weight_updates is not None:
            return self.weight_updates
        return sum(g.m * g.n * g.count for g in self.gemms if g.phase == "bwd_weight")

    def to_dict(self) -> dict:
        d = {"name": self.name}
        if self.weight_updates is not None:
            d["weight_updates"] = self.weight_updates
        d["items"] = [_item_to_dict(it) for it in self.items]
        return d

    @classmethod
    def from_dict(cls, data: dict, where: str = "workload", datapath=None) -> "Workload":
        """Either explicit `items:`, or a training step from `layers:` (see lowbit.sim.training); a training
        step without `formats` takes them from `datapath` (an arch's Datapath) when given."""
        if not isinstance(data, dict):
            raise ValueError(f"{where}: a workload must be a mapping, got {type(data).__name__}")
        if "layers" in data:
            from .training import training_step_from_dict
            return training_step_from_dict(data, where, datapath)
        allowed = ("name", "weight_updates", "items")
        extra = sorted(set(data) - set(allowed))
        if extra:
            raise ValueError(f"{where}: unknown key {extra[0]!r}; allowed: {', '.join(allowed)} "
                             "(or a training step: name, layers, formats, optimizer, ...)")
        items = data.get("items")
        if not isinstance(items, list) or not items:
            raise ValueError(f"{where}: 'items' must be a non-empty list of gemm/elementwise/transfer mappings")
        return cls(tuple(_item_from_dict(d, f"{where}: items[{i}]") for i, d in enumerate(items)),
                   name=data.get("name", "workload"), weight_updates=data.get("weight_updates"))

    def save(self, path):
        """Write YAML atomically."""
        return atomic_write_text(path, yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def load(cls, path, datapath=None) -> "Workload":
        return cls.from_dict(load_yaml(path), where=str(path), datapath=datapath)

    def __add__(self, other: "Workload") -> "Workload":
        wu = None if self.weight_updates is None and other.weight_updates is None else (
            self.n_weight_updates + other.n_weight_updates)
        return Workload(self.items + other.items, name=f"{self.name}+{other.name}", weight_updates=wu)
