"""Package discovery for lowbit's three mapped folders (docs/design.md: src/ -> lowbit, numerics/ -> lowbit.numerics,
sim/ -> lowbit.sim). Subpackages are found, not listed, so a new folder with an __init__.py can never break
the build again (an explicit list naming a missing folder is what failed CI before). Metadata is in
pyproject.toml."""
from setuptools import find_packages, setup

ROOTS = {"lowbit": "src", "lowbit.numerics": "numerics", "lowbit.sim": "sim"}
packages, package_dir = [], {}
for pkg, folder in ROOTS.items():
    package_dir[pkg] = folder
    packages.append(pkg)
    packages += [f"{pkg}.{sub}" for sub in find_packages(folder)]

setup(packages=packages, package_dir=package_dir)
