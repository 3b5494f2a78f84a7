"""lowbit.optim: optimizers as pure step functions in thin torch.optim shells (see base.py).
Engineers add their exports below with one import line each."""
from .base import FunctionalOptimizer

__all__ = ["FunctionalOptimizer"]
