"""A tensor in a lowbit format as integer codes plus what it takes to read them back (its scales).

`encode_tensor(x, fmt)` calls the format's own `encode` (lowbit.numerics; nothing is rounded here) and
keeps the codes in the layout the format produced them in:
- an element format (FloatFormat, FixedFormat, LNS, ...): codes of x's shape, C order;
- a ScaledFormat (MX, NVFP4, ternary, per-channel int8, ...): the element codes with `axis` moved last
  and zero-padded to whole blocks (OCP MX v1.0 section 6), the scale codes (one per block/channel/
  tensor: e8m0 or e4m3 codes, or fp32 bit patterns for fp32 scales) and NVFP4's fp32 tensor scale.
`decode_tensor` turns them back into values that equal `fmt.quantize(x)` bit for bit.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from lowbit.numerics import ScaledCodes


__all__ = ["EncodedTensor", "encode_tensor", "decode_tensor", "is_scaled", "scale_bits", "same_values",
           "quantize_dtype", "layout_of"]


def is_scaled(fmt) -> bool:
    """Whether encode gives ScaledCodes (the Format interface's `is_scaled`)."""
    return fmt.is_scaled


def scale_bits(fmt) -> int:
    """Bits of one scale code: the scale format's width, or 32 for fp32 scales (bit patterns)."""
    return 32 if fmt.scale_format is None else int(fmt.scale_format.bits)


@dataclass
class EncodedTensor:
    fmt: object
    shape: tuple                      # the tensor's shape
    codes: np.ndarray                 # int64 element codes in the layout above
    axis: int | None = None           # scaled formats: the blocked axis (non-negative)
    padded: int = 0                   # zeros appended along the axis to fill the last block
    scales: np.ndarray | None = None  # int64 scale codes, shape (..., nblocks)
    tensor_scale: float | None = None

    @property
    def element_bits(self) -> int:
        return int(self.fmt.element.bits)

    @property
    def element_format(self):
        return self.fmt.element


def _numpy(x) -> np.ndarray:
    import torch
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.dtype.kind != "f":
        raise ValueError(f"tensor values must be floating point, got dtype {arr.dtype}")
    return arr


def encode_tensor(x, fmt, axis: int = -1, **rounding) -> EncodedTensor:
    """Encode x (numpy array or torch tensor) in `fmt`; `rounding` goes to the format's encode
    (rounding=, generator=, ...). `axis` is the blocked/channel axis of scaled formats."""
    arr = _numpy(x)
    shape = tuple(int(n) for n in arr.shape)
    if not is_scaled(fmt):
        codes = np.asarray(fmt.encode(arr, **rounding), dtype=np.int64).reshape(shape)
        return EncodedTensor(fmt, shape, codes)
    if arr.ndim and not -arr.ndim <= axis < arr.ndim:
        raise ValueError(f"axis={axis} is out of range for a tensor of shape {shape}")
    sc = fmt.encode(arr, axis=axis, **rounding)
    ts = None if sc.tensor_scale is None else float(np.float32(sc.tensor_scale))
    return EncodedTensor(fmt, shape, np.asarray(sc.codes, np.int64), int(sc.axis), int(sc.padded),
                         np.asarray(sc.scale_codes, np.int64), ts)


def layout_of(fmt, shape: tuple, axis: int) -> EncodedTensor:
    """Codes and scales (all zero) laid out as `encode_tensor` lays out a tensor of this shape and axis."""
    return encode_tensor(np.zeros(shape, np.float32), fmt, axis=axis)


@functools.lru_cache(maxsize=None)
def quantize_dtype(fmt):
    """The dtype `fmt.quantize` returns for float32 input (float32, or float64 where float32 cannot
    hold the format, e.g. int32); asked of the format itself, so new formats need no table here."""
    probe = np.zeros(1, np.float32)
    return np.asarray(fmt.quantize(probe, axis=-1)).dtype


def decode_tensor(enc: EncodedTensor, dtype=None) -> np.ndarray:
    """The tensor's values as numpy `dtype` (default: `quantize_dtype(fmt)`), bit for bit what
    `fmt.quantize` gives for the input that was encoded."""
    fmt = enc.fmt
    dtype = dtype or quantize_dtype(fmt)
    if not is_scaled(fmt):
        return np.asarray(fmt.decode(enc.codes)).astype(dtype).reshape(enc.shape)
    sc = ScaledCodes(enc.codes, enc.scales, enc.tensor_scale, enc.shape, enc.axis, enc.padded)
    return np.asarray(fmt.decode(sc)).astype(dtype).reshape(enc.shape)


def same_values(a, b) -> bool:
    """Bit-for-bit equality of two float arrays, except that every NaN equals every NaN."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    na, nb = np.isnan(a), np.isnan(b)
    if not np.array_equal(na, nb):
        return False
    ua = a.view(f"u{a.itemsize}")[~na]
    ub = b.view(f"u{b.itemsize}")[~nb]
    return bool(np.array_equal(ua, ub))

