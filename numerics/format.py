"""The one `Format` interface of every number format in lowbit (docs/design.md, "numerics").

A format is a frozen, hashable value. Elementwise formats (`ElementFormat`: FloatFormat, FixedFormat,
LNSFormat) round each element on its own; scaled formats (`ScaledFormat`: MX, NVFP4, ternary, per-channel
int8, ...) divide blocks of elements by a shared scale first. Both implement the same interface, so
callers never need to tell them apart by `hasattr` or class names:

  name, bits       bits = storage bits per element (for scaled formats the scale bits amortized over
                   the block are included: mxfp4_e2m1 = 4.25); `element.bits` is the width of one code
  element          the format of one element's code (an elementwise format is its own element)
  is_scaled        whether encode gives `ScaledCodes` (element codes + scale codes) or plain codes
  axis_dependent   whether the result depends on `axis` (block and channel scaling)
  kind             "float", "fixed", "lns" or "scaled" (for display and manifests, not for dispatch)
  quantize(x, axis=-1, rounding=, overflow=, generator=, rbits=, random_bits=, offset=)
  encode(x, axis=-1, ...), decode(codes), describe(), kernel_grid(mode, overflow)

`axis` is the blocking / channel axis of scaled formats: an integer in [-ndim, ndim) (a 0-d input is one
element, axis 0 or -1); anything else is a ValueError naming the axis and the allowed range, never a
wrap-around. Elementwise formats validate it the same way and otherwise ignore it. Results come back in
the caller's container, shape (a 0-d input gives a 0-d result) and device.
"""
from __future__ import annotations

import abc

import numpy as np

from . import _fast, backend as _backend
from ._arrays import ndim, rebox, unbox_codes, unbox_float
from .rounding import Overflow, Rounding, check_rbits, parse_overflow, parse_rounding, random_bits, seed_from

__all__ = ["Format", "ElementFormat", "normalize_axis"]

DEFAULT_RBITS = 16


def normalize_axis(axis, ndim: int) -> int:
    """`axis` as a non-negative axis of an array with `ndim` dimensions (a 0-d array counts as one
    element: axis 0 or -1). ValueError naming the axis and the allowed range otherwise."""
    n = max(ndim, 1)
    if type(axis) is not int:  # the hot path: a plain int; numpy integers are accepted too, bools are not
        if isinstance(axis, bool) or not isinstance(axis, np.integer):
            raise ValueError(f"axis={axis!r} ({type(axis).__name__}) must be an integer in [{-n}, {n}) for a "
                             f"{ndim}-d input")
        axis = int(axis)
    if not -n <= axis < n:
        raise ValueError(f"axis={axis} is out of range for a {ndim}-d input; allowed: integers in [{-n}, {n})")
    return axis + n if axis < 0 else axis


class Format(abc.ABC):
    """The interface every lowbit format implements (see the module docstring)."""

    name: str
    bits: int | float
    is_scaled: bool = False
    kind: str = ""

    @property
    def axis_dependent(self) -> bool:
        return False

    @abc.abstractmethod
    def quantize(self, x, axis: int = -1, rounding="nearest_even", overflow=None, generator=None,
                 rbits: int = DEFAULT_RBITS, random_bits=None, offset: int = 0):
        """Round x onto the format's grid; values in x's container, shape and device."""

    @abc.abstractmethod
    def encode(self, x, axis: int = -1, rounding="nearest_even", overflow=None, generator=None,
               rbits: int = DEFAULT_RBITS, random_bits=None, offset: int = 0):
        """The codes of x rounded as `quantize` rounds it."""

    @abc.abstractmethod
    def decode(self, codes):
        """The values of codes `encode` gave."""

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "bits": self.bits}

    def kernel_grid(self, mode: Rounding, overflow: Overflow) -> tuple | None:
        """The Numba element kernel's scalar parameters for (mode, overflow) (see numerics/_fast.py), or
        None where the kernels do not round this format."""
        return None

    def __str__(self) -> str:
        return self.name


class ElementFormat(Format):
    """Base of elementwise formats: frozen dataclasses implementing the `_`-methods on flat numpy arrays."""

    default_overflow: Overflow = Overflow.IEEE
    allowed_overflow: tuple = (Overflow.SATURATE, Overflow.IEEE)

    @property
    def element(self) -> ElementFormat:
        return self

    @property
    def mantissa_bits(self) -> int:
        """Stored mantissa bits (floats); 0 for formats without a mantissa. The block scale rule 'even'
        rounds a block's amax to this many bits."""
        return 0

    # ---- subclass hooks (flat, contiguous numpy arrays) ----
    @abc.abstractmethod
    def _quantize_flat(self, x: np.ndarray, mode: Rounding, overflow: Overflow, rbits: int,
                       rand: np.ndarray | None, seed: int, offset: int) -> np.ndarray: ...

    @abc.abstractmethod
    def _encode_values(self, v: np.ndarray) -> np.ndarray: ...

    @abc.abstractmethod
    def _decode_flat(self, codes: np.ndarray) -> np.ndarray: ...

    # ---- public API ----
    def quantize(self, x, axis: int = -1, rounding="nearest_even", overflow=None, generator=None,
                 rbits: int = DEFAULT_RBITS, random_bits=None, offset: int = 0, backend=None):
        """Round x onto this format's grid; returns values in x's container, shape and device
        (float32, or float64 for float64 input or for formats wider than float32). `axis` is validated
        and otherwise unused (elementwise rounding). `backend`: None (automatic, or $LOWBIT_BACKEND),
        'torch', 'numba' or 'reference' (numerics/backend.py)."""
        if type(axis) is not int or axis != -1:   # -1 is valid for every input: skip the check on the hot path
            normalize_axis(axis, ndim(x))
        be = _backend.resolve(backend, x)
        if be == "torch":   # a meta tensor gives a meta result here, as torch ops do; the CPU path refuses it
            from . import _torch_backend
            return _torch_backend.format_quantize(self, x, rounding, overflow, generator, rbits, random_bits, offset)
        if be == "reference":
            with _fast.reference_only():
                return self._quantize_cpu(x, rounding, overflow, generator, rbits, random_bits, offset)
        return self._quantize_cpu(x, rounding, overflow, generator, rbits, random_bits, offset)

    def _quantize_cpu(self, x, rounding, overflow, generator, rbits, random_bits, offset):
        """The CPU path: numpy arrays through the Numba kernels or the numpy reference."""
        arr, box = unbox_float(x)
        mode, ovf, rbits, rand, seed = self._prepare(arr.size, rounding, overflow, generator, rbits,
                                                     random_bits, offset)
        out = self._quantize_flat(arr.reshape(-1), mode, ovf, rbits, rand, seed, offset)
        return rebox(out, box)

    def encode(self, x, axis: int = -1, rounding="nearest_even", overflow=None, generator=None,
               rbits: int = DEFAULT_RBITS, random_bits=None, offset: int = 0):
        """Round x as `quantize` does and return the bit patterns (int64, in [0, 2**bits))."""
        arr, box = unbox_float(x)
        normalize_axis(axis, arr.ndim)
        mode, ovf, rbits, rand, seed = self._prepare(arr.size, rounding, overflow, generator, rbits,
                                                     random_bits, offset)
        v = self._quantize_flat(arr.reshape(-1).astype(np.float64), mode, ovf, rbits, rand, seed, offset)
        return rebox(self._encode_values(np.asarray(v, dtype=np.float64)), box)

    def decode(self, codes):
        """Values of integer codes (each must be in [0, 2**bits))."""
        c, box = unbox_codes(codes, f"{self.name} codes", 1 << self.bits)
        flat = c.reshape(-1)
        bad = (flat < 0) | (flat >= (1 << self.bits))
        if bad.any():
            raise ValueError(f"{self.name}: code {int(flat[bad][0])} out of range; codes are in [0, {1 << self.bits})")
        unused = self._unused_codes(flat)
        if unused.any():
            raise ValueError(f"{self.name}: code {int(flat[unused][0])} is not used by this format")
        return rebox(self._decode_flat(flat), box)

    def _unused_codes(self, codes: np.ndarray) -> np.ndarray:
        """Mask of codes in [0, 2**bits) that the format does not use (decode refuses them)."""
        return np.zeros(codes.shape, dtype=bool)

    def values(self) -> np.ndarray:
        """Every value of the format in code order (formats of 16 bits or fewer)."""
        if self.bits > 16:
            raise ValueError(f"{self.name} has {self.bits} bits; values() enumerates formats of at most 16 bits")
        return self._decode_flat(np.arange(1 << self.bits, dtype=np.int64))

    # ---- shared plumbing ----
    def _prepare(self, n, rounding, overflow, generator, rbits, random_bits_arr, offset):
        mode = parse_rounding(rounding)
        ovf = self.default_overflow if overflow is None else parse_overflow(overflow)
        if ovf not in self.allowed_overflow:
            allowed = ", ".join(o.value for o in self.allowed_overflow)
            raise ValueError(f"{self.name}: overflow={ovf.value!r} is not available; allowed: {allowed}")
        rand, seed = None, 0
        if mode is Rounding.STOCHASTIC:
            rbits = check_rbits(rbits)
            if random_bits_arr is not None:
                rarr, _ = unbox_codes(random_bits_arr, "random_bits")
                rand = rarr.reshape(-1)
                if rand.size != n:
                    raise ValueError(f"random_bits has {rand.size} values for {n} inputs; give one per input")
                if rand.size and (rand.min() < 0 or rand.max() >= (1 << rbits)):
                    raise ValueError(f"random_bits must lie in [0, 2**rbits) = [0, {1 << rbits})")
            else:
                seed = seed_from(generator)
        return mode, ovf, rbits, rand, seed

    @staticmethod
    def _stream(seed, n, rbits, offset, rand):
        return rand if rand is not None else random_bits(seed, n, rbits, offset)
