"""The `Format` abstraction shared by every number format in lowbit (docs/design.md, "numerics").

A Format is a frozen, hashable value with `bits` and three operations: `encode(x) -> integer codes`,
`decode(codes) -> values` and `quantize(x) = decode(encode(x))` (computed directly, so NaN propagates
even where a format has no NaN code). Everything else is derived from the parameters.
"""
from __future__ import annotations

import abc

import numpy as np

from . import _fast, backend as _backend
from ._arrays import rebox, unbox_codes, unbox_float
from .rounding import Overflow, Rounding, check_rbits, parse_overflow, parse_rounding, random_bits, seed_from

__all__ = ["Format"]

DEFAULT_RBITS = 16


class Format(abc.ABC):
    """Base class: subclasses are frozen dataclasses implementing the `_`-methods on flat numpy arrays."""

    name: str
    bits: int
    default_overflow: Overflow = Overflow.IEEE
    allowed_overflow: tuple = (Overflow.SATURATE, Overflow.IEEE)

    # ---- subclass hooks (flat, contiguous numpy arrays) ----
    @abc.abstractmethod
    def _quantize_flat(self, x: np.ndarray, mode: Rounding, overflow: Overflow, rbits: int,
                       rand: np.ndarray | None, seed: int, offset: int) -> np.ndarray: ...

    @abc.abstractmethod
    def _encode_values(self, v: np.ndarray) -> np.ndarray: ...

    @abc.abstractmethod
    def _decode_flat(self, codes: np.ndarray) -> np.ndarray: ...

    # ---- public API ----
    def quantize(self, x, rounding="nearest_even", overflow=None, generator=None, rbits: int = DEFAULT_RBITS,
                 random_bits=None, offset: int = 0, backend=None):
        """Round x onto this format's grid; returns values in x's container, shape and device
        (float32, or float64 for float64 input or for formats wider than float32). `backend`: None
        (automatic, or $LOWBIT_BACKEND), 'torch', 'numba' or 'reference' (numerics/backend.py)."""
        be = _backend.resolve(backend, x)
        if be == "torch":
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

    def encode(self, x, rounding="nearest_even", overflow=None, generator=None, rbits: int = DEFAULT_RBITS,
               random_bits=None, offset: int = 0):
        """Round x as `quantize` does and return the bit patterns (int64, in [0, 2**bits))."""
        arr, box = unbox_float(x)
        mode, ovf, rbits, rand, seed = self._prepare(arr.size, rounding, overflow, generator, rbits,
                                                     random_bits, offset)
        v = self._quantize_flat(arr.reshape(-1).astype(np.float64), mode, ovf, rbits, rand, seed, offset)
        return rebox(self._encode_values(np.asarray(v, dtype=np.float64)), box)

    def decode(self, codes):
        """Values of integer codes (each must be in [0, 2**bits))."""
        c, box = unbox_codes(codes)
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

    def __str__(self) -> str:
        return self.name
