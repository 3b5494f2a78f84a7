"""Scaled formats: an element format with one scale per tensor, per channel or per block.

OCP Microscaling (MX) v1.0, section 6.3: blocks of k elements along the reduction axis share one E8M0
scale X = 2^(floor(log2(amax)) - emax_elem); elements are RNE(v / X) saturated to +-max; a NaN or Inf in
a block makes its scale NaN. The scale rule is explicit (`ScaleRule`): FLOOR (OCP, default); CEIL
(ceil(log2 amax) - emax_elem); EVEN (amax rounded half-up to the element's mantissa width first, as
torchao's ScaleCalculationMode.EVEN, so a block max of 6*2^s keeps its scale); RCEIL (NVIDIA:
2^ceil(log2(amax / max_elem)), never saturates); AMAX (scale = amax / max_elem rounded into a
non-power-of-two scale format, e.g. NVFP4's E4M3 block scales, or an fp32 per-tensor/per-channel scale);
ABSMEAN (BitNet b1.58, Ma et al. 2024: scale = mean |x| over the block's real elements, an fp32 scale;
with the trit element this is ternary quantization clip(round(x / mean|x|), -1, 1)).
NVFP4 (NVIDIA): e2m1 elements, block 16, E4M3 block scales under an fp32 per-tensor scale
amax_tensor / (6 * 448).

A block size that does not divide the axis is handled by zero padding (zeros never change a block's
amax) and trimming; `ScaledCodes.padded` records how many elements were padded.
"""
from __future__ import annotations

import enum
import functools
import math
from dataclasses import dataclass, field

import numpy as np

from . import _fast, backend as _backend
from ._arrays import ndim, rebox, unbox_float
from .floatfmt import FloatFormat
from .format import DEFAULT_RBITS, ElementFormat, Format, normalize_axis
from .rounding import Overflow, parse_overflow

__all__ = ["ScaleRule", "ScaledFormat", "ScaledCodes"]


class ScaleRule(enum.Enum):
    FLOOR = "floor"
    CEIL = "ceil"
    EVEN = "even"
    RCEIL = "rceil"
    AMAX = "amax"
    ABSMEAN = "absmean"


_POW2_RULES = (ScaleRule.FLOOR, ScaleRule.CEIL, ScaleRule.EVEN, ScaleRule.RCEIL)
GRANULARITIES = ("tensor", "channel", "block")


@dataclass
class ScaledCodes:
    codes: np.ndarray        # element codes, shape of x with `axis` moved last and padded to whole blocks
    scale_codes: np.ndarray  # one code per block (in the scale format), shape (..., nblocks)
    tensor_scale: float | None
    shape: tuple             # the original shape
    axis: int
    padded: int              # zero elements appended along the axis


def _ilog2(a: np.ndarray) -> np.ndarray:
    _, e = np.frexp(a)
    return e.astype(np.int64) - 1


@dataclass(frozen=True)
class ScaledFormat(Format):
    """A Format whose elements share scales: `encode` gives `ScaledCodes`, `decode` takes them, and
    `axis` (validated, never wrapped) is the axis the blocks / channels run along."""
    element: ElementFormat
    granularity: str = "block"
    block: int = 32
    scale_format: ElementFormat | None = None   # None: an fp32 scale
    scale_rule: ScaleRule = ScaleRule.FLOOR
    tensor_scale: bool = False
    name: str = field(default="", compare=False)

    is_scaled = True
    kind = "scaled"

    def __post_init__(self):
        if not isinstance(self.element, ElementFormat):
            raise ValueError(f"ScaledFormat: element={self.element!r} must be an elementwise format "
                             f"(FloatFormat, FixedFormat, LNSFormat)")
        if self.scale_format is not None and not isinstance(self.scale_format, ElementFormat):
            raise ValueError(f"ScaledFormat: scale_format={self.scale_format!r} must be an elementwise format "
                             f"or None (an fp32 scale)")
        if self.granularity not in GRANULARITIES:
            raise ValueError(f"ScaledFormat: granularity={self.granularity!r}; allowed: {', '.join(GRANULARITIES)}")
        if self.granularity == "block" and (isinstance(self.block, bool) or not isinstance(self.block, int)
                                            or self.block < 1):
            raise ValueError(f"ScaledFormat: block={self.block!r} must be a positive integer")
        rule = self.scale_rule if isinstance(self.scale_rule, ScaleRule) else None
        if rule is None:
            try:
                rule = ScaleRule(str(self.scale_rule))
            except ValueError:
                raise ValueError(f"ScaledFormat: scale_rule={self.scale_rule!r}; allowed: "
                                 f"{', '.join(r.value for r in ScaleRule)}") from None
            object.__setattr__(self, "scale_rule", rule)
        pow2_scale = isinstance(self.scale_format, FloatFormat) and self.scale_format.mbits == 0
        if rule is ScaleRule.ABSMEAN and self.scale_format is not None:
            raise ValueError("ScaledFormat: scale_rule 'absmean' keeps an fp32 scale; use scale_format=None")
        if rule is ScaleRule.AMAX and pow2_scale:
            raise ValueError(f"ScaledFormat: scale_rule 'amax' needs a scale format with mantissa bits (fp32, "
                             f"fp8_e4m3fn, bf16); {self.scale_format.name} holds powers of two only: use "
                             f"floor, ceil, even or rceil")
        if rule in _POW2_RULES and self.scale_format is not None and not pow2_scale:
            raise ValueError(f"ScaledFormat: scale_rule {rule.value!r} makes power-of-two scales; store them in "
                             f"e8m0fnu or fp32 (scale_format=None), not {self.scale_format.name}; or use 'amax'")
        if self.tensor_scale and rule is not ScaleRule.AMAX:
            raise ValueError("ScaledFormat: a second-level tensor_scale goes with scale_rule 'amax' (NVFP4)")
        if not self.name:
            object.__setattr__(self, "name", f"{self.element.name}_{self.granularity}"
                               + (str(self.block) if self.granularity == "block" else ""))

    @property
    def bits(self) -> float:
        """Storage bits per element, counting the block scale (amortized over the block)."""
        sbits = 32 if self.scale_format is None else self.scale_format.bits
        return self.element.bits + (sbits / self.block if self.granularity == "block" else 0.0)

    @property
    def axis_dependent(self) -> bool:
        """Block and channel scales depend on the axis they run along; one tensor scale does not."""
        return self.granularity != "tensor"

    def values(self):
        raise ValueError(f"{self.name} is a scaled format: its values depend on the scales; the element "
                         f"format's values are {self.name}.element.values()")

    @functools.cached_property
    def emax_elem(self) -> int:
        return int(_ilog2(np.array([self.element.max]))[0])

    # ---- the scale of each block ----
    def _scales(self, amax: np.ndarray, tensor_scale: float | None) -> tuple[np.ndarray, np.ndarray | None]:
        """(scale value per block as float64, scale code per block or None for fp32 scales)."""
        bad = ~np.isfinite(amax)
        a = np.where(bad | (amax == 0), 1.0, amax)
        rule, emax = self.scale_rule, self.emax_elem
        if rule in _POW2_RULES:
            lg = _ilog2(a)
            if rule is ScaleRule.FLOOR:
                e = lg - emax
            elif rule is ScaleRule.CEIL:
                e = lg + (a > np.ldexp(1.0, lg)) - emax
            elif rule is ScaleRule.EVEN:
                mb = self.element.mantissa_bits
                e = lg + (a >= np.ldexp(2.0 - math.ldexp(1.0, -(mb + 1)), lg)) - emax
            else:  # RCEIL: the smallest e with max_elem * 2^e >= amax, by exact comparisons
                e = lg - emax
                e = e + (np.ldexp(self.element.max, e) < a)
                e = e + (np.ldexp(self.element.max, e) < a)
            lo, hi = (-127, 127) if self.scale_format is not None else (-149, 127)
            e = np.where(amax == 0, lo, np.clip(e, lo, hi))
            scale = np.ldexp(1.0, e)
            codes = None if self.scale_format is None else (e + 127).astype(np.int64)
            if codes is not None:
                codes = np.where(bad, 0xFF, codes)
        elif rule is ScaleRule.ABSMEAN:
            # `amax` carries the block's mean |x| here; the scale is that mean held in fp32.
            codes = None
            scale = np.where(amax == 0, 0.0, a.astype(np.float32).astype(np.float64))
        else:
            ts = 1.0 if tensor_scale is None else tensor_scale
            raw = a / self.element.max / ts
            if self.scale_format is None:
                s = raw.astype(np.float32).astype(np.float64)
                codes = None
            else:
                codes = self.scale_format.encode(raw, overflow="saturate")
                s = self.scale_format.decode(codes).astype(np.float64)
            scale = np.where(amax == 0, 0.0, s * ts)
            if codes is not None:
                codes = np.where(amax == 0, 0, codes)
                if self.scale_format.nan_code is not None:  # a NaN block keeps its NaN in the codes
                    codes = np.where(bad, self.scale_format.nan_code, codes)
        scale = np.where(bad, np.nan, scale)
        return scale, codes

    def _blocks(self, arr: np.ndarray, ax: int):
        # ax: a normalized axis (normalize_axis); a 0-d input is one element along axis 0
        if arr.ndim == 0:
            arr = arr.reshape(1)
        moved = arr if ax == arr.ndim - 1 else np.moveaxis(arr, ax, -1)
        n = moved.shape[-1]
        if self.granularity == "tensor":
            blk = max(moved.size, 1)
            moved = moved.reshape(1, -1)
        else:
            blk = self.block if self.granularity == "block" else max(n, 1)
        pad = (-moved.shape[-1]) % blk
        if pad:
            moved = np.concatenate([moved, np.zeros(moved.shape[:-1] + (pad,), moved.dtype)], axis=-1)
        # the block count is explicit: -1 cannot be inferred when another axis is empty
        return moved, moved.reshape(moved.shape[:-1] + (moved.shape[-1] // blk, blk)), pad

    def _split(self, arr, ax):
        x64 = arr.astype(np.float64)
        moved, blocks, pad = self._blocks(x64, ax)
        if self.scale_rule is ScaleRule.ABSMEAN:
            # Mean over the real elements only: padding zeros must not shrink the last block's scale.
            n_real = np.full(blocks.shape[:-2] + (blocks.shape[-2],), blocks.shape[-1], dtype=np.float64)
            if pad and n_real.size:
                n_real[..., -1] -= pad
            amax = np.sum(np.abs(blocks), axis=-1) / np.maximum(n_real, 1) if blocks.size else n_real * 0
        else:
            amax = np.max(np.abs(blocks), axis=-1) if blocks.size else np.zeros(blocks.shape[:-1])
        amax = np.where(np.isnan(blocks).any(axis=-1), np.nan, amax) if blocks.size else amax
        ts = self._tensor_scale(x64) if self.tensor_scale else None
        scale, scode = self._scales(amax, ts)
        return moved, blocks, pad, scale, scode, ts

    def _tensor_scale(self, x) -> float:
        """NVFP4's second level: fp32(max |x| / (max_elem * max_scale)), 1 for an all-zero tensor."""
        # max |x| as max(max x, -min x): the same value (NaN propagates through np.maximum) without an
        # |x| temporary (a tenth of the time on a GEMM operand)
        tmax = float(np.maximum(x.max(), -x.min())) if x.size else 0.0
        return float(np.float32(tmax / (self.element.max * self.scale_format.max))) if tmax > 0 else 1.0

    def _fast_path(self) -> bool:
        # signed elements the kernels round; power-of-two rules, or amax with an fp32 or kernel-rounded scale
        amax = self.scale_rule is ScaleRule.AMAX and (self.scale_format is None or _fast.supports(self.scale_format))
        return (_fast.supports(self.element) and self.element.signed
                and (self.scale_rule in _POW2_RULES or amax))

    def _check_call(self, overflow, offset):
        if overflow is not None and parse_overflow(overflow) is not Overflow.SATURATE:
            raise ValueError(f"{self.name}: overflow={overflow!r} is not available; scaled formats saturate "
                             f"their elements (allowed: 'saturate')")
        if offset != 0:
            raise ValueError(f"{self.name}: offset={offset!r} is not available for scaled formats (their random "
                             f"stream is indexed by position in the block layout); allowed: 0")

    def quantize(self, x, axis: int = -1, rounding="nearest_even", overflow=None, generator=None,
                 rbits: int = DEFAULT_RBITS, random_bits=None, offset: int = 0, backend=None):
        """Values after scaling, element rounding (saturating) and unscaling, in x's container/shape.
        `backend` as ElementFormat.quantize's (numerics/backend.py)."""
        self._check_call(overflow, offset)
        ax = normalize_axis(axis, ndim(x))
        be = _backend.resolve(backend, x)
        if be == "torch":   # a meta tensor gives a meta result here, as torch ops do; the CPU path refuses it
            from . import _torch_backend
            return _torch_backend.scaled_quantize(self, x, ax, rounding, generator, rbits, random_bits)
        if be == "reference":
            with _fast.reference_only():
                return self._quantize_cpu(x, ax, rounding, generator, rbits, random_bits)
        return self._quantize_cpu(x, ax, rounding, generator, rbits, random_bits)

    def _quantize_cpu(self, x, ax, rounding, generator, rbits, random_bits):
        arr, box = unbox_float(x)
        if self._fast_path() and arr.size:
            # the kernel reads blocks along axis `ax` of arr viewed as (P, L, R) in place (no moved copy);
            # one tensor-wide block is the flat array in its axis-last order
            if self.granularity == "tensor":
                moved = np.moveaxis(arr.reshape(-1) if arr.ndim == 0 else arr, ax, -1)
                x3 = np.ascontiguousarray(moved).reshape(1, -1, 1)
                blk = x3.shape[1]
            else:
                shape = arr.shape if arr.ndim else (1,)
                x3 = arr.reshape(int(np.prod(shape[:ax])), shape[ax], int(np.prod(shape[ax + 1:])))
                blk = self.block if self.granularity == "block" else x3.shape[1]
            n = x3.shape[0] * x3.shape[2] * (-(-x3.shape[1] // blk) * blk)   # the zero-padded layout
            mode, _, rbits, rand, seed = self.element._prepare(n, rounding, Overflow.SATURATE, generator,
                                                               rbits, random_bits, 0)
            lo, hi = (-127, 127) if self.scale_format is not None else (-149, 127)
            amax = self.scale_rule is ScaleRule.AMAX
            q = _fast.quantize_blocks(self.element, self.scale_rule.value, x3, blk, mode, rbits, rand, seed,
                                      lo, hi, arr.dtype if arr.dtype == np.float32 else np.float64,
                                      self.scale_format if amax else None,
                                      self._tensor_scale(arr) if self.tensor_scale else 1.0)
            if self.granularity == "tensor":
                q = np.moveaxis(q.reshape(moved.shape), -1, ax)
            return rebox(q.reshape(arr.shape), box)
        moved, blocks, pad, scale, _, _ = self._split(arr, ax)
        q = self._elements(blocks, scale, rounding, generator, rbits, random_bits, encode=False)
        vals = (q * scale[..., None]).reshape(moved.shape)
        out = self._unmove(vals, arr.shape, ax, pad)
        return rebox(out.astype(np.float32 if arr.dtype == np.float32 else np.float64), box)

    def _elements(self, blocks, scale, rounding, generator, rbits, random_bits, encode):
        with np.errstate(invalid="ignore", divide="ignore"):
            v = np.where(scale[..., None] > 0, blocks / np.where(scale > 0, scale, 1.0)[..., None], 0.0)
        v = np.where(np.isnan(scale)[..., None], np.nan, v)
        fn = self.element.encode if encode else self.element.quantize
        return fn(v, rounding=rounding, overflow=Overflow.SATURATE, generator=generator, rbits=rbits,
                  random_bits=random_bits)

    def _unmove(self, vals, shape, ax, pad):
        if self.granularity == "tensor":
            flat = vals.reshape(-1)[: int(np.prod(shape))]
            return flat.reshape(shape)
        if pad:
            vals = vals[..., : vals.shape[-1] - pad]
        if len(shape) == 0:
            return vals.reshape(())
        return vals if ax == len(shape) - 1 else np.moveaxis(vals, -1, ax)

    def encode(self, x, axis: int = -1, rounding="nearest_even", overflow=None, generator=None,
               rbits: int = DEFAULT_RBITS, random_bits=None, offset: int = 0) -> ScaledCodes:
        """Element codes, scale codes and NVFP4's tensor scale of x (`ScaledCodes`, with the normalized
        axis). A NaN block is carried by its scale's NaN code; its elements encode as 0."""
        self._check_call(overflow, offset)
        arr, box = unbox_float(x)
        ax = normalize_axis(axis, arr.ndim)
        moved, blocks, pad, scale, scode, ts = self._split(arr, ax)
        safe_scale = np.where(np.isnan(scale), 0.0, scale)
        codes = self._elements(blocks, safe_scale, rounding, generator, rbits, random_bits, encode=True)
        if scode is None:
            scode = scale.astype(np.float32).view(np.int32).astype(np.int64) & 0xFFFFFFFF
        return ScaledCodes(codes.reshape(moved.shape), scode, ts, tuple(box.shape), ax, pad)

    def decode(self, sc: ScaledCodes) -> np.ndarray:
        """Values (float64 numpy, the shape `encode` was given) of encoded blocks."""
        if not isinstance(sc, ScaledCodes):
            raise ValueError(f"{self.name}: decode takes the ScaledCodes that encode returns, got {type(sc).__name__}")
        moved_shape = sc.codes.shape
        blk = moved_shape[-1] if self.granularity != "block" else self.block
        if self.granularity == "tensor":
            blk = int(np.prod(moved_shape))
        blk = max(blk, 1)  # empty tensors
        elems = np.asarray(self.element.decode(sc.codes), dtype=np.float64).reshape(-1, blk)
        if self.scale_format is None:
            scale = sc.scale_codes.astype(np.uint32).view(np.float32).astype(np.float64).reshape(-1)
        else:
            scale = np.asarray(self.scale_format.decode(sc.scale_codes), dtype=np.float64).reshape(-1)
            if self.tensor_scale and sc.tensor_scale is not None:
                scale = scale * sc.tensor_scale
        vals = (elems * scale[:, None]).reshape(moved_shape)
        return self._unmove(vals, sc.shape, sc.axis, sc.padded)

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "bits": self.bits, "element": self.element.name, "granularity": self.granularity,
                "block": self.block if self.granularity == "block" else None,
                "scale_format": "fp32" if self.scale_format is None else self.scale_format.name,
                "scale_rule": self.scale_rule.value, "tensor_scale": self.tensor_scale}
