"""lowbit.rtl: lowbit's Verilog reference units, shipped so that `lowbit verify` finds them in an installed wheel (lowbit.numerics._resources)."""
