"""Area of a design for lowbit.sim's design-space exploration: per-PE datapath area from lowbit's own Yosys
synthesis (hw/synth/results.json, transistor counts of each unit, copied into the area table's `units:` so
that an installed wheel has them; tests/sim/test_dse.py checks the copies) and SRAM area from a cited per-bit figure,
both from an area table in configs/area/ whose entries carry their source and status like the energy tables.

    area = pes * pe_transistors * um2_per_transistor + cols * column_transistors * um2_per_transistor
           + sum over buffers a, b, c of bits * sram.bit_um2 / sram.array_efficiency

A datapath with no synthesized unit in the table's `datapaths:` list has no area (None), and `AreaModel.pe`
says which formats lack a unit instead of guessing one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from lowbit.numerics._io import load_yaml
from lowbit.numerics._resources import config_dir
from .energy import STATUSES
from .workload import _check_keys

__all__ = ["AreaTable", "PEArea", "load_area_table", "list_area_tables", "AREA_DIR"]

AREA_DIR = config_dir("area")
PER = ("pe", "mac", "column")
MATCH_KEYS = ("a_format", "b_format", "acc_format", "kind", "gamma")
ENTRIES = ("logic.um2_per_transistor", "sram.bit_um2", "sram.array_efficiency")


@dataclass(frozen=True)
class PEArea:
    """Transistors per PE and per array column of one datapath, or None with `why`."""
    pe_transistors: float | None
    column_transistors: float | None
    units: tuple            # (unit name, per) pairs used
    why: str                # "" when known; otherwise what is missing
    note: str = ""


def _signature(dp) -> str:
    g = f", gamma {dp.gamma}" if dp.kind == "lns" else ""
    return f"{dp.a_format} x {dp.b_format} -> {dp.acc_format} ({dp.kind}{g})"


@dataclass(frozen=True)
class AreaTable:
    name: str
    technology: str
    entries: dict
    datapaths: tuple        # ({"match": {...}, "units": [...], "note": str}, ...)
    synth: dict             # unit -> {op, format, transistors, transistors_per_mac, status, source}
    sources: dict

    def value(self, key: str) -> float:
        return float(self.entries[key]["value"])

    def sram_um2(self, bits) -> float:
        return bits * self.value("sram.bit_um2") / self.value("sram.array_efficiency")

    def pe(self, dp) -> PEArea:
        for d in self.datapaths:
            m = d["match"]
            if all(getattr(dp, k) == m[k] for k in m):
                pe = col = 0.0
                for u in d["units"]:
                    unit = self.synth[u["unit"]]
                    if u["per"] == "pe":
                        pe += unit["transistors"]
                    elif u["per"] == "mac":
                        pe += unit["transistors_per_mac"]
                    else:
                        col += unit["transistors"]
                return PEArea(pe, col, tuple((u["unit"], u["per"]) for u in d["units"]), "", d.get("note", ""))
        fmts = sorted({dp.a_format, dp.b_format, dp.acc_format})
        have = sorted(k for k, u in self.synth.items() if u.get("format") in fmts)
        return PEArea(None, None, (), f"no synthesized PE for datapath {_signature(dp)} in area table "
                      f"{self.name!r} (synthesized units of its formats: {', '.join(have) if have else 'none'})")


def _validate(d: dict, where: str) -> AreaTable:
    _check_keys(where, d, ("name", "technology", "sources", "entries", "datapaths", "units"),
                required=("name", "entries", "datapaths", "units"))
    synth = d["units"]
    if not isinstance(synth, dict):
        raise ValueError(f"{where}: units must map unit names to their synthesized transistor counts")
    for key, u in synth.items():
        own = f"{where}: units.{key}"
        _check_keys(own, u, ("op", "format", "transistors", "transistors_per_mac", "status", "source"),
                    required=("transistors", "transistors_per_mac", "status", "source"))
        for k in ("transistors", "transistors_per_mac"):
            v = u[k]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"{own}: {k}={v!r} must be a finite number > 0")
        if u["status"] not in STATUSES:
            raise ValueError(f"{own}: status={u['status']!r}; allowed: {', '.join(STATUSES)}")
    entries = d["entries"]
    if not isinstance(entries, dict):
        raise ValueError(f"{where}: entries must be a mapping")
    for key in ENTRIES:
        if key not in entries:
            raise ValueError(f"{where}: missing entry {key!r}")
    for key, e in entries.items():
        own = f"{where}: entries.{key}"
        _check_keys(own, e, ("value", "unit", "status", "source", "note"), required=("value", "status", "source"))
        v = e["value"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise ValueError(f"{own}: value={v!r} must be a finite number > 0")
        if e["status"] not in STATUSES:
            raise ValueError(f"{own}: status={e['status']!r}; allowed: {', '.join(STATUSES)}")
    if not isinstance(d["datapaths"], list):
        raise ValueError(f"{where}: datapaths must be a list of {{match, units, note}}")
    for i, dp in enumerate(d["datapaths"]):
        own = f"{where}: datapaths[{i}]"
        _check_keys(own, dp, ("match", "units", "note"), required=("match", "units"))
        _check_keys(f"{own}.match", dp["match"], MATCH_KEYS)
        if not isinstance(dp["units"], list) or not dp["units"]:
            raise ValueError(f"{own}: units must be a non-empty list of {{unit, per}}")
        for j, u in enumerate(dp["units"]):
            _check_keys(f"{own}.units[{j}]", u, ("unit", "per"), required=("unit", "per"))
            if u["unit"] not in synth:
                raise ValueError(f"{own}.units[{j}]: unit={u['unit']!r} is not listed under units:")
            if u["per"] not in PER:
                raise ValueError(f"{own}.units[{j}]: per={u['per']!r}; allowed: {', '.join(PER)}")
    return AreaTable(d["name"], d.get("technology", ""), entries, tuple(d["datapaths"]), synth, d.get("sources", {}))


def list_area_tables() -> list:
    return sorted(p.stem for p in AREA_DIR.glob("*.yaml"))


@lru_cache(maxsize=16)
def _load(path: str, stamp) -> AreaTable:
    return _validate(load_yaml(path), path)


def load_area_table(spec) -> AreaTable:
    """An AreaTable passes through; a name loads configs/area/<name>.yaml; otherwise a YAML path."""
    if isinstance(spec, AreaTable):
        return spec
    path = Path(spec)
    if not path.suffix and not path.exists():
        if not (AREA_DIR / f"{spec}.yaml").is_file():
            raise ValueError(f"unknown area table {str(spec)!r}; tables: {', '.join(list_area_tables())}")
        path = AREA_DIR / f"{spec}.yaml"
    st = path.stat() if path.is_file() else None
    if st is None:
        raise FileNotFoundError(f"area table {str(path)!r} not found")
    return _load(str(path), (st.st_mtime_ns, st.st_size))
