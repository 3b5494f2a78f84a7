"""Recipes as values: what a training run quantizes, how, and with which optimizer.

A recipe names, per tensor class of every GEMM (weight, input activation, forward output, output
gradient, weight gradient, input gradient, optionally the accumulator), a `QuantSpec`: any lowbit
registry format (FloatFormat, ScaledFormat / MX / NVFP4, ternary, LNS, ...), a rounding mode and, for
element formats, a scaling granularity that is applied along THAT GEMM's reduction dimension
(REFERENCES section 3: forward along in_features, weight gradient along the batch, input gradient
along out_features). Straight-through estimation is the default; the FP4 paper's differentiable gradient
estimator (DGE) and outlier clamping + compensation (OCC) are options (REFERENCES section 5).

Everything is a frozen dataclass that YAML can name and override: `from_dict` validates every key and
every value with a ValueError naming the key, the value and what is allowed.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from lowbit.checks import check_format as _check_format, check_number as _check_number
from lowbit.numerics import get_format
from lowbit.numerics.rounding import parse_rounding
from lowbit.optim.spec import OptimSpec

__all__ = ["QuantSpec", "AccSpec", "OptimSpec", "Recipe", "TENSOR_CLASSES", "SCALINGS", "ESTIMATORS",
           "spec_from_dict", "recipe_from_dict", "recipe_to_dict", "from_fields"]

TENSOR_CLASSES = ("weight", "input", "output", "grad_output", "grad_weight", "grad_input")
SCALINGS = ("none", "tensor", "channel", "block")
ESTIMATORS = ("ste", "dge")




@dataclass(frozen=True)
class QuantSpec:
    """How one tensor class is quantized. `format="fp32"` means: left as is (float32 is the container)."""
    format: str = "fp32"
    rounding: str = "nearest_even"
    scaling: str = "none"       # for element formats: none | tensor | channel | block (amax scale, fp32)
    block: int = 32             # block length when scaling == "block"
    rbits: int = 16             # random bits per stochastic rounding
    clamp_quantile: float | None = None   # OCC: clamp |x| at this quantile, residual kept in residual_format
    residual_format: str = "bf16"

    def __post_init__(self):
        own = "QuantSpec"
        fmt = _check_format(own, "format", self.format)
        try:
            parse_rounding(self.rounding)
        except ValueError as exc:
            raise ValueError(f"{own}: rounding={self.rounding!r}: {exc}") from None
        if self.scaling not in SCALINGS:
            raise ValueError(f"{own}: scaling={self.scaling!r}; allowed: {', '.join(SCALINGS)}")
        if fmt.is_scaled and self.scaling != "none":
            raise ValueError(f"{own}: format {self.format!r} carries its own {fmt.granularity} scaling; "
                             f"set scaling: none (got {self.scaling!r})")
        _check_number(own, "block", self.block, 1, integer=True)
        _check_number(own, "rbits", self.rbits, 1, 23, integer=True)
        if self.clamp_quantile is not None:
            _check_number(own, "clamp_quantile", self.clamp_quantile, 0.5, 1.0)
        _check_format(own, "residual_format", self.residual_format)

    @property
    def identity(self) -> bool:
        return self.format == "fp32" and self.clamp_quantile is None

    @property
    def stochastic(self) -> bool:
        return self.rounding == "stochastic"

    @property
    def bits(self) -> float:
        """Storage bits per element (block scales amortized; tensor/channel scales not counted)."""
        fmt = get_format(self.format)
        extra = 32 / self.block if self.scaling == "block" else 0.0
        return float(fmt.bits) + extra

    def short(self) -> str:
        s = self.format + ("" if self.scaling == "none" else f"/{self.scaling}")
        return s + ("/sr" if self.stochastic else "")


@dataclass(frozen=True)
class AccSpec:
    """GEMM accumulator emulation: every product is added into a `format` accumulator one term at a
    time (each partial sum rounded), promoted into `promote` every `block_k` terms (numerics.lowp_sum)."""
    format: str = "fp32"
    block_k: int | None = None
    promote: str = "fp32"

    def __post_init__(self):
        _check_format("AccSpec", "format", self.format)
        _check_format("AccSpec", "promote", self.promote)
        if self.block_k is not None:
            _check_number("AccSpec", "block_k", self.block_k, 1, integer=True)


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str = ""
    weight: QuantSpec = QuantSpec()
    input: QuantSpec = QuantSpec()
    output: QuantSpec = QuantSpec()
    grad_output: QuantSpec = QuantSpec()
    grad_weight: QuantSpec = QuantSpec()
    grad_input: QuantSpec = QuantSpec()
    accumulator: AccSpec | None = None
    estimator: str = "ste"              # ste | dge (FP4 paper's differentiable gradient estimator, weights)
    dge_k: float = 5.0
    dge_clip: float = 3.0
    optimizer: OptimSpec = OptimSpec()
    datapath: str = "sa32_fp32"         # sim arch preset (configs/arch/)
    skip_layers: tuple = ()             # fnmatch patterns of module names left in fp32
    tags: tuple = field(default=(), compare=False)

    def __post_init__(self):
        own = f"recipe {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"recipe: name={self.name!r} must be a non-empty string")
        for key in TENSOR_CLASSES:
            if not isinstance(getattr(self, key), QuantSpec):
                raise ValueError(f"{own}: {key} must be a QuantSpec")
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"{own}: estimator={self.estimator!r}; allowed: {', '.join(ESTIMATORS)}")
        _check_number(own, "dge_k", self.dge_k, 1)
        _check_number(own, "dge_clip", self.dge_clip, 0, lo_open=True)
        if not isinstance(self.datapath, str) or not self.datapath:
            raise ValueError(f"{own}: datapath={self.datapath!r} must name a sim arch preset")
        object.__setattr__(self, "skip_layers", tuple(self.skip_layers))
        object.__setattr__(self, "tags", tuple(self.tags))

    @property
    def bits_per_weight(self) -> float:
        """Bits of the weight operand the GEMMs read (what a deployed model stores)."""
        return self.weight.bits if not self.weight.identity else float(
            get_format(self.optimizer.weight_format).bits if self.optimizer.weight_format else 32)

    @property
    def train_bits_per_weight(self) -> float:
        """Bits kept per weight during training: stored weight (master or not), Kahan buffer, states."""
        o = self.optimizer
        w = get_format(o.weight_format).bits if o.weight_format else 32
        return float(w * (2 if o.kahan else 1) + o.n_states * get_format(o.state_format).bits)


# ---- dict / YAML round trip (every key validated) ----

def from_fields(cls, data, owner, base=None):
    """cls(**data) (or base with data replaced) with every key checked against cls's fields."""
    if not isinstance(data, dict):
        raise ValueError(f"{owner}: expected a mapping, got {data!r}")
    names = [f.name for f in dataclasses.fields(cls)]
    for k in data:
        if k not in names:
            raise ValueError(f"{owner}: unknown key {k!r}; allowed: {', '.join(names)}")
    try:
        return dataclasses.replace(base, **data) if base is not None else cls(**data)
    except ValueError as exc:
        msg, tail = str(exc), owner.rsplit(".", 1)[-1] + ": "   # "x.optimizer: optimizer: ..." said once
        raise ValueError(f"{owner}: {msg[len(tail):] if msg.startswith(tail) else msg}") from None
    except TypeError as exc:
        raise ValueError(f"{owner}: {exc}") from None


def spec_from_dict(data, owner="QuantSpec", base: QuantSpec | None = None) -> QuantSpec:
    if isinstance(data, str):   # shorthand: just a format name
        data = {"format": data}
    return from_fields(QuantSpec, data, owner, base)


def recipe_from_dict(data: dict, base: Recipe | None = None, owner: str = "recipe") -> Recipe:
    """Build a recipe from a mapping; with `base`, the mapping overrides the base recipe's fields."""
    if not isinstance(data, dict):
        raise ValueError(f"{owner}: expected a mapping, got {data!r}")
    names = [f.name for f in dataclasses.fields(Recipe)]
    out = {}
    for k, v in data.items():
        if k not in names:
            raise ValueError(f"{owner}: unknown key {k!r}; allowed: {', '.join(names)}")
        if k in TENSOR_CLASSES:
            out[k] = spec_from_dict(v, f"{owner}.{k}", getattr(base, k) if base else None)
        elif k == "accumulator":
            out[k] = None if v is None else from_fields(AccSpec, v, f"{owner}.accumulator",
                                                         base.accumulator if base else None)
        elif k == "optimizer":
            out[k] = from_fields(OptimSpec, v, f"{owner}.optimizer", base.optimizer if base else None)
        else:
            out[k] = tuple(v) if k in ("skip_layers", "tags") and isinstance(v, list) else v
    if base is None and "name" not in out:
        raise ValueError(f"{owner}: a new recipe needs a 'name'")
    return from_fields(Recipe, out, owner, base)


def recipe_to_dict(r: Recipe) -> dict:
    d = dataclasses.asdict(r)
    d["optimizer"]["betas"] = list(r.optimizer.betas)
    d["skip_layers"], d["tags"] = list(r.skip_layers), list(r.tags)
    return d
