"""Value checks shared by the frozen spec dataclasses (recipes, optimizer specs): each raises ONE
ValueError line naming the owner, the key, the value and what is allowed."""
from __future__ import annotations

import math

from lowbit.numerics import get_format
from lowbit.numerics.rounding import parse_rounding

__all__ = ["check_format", "check_number", "check_rounding", "check_choice"]


def check_format(owner: str, key: str, name):
    """The lowbit format `name` (ValueError naming owner.key if it is not a format name)."""
    if not isinstance(name, str):
        raise ValueError(f"{owner}: {key}={name!r} must be a format name (see `lowbit formats`)")
    try:
        return get_format(name)
    except ValueError as exc:
        raise ValueError(f"{owner}: {key}={name!r}: {exc}") from None


def check_number(owner, key, v, lo=None, hi=None, integer=False, lo_open=False):
    ok_type = (int,) if integer else (int, float)
    if isinstance(v, bool) or not isinstance(v, ok_type):
        raise ValueError(f"{owner}: {key}={v!r} must be {'an integer' if integer else 'a number'}")
    if not math.isfinite(v):
        raise ValueError(f"{owner}: {key}={v!r} must be a finite number")
    if lo is not None and (v < lo or (lo_open and v == lo)):
        raise ValueError(f"{owner}: {key}={v!r} must be {'>' if lo_open else '>='} {lo}")
    if hi is not None and v > hi:
        raise ValueError(f"{owner}: {key}={v!r} must be <= {hi}")


def check_rounding(owner: str, key: str, mode) -> None:
    try:
        parse_rounding(mode)
    except ValueError as exc:
        raise ValueError(f"{owner}: {key}={mode!r}: {exc}") from None


def check_choice(owner: str, key: str, v, allowed) -> None:
    if v not in allowed:
        raise ValueError(f"{owner}: {key}={v!r}; allowed: {', '.join(map(str, allowed))}")
