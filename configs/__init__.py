"""lowbit.configs: the YAML presets shipped with lowbit (runs, arch, energy, devices, workloads); read through lowbit.numerics._resources."""
