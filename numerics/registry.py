"""One registry of named formats. Names follow ml_dtypes / OCP (fp8_e4m3fn, fp4_e2m1fn, e8m0fnu, ...);
limits are derived from each format's parameters (see floatfmt.py), never typed in here.

Parametric names are parsed too: `fixed<bits>_<frac>` (e.g. fixed16_8), `int<b>`/`uint<b>`, and
`e<E>m<M>` / `e<E>m<M>fn` / `e<E>m<M>fnuz` custom minifloats with the default bias.
"""
from __future__ import annotations

import re

from .fixed import FixedFormat
from .floatfmt import FloatFormat
from .format import Format
from .scaled import ScaledFormat, ScaleRule
from .ternary import TRIT, ternary_format

__all__ = ["get_format", "register_format", "list_formats"]

_REGISTRY: dict[str, Format] = {}


def register_format(fmt, name: str | None = None, replace: bool = False):
    """Add a format value under `name` (default: fmt.name). Returns the format."""
    if not isinstance(fmt, Format):
        raise ValueError(f"register_format: expected a Format, got {type(fmt).__name__}")
    key = name or fmt.name
    if key in _REGISTRY and not replace and _REGISTRY[key] != fmt:
        raise ValueError(f"format name {key!r} is already registered")
    _REGISTRY[key] = fmt
    return fmt


def list_formats() -> list[str]:
    return list(_REGISTRY)


_PARAM = [
    (re.compile(r"^fixed(\d+)_(-?\d+)(u?)$"), lambda m: FixedFormat(int(m[1]), int(m[2]), signed=not m[3])),
    (re.compile(r"^(u?)int(\d+)$"), lambda m: FixedFormat(int(m[2]), 0, signed=not m[1])),
    (re.compile(r"^e(\d+)m(\d+)(fn|fnuz)?$"),
     lambda m: FloatFormat(int(m[1]), int(m[2]), policy={None: "ieee", "fn": "fn", "fnuz": "fnuz"}[m[3]])),
]


def get_format(name):
    """The format registered as `name` (a Format passes through). Unknown names raise ValueError."""
    if isinstance(name, Format):
        return name
    if not isinstance(name, str):
        raise ValueError(f"format must be a name (str) or a Format, got {type(name).__name__}")
    if name in _REGISTRY:
        return _REGISTRY[name]
    for pat, make in _PARAM:
        m = pat.match(name)
        if m:
            return make(m)
    raise ValueError(f"unknown format {name!r}; known: {', '.join(_REGISTRY)} "
                     "(and parametric fixed<bits>_<frac>, int<b>, uint<b>, e<E>m<M>[fn|fnuz])")


def _presets():
    F = FloatFormat
    for fmt in [
        F(8, 23, name="fp32"), F(8, 7, name="bf16"), F(5, 10, name="fp16"),
        F(5, 2, name="fp8_e5m2"), F(4, 3, policy="fn", name="fp8_e4m3fn"), F(4, 3, name="fp8_e4m3"),
        F(4, 3, bias=8, policy="fnuz", name="fp8_e4m3fnuz"), F(5, 2, bias=16, policy="fnuz", name="fp8_e5m2fnuz"),
        F(3, 2, policy="none", name="fp6_e3m2fn"), F(2, 3, policy="none", name="fp6_e2m3fn"),
        F(2, 1, policy="none", name="fp4_e2m1fn"), F(8, 0, policy="fn", signed=False, name="e8m0fnu"),
        FixedFormat(8, 0, name="int8"), FixedFormat(4, 0, name="int4"), FixedFormat(2, 0, name="int2"),
        FixedFormat(16, 0, name="int16"), FixedFormat(32, 0, name="int32"),
        FixedFormat(8, 0, signed=False, name="uint8"),
    ]:
        register_format(fmt)
    e8m0 = _REGISTRY["e8m0fnu"]
    for elem, nm in [("fp8_e4m3fn", "mxfp8_e4m3"), ("fp8_e5m2", "mxfp8_e5m2"), ("fp6_e3m2fn", "mxfp6_e3m2"),
                     ("fp6_e2m3fn", "mxfp6_e2m3"), ("fp4_e2m1fn", "mxfp4_e2m1")]:
        register_format(ScaledFormat(_REGISTRY[elem], "block", 32, e8m0, ScaleRule.FLOOR, name=nm))
    # MXINT8: two's complement int8 with an implicit scale of 2^-6 (OCP MX v1.0 section 5.3.4).
    register_format(ScaledFormat(FixedFormat(8, 6, name="mxint8_element"), "block", 32, e8m0, ScaleRule.FLOOR,
                                 name="mxint8"))
    register_format(ScaledFormat(_REGISTRY["fp4_e2m1fn"], "block", 16, _REGISTRY["fp8_e4m3fn"], ScaleRule.AMAX,
                                 tensor_scale=True, name="nvfp4"))
    register_format(TRIT)
    register_format(ternary_format("tensor", name="ternary"))
    register_format(ternary_format("channel", name="ternary_row"))


_presets()
