"""Optional packages of the export targets (pyproject extra `export`): a clear error when one is missing."""
from __future__ import annotations

import importlib

__all__ = ["require"]


def require(module: str, what: str):
    """Import `module` (e.g. "safetensors.numpy") or raise a ValueError saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        raise ValueError(f"{what} needs the '{top}' package: pip install 'lowbit[export]' (or pip install {top})") from None
