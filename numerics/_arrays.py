"""Boundary between user containers (torch tensors on any device, numpy arrays, Python scalars) and the
contiguous numpy arrays the reference and Numba kernels work on. Results go back in the caller's
container, shape and device."""
from __future__ import annotations

import sys
from typing import NamedTuple

import numpy as np


class Box(NamedTuple):
    # a NamedTuple, not a frozen dataclass: built on every quantize call, and a frozen dataclass's
    # __init__ costs about a microsecond
    kind: str          # "torch" | "numpy" | "scalar"
    shape: tuple
    device: object = None


def _torch():
    # torch is imported lazily: if the caller never imported it, x cannot be a tensor, and
    # `import lowbit.numerics` stays free of torch's import time.
    return sys.modules.get("torch")


def _is_torch(x) -> bool:
    torch = _torch()
    return torch is not None and isinstance(x, torch.Tensor)


def unbox_float(x, what: str = "x") -> tuple[np.ndarray, Box]:
    """Return a contiguous float32 or float64 numpy array with x's values (exactly) and its Box."""
    if _is_torch(x):
        if not (x.is_floating_point()):
            raise ValueError(f"{what} must be a floating-point tensor, got dtype {x.dtype}")
        torch = _torch()
        box = Box("torch", tuple(x.shape), x.device)
        t = x.detach()
        if t.device.type != "cpu":
            _no_meta(t, what)
            t = t.cpu()
        if t.dtype not in (torch.float32, torch.float64):
            t = t.to(torch.float32)  # bf16/fp16/fp8 widen exactly to float32
        return (t if t.is_contiguous() else t.contiguous()).numpy(), box
    if isinstance(x, (float, int, np.floating)) and not isinstance(x, bool):
        return np.asarray(x, dtype=np.float64), Box("scalar", ())
    arr = np.asarray(x)
    if arr.dtype.kind != "f":
        # ml_dtypes arrays (bfloat16, float8_*) are kind 'V'; they widen exactly to float32.
        if arr.dtype.kind == "V" and arr.dtype.itemsize <= 2:
            arr = arr.astype(np.float32)
        else:
            raise ValueError(f"{what} must be floating point (float16/32/64, bfloat16), got dtype {arr.dtype}")
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float32)
    return _contiguous(arr), Box("numpy", arr.shape)


def _contiguous(arr: np.ndarray) -> np.ndarray:
    # np.ascontiguousarray returns at least 1-d: a 0-d input would come back with shape (1,)
    return arr if arr.flags.c_contiguous else np.ascontiguousarray(arr)


def _no_meta(t, what: str):
    if t.device.type == "meta":
        raise ValueError(f"lowbit cannot read the values of a meta tensor ({what} is on device 'meta'): encode, "
                         f"decode and the numba/reference backends need values (quantize on the torch backend "
                         f"gives a meta result); materialize it first, e.g. .to_empty(device='cpu')")


def ndim(x) -> int:
    """Dimensions of x (a tensor's own `dim()`, which torch.compile traces; numpy's for the rest)."""
    return x.dim() if _is_torch(x) else np.ndim(x)


_I64_MAX = np.iinfo(np.int64).max


def _code_out_of_range(what: str, value: int, bound: int | None):
    allowed = f"codes are in [0, {bound})" if bound is not None else "codes must fit in 64 bits"
    return ValueError(f"{what}: {value} is out of range; {allowed}")


def unbox_codes(codes, what: str = "codes", bound: int | None = None) -> tuple[np.ndarray, Box]:
    """Return an int64 numpy array of integer codes and its Box. Codes that int64 cannot hold (Python
    ints from 2**63 up or below -2**63, uint64 from 2**63 up) are a ValueError naming their true value
    ("`what`: VALUE is out of range; codes are in [0, bound)"), never a wrapped-around code."""
    if _is_torch(codes):
        if codes.is_floating_point() or codes.is_complex():
            raise ValueError(f"{what} must be integers, got tensor dtype {codes.dtype}")
        box = Box("torch", tuple(codes.shape), codes.device)
        t = codes.detach()
        if t.device.type != "cpu":
            _no_meta(t, what)
            t = t.cpu()
        arr = t.numpy()
    elif isinstance(codes, (int, np.integer)) and not isinstance(codes, bool):
        value = int(codes)   # exact for Python ints of any size and for numpy uint64
        if not -_I64_MAX - 1 <= value <= _I64_MAX:
            raise _code_out_of_range(what, value, bound)
        return np.asarray(value, dtype=np.int64), Box("scalar", ())
    else:
        arr = np.asarray(codes)
        box = Box("numpy", arr.shape)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{what} must be integers, got dtype {arr.dtype}")
    if arr.dtype == np.uint64 and arr.size and int(arr.max()) > _I64_MAX:
        raise _code_out_of_range(what, int(arr.max()), bound)
    return _contiguous(arr.astype(np.int64, copy=False)), box


def rebox(arr: np.ndarray, box: Box):
    """Put a result back into the caller's container (same shape and device)."""
    arr = arr.reshape(box.shape)
    if box.kind == "torch":  # from_numpy keeps a 0-d array 0-d (np.ascontiguousarray would not)
        t = _torch().from_numpy(_contiguous(arr))
        return t if box.device.type == "cpu" else t.to(box.device)
    if box.kind == "scalar":
        return arr.reshape(()).item()
    return arr
