"""lowbit.sim: the Numba cycle/energy simulator of accelerator datapaths (DESIGN.md, "sim")."""
