"""lowbit.optim: optimizers as pure step functions in one base class (base.py), by name in one registry
(registry.py), all configured by one hyper-parameter record (`OptimSpec`, spec.py)."""
from .base import FunctionalOptimizer, UpdateEvent
from .spec import OptimSpec
from .lowp import LowpOptimizer
from .madam import Madam, MadamHP
from .lns_madam import LNSMadam, LNSMadamHP
from .integer_madam import IntegerMadam, IntegerMadamHP
from .registry import OPTIMIZERS, OptimizerInfo, build_optimizer, list_optimizers

__all__ = ["FunctionalOptimizer", "UpdateEvent", "OptimSpec", "LowpOptimizer", "Madam", "MadamHP", "LNSMadam",
           "LNSMadamHP", "IntegerMadam", "IntegerMadamHP", "OPTIMIZERS", "OptimizerInfo", "build_optimizer",
           "list_optimizers"]
