"""A format as plain JSON data, and back: enough parameters to rebuild the very same Format value.

Every lowbit format is a frozen dataclass (docs/design.md, "numerics: one abstraction"), so its constructor
fields are its full description: `format_spec(fmt)` writes them (nested formats recursively, enums by
class and value, non-finite floats tagged, tuples as lists) under the class name, and
`format_from_spec(spec)` calls that constructor again. Only classes exported by `lowbit.numerics` (and
its device subpackage) are rebuilt, so a manifest cannot name arbitrary code. `format_spec` proves
itself on every call: the rebuilt value must equal the original (and keep its name), or it refuses.
"""
from __future__ import annotations

import dataclasses
import enum
import importlib
import math

import numpy as np

__all__ = ["format_spec", "format_from_spec"]

_HOMES = ("lowbit.numerics", "lowbit.numerics.devices")


def _home_class(name: str):
    for mod in _HOMES:
        try:
            m = importlib.import_module(mod)
        except ImportError:
            continue
        obj = getattr(m, name, None)
        if isinstance(obj, type) and name in getattr(m, "__all__", ()):
            return obj
    return None


def _to_json(v):
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return _spec(v)
    if isinstance(v, enum.Enum):
        return {"enum": type(v).__name__, "value": _to_json(v.value)}
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return f if math.isfinite(f) else {"float": repr(f)}
    if isinstance(v, (tuple, list, np.ndarray)):
        return [_to_json(e) for e in (v.tolist() if isinstance(v, np.ndarray) else v)]
    if v is None or isinstance(v, str):
        return v
    raise ValueError(f"cannot describe a format field of type {type(v).__name__} ({v!r}) in a manifest")


def _spec(fmt) -> dict:
    cls = type(fmt)
    if _home_class(cls.__name__) is not cls:
        raise ValueError(f"format {getattr(fmt, 'name', fmt)!r} is a {cls.__module__}.{cls.__name__}; "
                         f"only formats exported by {' / '.join(_HOMES)} can be exported")
    out = {"type": cls.__name__}
    for f in dataclasses.fields(fmt):
        if f.init:
            out[f.name] = _to_json(getattr(fmt, f.name))
    return out


def _from_json(v, where: str):
    if isinstance(v, dict):
        if "type" in v:
            return format_from_spec(v, where)
        if set(v) == {"enum", "value"}:
            cls = _home_class(str(v["enum"]))
            if cls is None or not issubclass(cls, enum.Enum):
                raise ValueError(f"{where}: unknown enum {v['enum']!r}")
            return cls(v["value"])
        if set(v) == {"float"} and v["float"] in ("inf", "-inf", "nan"):
            return float(v["float"])
        raise ValueError(f"{where}: unexpected object {v!r}")
    if isinstance(v, list):
        return tuple(_from_json(e, where) for e in v)
    return v


def format_from_spec(spec: dict, where: str = "format"):
    """Rebuild a format from `format_spec` output. Errors name `where` (e.g. the tensor)."""
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        raise ValueError(f"{where}: a format spec is an object with a 'type' field, got {spec!r}")
    cls = _home_class(spec["type"])
    if cls is None or not dataclasses.is_dataclass(cls):
        raise ValueError(f"{where}: unknown format type {spec['type']!r}; a manifest can name the format "
                         f"classes of {' / '.join(_HOMES)}")
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    extra = set(spec) - fields - {"type"}
    if extra:
        raise ValueError(f"{where}: {spec['type']} has no parameter(s) {sorted(extra)}; allowed: {sorted(fields)}")
    kwargs = {k: _from_json(v, f"{where}.{k}") for k, v in spec.items() if k != "type"}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: cannot rebuild {spec['type']} from {kwargs}: {exc}") from None


def format_spec(fmt) -> dict:
    """The JSON-able description of `fmt`; checked to rebuild an equal format with the same name."""
    spec = _spec(fmt)
    back = format_from_spec(spec, getattr(fmt, "name", "format"))
    if back != fmt or getattr(back, "name", None) != getattr(fmt, "name", None):
        raise ValueError(f"format {fmt.name!r} does not rebuild from its parameters {spec}; "
                         "it cannot be exported losslessly")
    return spec

