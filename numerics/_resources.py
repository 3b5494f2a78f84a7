"""Where lowbit's shipped data lives (docs/design.md, "Layout"): the YAML presets (the repository's
configs/, installed as the package `lowbit.configs`) and the Verilog reference units (hw/rtl/, installed as
`lowbit.rtl`). Both are read through importlib.resources here and nowhere else, so a wheel installed
outside the source tree finds its presets and RTL exactly as an editable checkout does."""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path

__all__ = ["config_dir", "rtl_dir"]


def _folder(package: str) -> Path:
    root = files(package)
    if not isinstance(root, Path):   # a zip import: simulators and YAML readers need real files
        raise RuntimeError(f"lowbit's data package {package!r} is not on the file system ({root!r}); "
                           "install lowbit unzipped (pip does)")
    return root


def config_dir(kind: str) -> Path:
    """The folder of one kind of shipped preset, e.g. 'arch', 'energy', 'devices', 'runs', 'workloads'."""
    path = _folder("lowbit.configs") / kind
    if not path.is_dir():
        known = sorted(p.name for p in _folder("lowbit.configs").iterdir() if p.is_dir() and p.name[0] != "_")
        raise ValueError(f"no preset folder {kind!r} in lowbit's configs; known: {', '.join(known)}")
    return path


def rtl_dir() -> Path:
    """The folder of lowbit's Verilog reference units (hw/rtl in the repository)."""
    return _folder("lowbit.rtl")
