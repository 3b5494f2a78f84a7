"""Energy tables (configs/energy/) and the cost of each action, with its provenance.

Published anchors: Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014
(45 nm) and Jouppi et al., "Ten Lessons From Three Generations Shaped Google's TPUv4i", ISCA 2021 (7 nm).
No published table covers bf16 at 45 nm, fp8, fp6, fp4, MX or LNS; those costs are derived here by the
rules each table states under `rules:` (power laws fitted through two published anchors of the same
table: significand product for float multipliers, significand width for float adders, bit width for
integer units; the LNS-Madam PE of Zhao et al. as integer code adds, bucket adds and a per-output
conversion). Every cost carries a status (published / published_unverified / derived / synthesized /
placeholder) and how it was obtained. A missing action raises ValueError naming it: nothing defaults to 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from lowbit.numerics import FixedFormat, FloatFormat, LNSFormat, get_format

from lowbit.numerics._io import load_yaml
from lowbit.numerics._resources import config_dir
from .workload import _check_keys

__all__ = ["EnergyTable", "Cost", "load_energy_table", "list_energy_tables", "ENERGY_DIR", "STATUSES"]

ENERGY_DIR = config_dir("energy")
STATUSES = ("published", "published_unverified", "derived", "synthesized", "placeholder")
_RANK = {s: i for i, s in enumerate(STATUSES)}


@dataclass(frozen=True)
class Cost:
    pj: float
    status: str
    how: str

    def __mul__(self, k):
        return Cost(self.pj * k, self.status, self.how if k == 1 else f"{k:g} x ({self.how})")

    def __add__(self, other):
        st = self.status if _RANK[self.status] >= _RANK[other.status] else other.status
        return Cost(self.pj + other.pj, st, f"{self.how} + {other.how}")


def _derived(c: Cost, how: str) -> Cost:
    return Cost(c.pj, "placeholder" if c.status == "placeholder" else "derived", how)


def _family(fmt):
    """('float', significand width) | ('int', bits) | ('trit',) | ('lns', bits) for a format value."""
    f = fmt.element
    if isinstance(f, LNSFormat):
        return ("lns", f.bits)
    if isinstance(f, FloatFormat):
        return ("float", f.mbits + 1)
    if isinstance(f, FixedFormat):
        return ("trit",) if f.bits == 2 and f.symmetric else ("int", f.bits)
    raise ValueError(f"energy: no cost rule for format {fmt.name!r} ({f.kind} elements)")


def _significand(fmt, fam) -> int:
    if fam[0] == "lns":
        return int(math.log2(fmt.element.gamma)) + 6
    return fam[1]


@dataclass(frozen=True)
class EnergyTable:
    name: str
    technology: str
    entries: dict      # action -> dict(pj|value, unit, status, source, note)
    rules: dict
    sources: dict

    def entry(self, action: str) -> Cost:
        e = self.entries.get(action)
        if e is None:
            raise ValueError(f"energy table {self.name!r} has no entry {action!r}, which this architecture or "
                             f"workload needs; add it to configs/energy/{self.name}.yaml (known: "
                             f"{', '.join(sorted(self.entries))})")
        val = e["pj"] if "pj" in e else e["value"]
        return Cost(float(val), e["status"], f"{action} [{e['status']}, {e['source']}]")

    def _power(self, lo_key, hi_key, lo_x, hi_x, x, what) -> Cost:
        lo, hi = self.entry(lo_key), self.entry(hi_key)
        s = math.log(hi.pj / lo.pj) / math.log(hi_x / lo_x)
        st = "derived"
        return Cost(lo.pj * (x / lo_x) ** s, st, f"{what}: {lo_key} * ({x:g}/{lo_x:g})^{s:.3f}")

    # ---- arithmetic -------------------------------------------------------------------------------
    def add(self, fmt_name: str) -> Cost:
        if f"add.{fmt_name}" in self.entries:
            return self.entry(f"add.{fmt_name}")
        fam = _family(get_format(fmt_name))
        if fam[0] == "float":
            return self._power("add.fp16", "add.fp32", 11, 24, fam[1], f"float_add({fmt_name})")
        if fam[0] == "int":
            return self.int_add(fam[1])
        raise ValueError(f"energy table {self.name!r}: no entry 'add.{fmt_name}' and no rule to derive it "
                         f"(LNS values are added through lns_code_add / the bucketed dot product)")

    def int_add(self, bits: float) -> Cost:
        if bits == 8 and "add.int8" in self.entries:
            return self.entry("add.int8")
        if bits == 32 and "add.int32" in self.entries:
            return self.entry("add.int32")
        return self._power("add.int8", "add.int32", 8, 32, bits, f"int_add({bits:g} bits)")

    def mul(self, a_name: str, b_name: str) -> Cost:
        if a_name == b_name and f"mul.{a_name}" in self.entries:
            return self.entry(f"mul.{a_name}")
        fa, fb = _family(get_format(a_name)), _family(get_format(b_name))
        if fa[0] == "trit" or fb[0] == "trit":      # sign select: an add of the other operand's width
            other = b_name if fa[0] == "trit" else a_name
            return _derived(self.int_add(float(get_format(other).bits)), f"ternary_mul({a_name} x {b_name})")
        if fa[0] == "lns" and fb[0] == "lns":
            return _derived(self.int_add(max(fa[1], fb[1]) - 1), f"lns_mul({a_name} x {b_name})")
        if fa[0] == "float" and fb[0] == "float":
            return self._power("mul.fp16", "mul.fp32", 121, 576, fa[1] * fb[1], f"float_mul({a_name} x {b_name})")
        if fa[0] == "int" and fb[0] == "int":
            return self.int_mul(math.sqrt(fa[1] * fb[1]))
        # mixed families: a float multiply of the two significand widths (an integer of b bits has a b-bit
        # significand; an LNS value enters through its conversion table of log2(gamma) + 6 bits)
        pa, pb = (_significand(get_format(x), f) for x, f in ((a_name, fa), (b_name, fb)))
        return self._power("mul.fp16", "mul.fp32", 121, 576, pa * pb, f"mixed_mul({a_name} x {b_name})")

    def int_mul(self, bits: float) -> Cost:
        if bits == 8 and "mul.int8" in self.entries:
            return self.entry("mul.int8")
        if bits == 32 and "mul.int32" in self.entries:
            return self.entry("mul.int32")
        return self._power("mul.int8", "mul.int32", 8, 32, bits, f"int_mul({bits:g} bits)")

    # ---- storage ----------------------------------------------------------------------------------
    def sram_bit(self, kib: float) -> Cost:
        pts = sorted((float(k[len("sram64."):-3]) * (1024 if k.endswith("MiB") else 1), k)
                     for k in self.entries if k.startswith("sram64."))
        if len(pts) < 2:
            raise ValueError(f"energy table {self.name!r} needs at least two 'sram64.<size>KiB|MiB' entries")
        for (x0, k0), (x1, k1) in zip(pts, pts[1:]):
            if kib <= x1 or k1 == pts[-1][1]:
                break
        c = self._power(k0, k1, x0, x1, kib, f"sram({kib:g} KiB)")
        return Cost(c.pj / 64, c.status, c.how + " / 64 bits")

    def dram_bit(self) -> Cost:
        c = self.entry("dram64")
        return Cost(c.pj / 64, c.status, c.how + " / 64 bits")

    def reg_bit(self) -> Cost:
        return self.entry("reg.bit")


def _validate(d: dict, where: str) -> EnergyTable:
    _check_keys(where, d, ("name", "technology", "sources", "entries", "rules"), required=("name", "entries"))
    entries = d["entries"]
    if not isinstance(entries, dict) or not entries:
        raise ValueError(f"{where}: entries must be a non-empty mapping of action -> entry")
    for key, e in entries.items():
        own = f"{where}: entries.{key}"
        _check_keys(own, e, ("pj", "value", "unit", "status", "source", "note"), required=("status", "source"))
        if ("pj" in e) == ("value" in e):
            raise ValueError(f"{own}: give exactly one of pj (energy) or value (a rule factor)")
        v = e.get("pj", e.get("value"))
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise ValueError(f"{own}: {v!r} must be a finite number >= 0")
        if e["status"] not in STATUSES:
            raise ValueError(f"{own}: status={e['status']!r}; allowed: {', '.join(STATUSES)}")
    return EnergyTable(d["name"], d.get("technology", ""), entries, d.get("rules", {}), d.get("sources", {}))


def list_energy_tables() -> list:
    return sorted(p.stem for p in ENERGY_DIR.glob("*.yaml"))


@lru_cache(maxsize=64)
def _load(path: str, stamp) -> EnergyTable:   # stamp = (mtime, size): an edited file is read again
    return _validate(load_yaml(path), path)


def load_energy_table(spec) -> EnergyTable:
    """An EnergyTable passes through; a name loads configs/energy/<name>.yaml; otherwise a YAML path."""
    if isinstance(spec, EnergyTable):
        return spec
    path = Path(spec)
    if not path.suffix and not path.exists():
        if not (ENERGY_DIR / f"{spec}.yaml").is_file():
            raise ValueError(f"unknown energy table {str(spec)!r}; tables: {', '.join(list_energy_tables())}")
        path = ENERGY_DIR / f"{spec}.yaml"
    st = path.stat() if path.is_file() else None
    return _load(str(path), (st.st_mtime_ns, st.st_size) if st else None)
