"""`lowbit formats`: every registered format with its bits and derived limits; all values for formats
of 6 bits or fewer."""
from __future__ import annotations

import json
import math

import numpy as np


def _fmt_num(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and (v == 0 or 1e-4 <= abs(v) < 1e6):
        return f"{v:g}"
    if isinstance(v, float) and v > 0 and math.log2(v).is_integer():
        return f"2^{int(math.log2(v))}"
    return f"{v:.6g}"


def rows():
    from lowbit.numerics import get_format, list_formats
    out = []
    for name in list_formats():
        f = get_format(name)
        ref = f.element   # the limits of a scaled format are its element's (before scaling)
        row = {"name": name, "bits": f.bits, "max": ref.max, "min_normal": ref.min_normal,
               "min_subnormal": ref.min_subnormal, "eps": ref.eps, "kind": f.kind, "detail": f.describe()}
        if not f.is_scaled and f.bits <= 6:
            row["values"] = sorted({float(v) for v in np.asarray(f.values(), dtype=np.float64) if not np.isnan(v)})
        out.append(row)
    return out


def run(args) -> int:
    data = rows()
    if args.name:
        data = [r for r in data if r["name"] in args.name]
        unknown = set(args.name) - {r["name"] for r in data}
        if unknown:
            from lowbit.numerics import get_format
            for n in sorted(unknown):
                get_format(n)  # raises a ValueError listing the known names (or builds a parametric one)
    if args.json:
        print(json.dumps(data, indent=1, default=str))
        return 0
    print(f"{'format':<14} {'kind':<13} {'bits':>6} {'max':>12} {'min normal':>12} {'min subnormal':>14} {'eps':>10}")
    for r in data:
        bits = r["bits"] if isinstance(r["bits"], int) else f"{r['bits']:.2f}"
        print(f"{r['name']:<14} {r['kind']:<13} {bits:>6} {_fmt_num(r['max']):>12} {_fmt_num(r['min_normal']):>12} "
              f"{_fmt_num(r['min_subnormal']):>14} {_fmt_num(r['eps']):>10}")
    small = [r for r in data if "values" in r]
    if small:
        print("\nAll values of the formats of 6 bits or fewer (NaN codes omitted):")
        for r in small:
            print(f"  {r['name']}: " + ", ".join(f"{v:g}" for v in r["values"]))
    return 0


def register(sub):
    p = sub.add_parser("formats", help="list every number format with its bits and limits")
    p.add_argument("name", nargs="*", help="only these formats")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)
