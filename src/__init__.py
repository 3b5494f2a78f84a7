"""lowbit: co-design low-precision number formats, learning rules and accelerator hardware.

Subpackages: `lowbit.numerics` (bit-accurate formats), `lowbit.sim` (cycle/energy simulator),
and the torch training path in this package. See docs/design.md for the map.
"""

__version__ = "0.1.0"
