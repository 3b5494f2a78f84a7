"""Backend selection for `quantize`: which implementation rounds a call.

  torch      numerics/_torch_backend.py: torch tensor operations on the tensor's own device (any device
             with float64 and int64: CPU, CUDA, ROCm, XPU); no host transfer; traces under torch.compile
  numba      the CPU kernels (numerics/_fast.py, _fast_lns.py) where they cover the format and mode, the
             numpy reference elsewhere; a tensor on another device is copied to the host and back
  reference  the numpy reference only (the source of truth the other two are tested against)

`backend=None` (the default) reads the environment variable LOWBIT_BACKEND (one of the names above; unset
or empty: automatic), and automatic picks the torch backend for tensors on a non-CPU device and the
CPU path (`numba`, with its bf16 cast lane) otherwise: on the CPU that path is the faster one
(benchmarks/device_parity.py). Every backend gives the same bits (tests/numerics/test_torch_backend.py).
"""
from __future__ import annotations

import os

from . import _fast
from ._arrays import _is_torch

__all__ = ["BACKENDS", "ENV", "check_backend", "resolve"]

BACKENDS = ("torch", "numba", "reference")
ENV = "LOWBIT_BACKEND"


def check_backend(value, what: str = "backend"):
    """value if it names a backend (or is None); a one-line ValueError otherwise."""
    if value is None or (isinstance(value, str) and value in BACKENDS):
        return value
    raise ValueError(f"{what}={value!r} is not a backend; allowed: {', '.join(BACKENDS)}")


def resolve(backend, x) -> str:
    """The backend that rounds x: 'torch', 'numba', 'reference' or 'cpu' (the automatic CPU path)."""
    if backend is None:
        backend = check_backend(os.environ.get(ENV) or None, ENV)
    elif backend not in BACKENDS:
        check_backend(backend)
    if backend is None:
        return "torch" if _is_torch(x) and x.device.type != "cpu" else "cpu"
    if backend == "numba" and not _fast.available():
        raise ValueError("backend='numba': Numba is not installed or its JIT is disabled here; "
                         "use backend='torch' or 'reference'")
    return backend
