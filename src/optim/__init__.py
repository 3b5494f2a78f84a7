"""lowbit.optim: optimizers as pure step functions in thin torch.optim shells (see base.py).
Engineers add their exports below with one import line each."""
from .base import FunctionalOptimizer
from .lowp import LowpHP, LowpOptimizer
from .registry import build_optimizer, list_optimizers, register_optimizer

__all__ = ["FunctionalOptimizer"]
__all__ += ["LowpHP", "LowpOptimizer", "build_optimizer", "list_optimizers", "register_optimizer"]
from .madam import Madam, MadamHP
from .lns_madam import LNSMadam, LNSMadamHP
from .integer_madam import IntegerMadam, IntegerMadamHP
__all__ += ["Madam", "MadamHP", "LNSMadam", "LNSMadamHP", "IntegerMadam", "IntegerMadamHP"]
from . import lns_recipes  # noqa: F401  (registers madam/lns_madam/integer_madam and the lns_* recipes)
