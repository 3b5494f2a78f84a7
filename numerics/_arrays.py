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
        if t.dtype not in (torch.float32, torch.float64):
            t = t.to(torch.float32)  # bf16/fp16/fp8 widen exactly to float32
        if t.device.type != "cpu":
            t = t.cpu()
        return (t if t.is_contiguous() else t.contiguous()).numpy(), box
    if isinstance(x, (float, int, np.floating)) and not isinstance(x, bool):
        return np.asarray([x], dtype=np.float64), Box("scalar", ())
    arr = np.asarray(x)
    if arr.dtype.kind != "f":
        # ml_dtypes arrays (bfloat16, float8_*) are kind 'V'; they widen exactly to float32.
        if arr.dtype.kind == "V" and arr.dtype.itemsize <= 2:
            arr = arr.astype(np.float32)
        else:
            raise ValueError(f"{what} must be floating point (float16/32/64, bfloat16), got dtype {arr.dtype}")
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float32)
    return np.ascontiguousarray(arr), Box("numpy", arr.shape)


def unbox_codes(codes, what: str = "codes") -> tuple[np.ndarray, Box]:
    """Return an int64 numpy array of integer codes and its Box."""
    if _is_torch(codes):
        if codes.is_floating_point() or codes.is_complex():
            raise ValueError(f"{what} must be an integer tensor, got dtype {codes.dtype}")
        box = Box("torch", tuple(codes.shape), codes.device)
        return np.ascontiguousarray(codes.detach().cpu().numpy().astype(np.int64, copy=False)), box
    if isinstance(codes, (int, np.integer)) and not isinstance(codes, bool):
        return np.asarray([codes], dtype=np.int64), Box("scalar", ())
    arr = np.asarray(codes)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{what} must be integers, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr.astype(np.int64, copy=False)), Box("numpy", arr.shape)


def rebox(arr: np.ndarray, box: Box):
    """Put a result back into the caller's container (same shape and device)."""
    arr = arr.reshape(box.shape)
    if box.kind == "torch":
        t = _torch().from_numpy(np.ascontiguousarray(arr))
        return t if box.device.type == "cpu" else t.to(box.device)
    if box.kind == "scalar":
        return arr.reshape(()).item()
    return arr
