"""Thread-count determinism: a training run gives the same bits however many threads the caller uses.

torch's CPU GEMMs split their reductions by the intra-op thread count, so the rounding of fp32 sums (and
hence every later quantization) depends on torch.get_num_threads(). The CLI's workers run single-threaded
(sweep.single_thread); `train_run` itself runs under `one_thread`, so calling the API under
torch.set_num_threads(1|2|4) gives bit-identical weights, equal to the CLI's. The caller's thread counts
are restored afterwards. (Numba's quantization kernels are elementwise: their results never depend on
the thread count; they are held at one thread too, as in the workers.)
"""
from __future__ import annotations

import contextlib
import functools

import torch

__all__ = ["one_thread", "single_threaded"]


@contextlib.contextmanager
def one_thread():
    """torch (and Numba) at one thread inside the block; the previous counts are restored."""
    import numba
    prev_torch, prev_numba = torch.get_num_threads(), numba.get_num_threads()
    torch.set_num_threads(1)
    numba.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(prev_torch)
        numba.set_num_threads(prev_numba)


def single_threaded(fn):
    """Decorator: run `fn` under one_thread (see the module docstring)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with one_thread():
            return fn(*args, **kwargs)
    return wrapper
