"""Package discovery for lowbit's mapped folders (docs/design.md, "Layout"): src/ -> lowbit,
numerics/ -> lowbit.numerics, sim/ -> lowbit.sim, and the data folders configs/ -> lowbit.configs and
hw/rtl/ -> lowbit.rtl, shipped as package data so that an installed wheel finds its presets and RTL
(read through importlib.resources in lowbit.numerics._resources). Code subpackages are found, not listed,
so a new folder with an __init__.py can never break the build. Metadata is in pyproject.toml."""
from setuptools import find_packages, setup

ROOTS = {"lowbit": "src", "lowbit.numerics": "numerics", "lowbit.sim": "sim"}
DATA = {"lowbit.configs": ("configs", ["*/*.yaml"]), "lowbit.rtl": ("hw/rtl", ["*.v", "*.sv", "*.vh"])}
packages, package_dir, package_data = [], {}, {}
for pkg, folder in ROOTS.items():
    package_dir[pkg] = folder
    packages.append(pkg)
    packages += [f"{pkg}.{sub}" for sub in find_packages(folder)]
for pkg, (folder, globs) in DATA.items():
    package_dir[pkg] = folder
    packages.append(pkg)
    package_data[pkg] = globs

setup(packages=packages, package_dir=package_dir, package_data=package_data)
