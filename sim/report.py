"""A workload on an architecture: cycles, traffic and energy per training step and per weight update.

Energy = sum over actions of count x energy per action (Horowitz, ISSCC 2014; the accounting of
Accelergy/Timeloop), with the counts from the SCALE-Sim-style cycle model (systolic.py) and the energy
per action from a table that states each entry's provenance (energy.py). For the LNS-Madam PE (Zhao et
al.) a MAC is an exponent-code add plus a bucket add, and each output pays one bucket conversion per
reduction fold. The arch's datapath is the hardware: a GEMM whose operands fit it is priced at the
datapath's MAC; a GEMM wider than the datapath (or non-LNS on an LNS array) is priced at its own formats
and the report says so in `notes`. Data moves at the GEMM's own formats.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from lowbit.numerics import LNSFormat, get_format

from .arch import Arch, load_arch
from .energy import Cost, EnergyTable, _family, load_energy_table
from .systolic import GemmResult, systolic_gemm
from .workload import Workload, format_bits

__all__ = ["SimReport", "simulate", "energy_per_update", "COMPONENTS"]

COMPONENTS = ("mac", "lns_conversion", "pe_registers", "sram_a", "sram_b", "sram_c", "dram", "elementwise",
              "device_pulse", "transfer_sram", "transfer_dram")


@dataclass(frozen=True)
class SimReport:
    workload: str
    arch: str
    energy_table: str
    pj_per_step: float
    pj_per_weight_update: float     # nan when the workload updates no weights
    weight_updates: int
    macs: int
    cycles: int                     # cycle count of the step: GEMMs (incl. prefetch/write-back) + elementwise
    seconds: float
    breakdown: dict                 # {"component": {c: pJ}, "layer": {layer: {c: pJ}}}
    traffic_bits: dict              # {"sram_read": {a,b,c}, "sram_write": ..., "dram_read": ..., "dram_write": ...}
    actions: dict                   # action -> {"pj_each", "status", "how", "count"}
    gemms: tuple                    # (Gemm, GemmResult) per GEMM item
    notes: tuple

    def as_dict(self) -> dict:
        d = {k: getattr(self, k) for k in ("workload", "arch", "energy_table", "pj_per_step", "pj_per_weight_update",
                                           "weight_updates", "macs", "cycles", "seconds", "breakdown",
                                           "traffic_bits", "actions", "notes")}
        d["notes"] = list(self.notes)
        d["gemms"] = [{"name": g.name, "layer": g.group, "phase": g.phase, "m": g.m, "n": g.n, "k": g.k,
                       "count": g.count, "a_format": g.a_format, "b_format": g.b_format, **r.as_dict()}
                      for g, r in self.gemms]
        return d


class _Ledger:
    def __init__(self):
        self.component = defaultdict(float)
        self.layer = defaultdict(lambda: defaultdict(float))
        self.actions = {}

    def charge(self, layer, component, action: str, cost: Cost, count):
        if count == 0:
            return
        pj = cost.pj * count
        self.component[component] += pj
        self.layer[layer][component] += pj
        a = self.actions.setdefault(action, {"pj_each": cost.pj, "status": cost.status, "how": cost.how, "count": 0})
        a["count"] += count


def _fits(gemm, dp) -> bool:
    lns = dp.kind == "lns"
    for g_fmt, d_fmt in ((gemm.a_format, dp.a_format), (gemm.b_format, dp.b_format)):
        if (_family(get_format(g_fmt))[0] == "lns") != lns or format_bits(g_fmt) > format_bits(d_fmt):
            return False
    return True


def _mac_costs(T: EnergyTable, a, b, acc, lns: bool) -> list:
    """[(action, component, cost)] per MAC."""
    if lns:
        return [(f"lns_mul({a}x{b})", "mac", T.mul(a, b)), (f"bucket_add({acc})", "mac", T.add(acc))]
    out = [(f"mul({a}x{b})", "mac", T.mul(a, b)), (f"add({acc})", "mac", T.add(acc))]
    for f in (a, b):   # MX: one scale-exponent add per block of products
        fmt = get_format(f)
        if fmt.is_scaled and fmt.granularity == "block" and fmt.scale_format is not None:
            out.append((f"mx_block_scale({f})", "mac", _scaled(T.int_add(fmt.scale_format.bits), 1 / fmt.block,
                                                               "mx_block")))
    return out


def _scaled(c: Cost, k, rule) -> Cost:
    return Cost(c.pj * k, "derived" if c.status != "placeholder" else c.status, f"{rule}: {k:g} x ({c.how})")


def _lns_conversion(T: EnergyTable, dp, out_fmt) -> Cost:
    g = dp.gamma
    acc = format_bits(dp.acc_format)
    frac = int(math.log2(g)) + 5                  # table fraction bits (docs/lns.md: Q1.8 for gamma 8)
    mul = T.int_mul(math.sqrt(acc * (frac + 1)))
    add = T.int_add(acc + frac)
    cmp_ = T.int_add(frac + 1)
    c = mul * (2 * g) + add * (2 * g) + cmp_ * g + T.int_add(acc)
    return Cost(c.pj, "derived", f"lns_conversion(gamma={g}, {dp.acc_format} buckets, Q1.{frac} table)")


def _elementwise_cost(T: EnergyTable, e) -> Cost:
    if e.pj_each is not None:
        return Cost(e.pj_each, "published", f"pj_each carried by {e.name!r}")
    op, f = e.op, e.format
    if op == "device_pulse":
        return T.entry("device_pulse")
    bits = float(get_format(f).bits)
    if op == "add":
        return T.add(f)
    if op == "mul":
        return T.mul(f, f)
    if op == "fma":
        return T.mul(f, f) + T.add(f)
    if op in ("div", "sqrt"):
        return _scaled(T.mul(f, f), T.entry("div.per_mul").pj, "div.per_mul")
    if op in ("exp", "log"):
        return _scaled(T.mul(f, f) + T.add(f), T.entry("exp.per_fma").pj, "exp.per_fma")
    if op in ("compare", "round", "sr_round"):
        return T.int_add(bits)
    if op == "copy":
        return T.reg_bit() * bits
    if op == "rng":
        return _scaled(T.reg_bit(), T.entry("rng.bits").pj, "rng.bits")
    if op == "kahan_add":
        return _scaled(T.add(f), 4, "kahan_add")
    if op == "lns_code_add":
        return T.int_add(bits - 1)
    if op == "lns_convert":
        elem = get_format(f).element
        gamma = elem.gamma if isinstance(elem, LNSFormat) else 8
        return _scaled(T.int_mul(math.log2(gamma) + 6), 1, "lns_convert")
    raise ValueError(f"no energy rule for elementwise op {op!r}")


def simulate(workload: Workload, arch, energy=None) -> SimReport:
    """Cycles, traffic and energy of `workload` on `arch` (preset name, YAML path or Arch); `energy`
    overrides the arch's energy table (name, path or EnergyTable)."""
    if not isinstance(workload, Workload):
        raise ValueError(f"workload must be a lowbit.sim.Workload, got {type(workload).__name__}")
    A: Arch = load_arch(arch)
    T = load_energy_table(energy or A.energy)
    dp = A.datapath
    L, notes = _Ledger(), []
    traffic = {k: {"a": 0, "b": 0, "c": 0} for k in ("sram_read", "sram_write", "dram_read", "dram_write")}
    sram = {key: T.sram_bit(b.kib) for key, b in A.buffers.items()}
    dram, reg = T.dram_bit(), T.reg_bit()
    cache, gemm_results, cycles = {}, [], 0
    for g in workload.gemms:
        fits = _fits(g, dp)
        a, b, acc = (dp.a_format, dp.b_format, dp.acc_format) if fits else (g.a_format, g.b_format, g.acc_format)
        lns = fits and dp.kind == "lns"
        if not fits:
            notes.append(f"{g.name}: {g.a_format} x {g.b_format} does not fit datapath {dp.a_format} x {dp.b_format} "
                         f"({dp.kind}); priced at its own formats")
        key = (g.m, g.n, g.k, g.a_format, g.b_format, acc, g.result_format)
        if key not in cache:
            cache[key] = systolic_gemm(g.m, g.n, g.k, arch=A, a_format=g.a_format, b_format=g.b_format,
                                       acc_format=acc, out_format=g.result_format)
        r: GemmResult = cache[key]
        gemm_results.append((g, r))
        c = g.count
        cycles += c * (r.prefetch_cycles + r.cycle_count + r.writeback_cycles)
        for action, comp, cost in _mac_costs(T, a, b, acc, lns):
            L.charge(g.group, comp, action, cost, r.macs * c)
        L.charge(g.group, "pe_registers", "reg.bit", reg,
                 r.macs * c * (format_bits(a) + format_bits(b) + format_bits(acc)))
        if lns:
            kf = 1 if r.dataflow == "os" else -(-g.k // r.rows)
            L.charge(g.group, "lns_conversion", "lns_conversion", _lns_conversion(T, dp, g.result_format),
                     g.m * g.n * kf * c)
        for op in ("a", "b", "c"):
            n_bits = (r.sram_read_bits[op] + r.sram_write_bits[op]) * c
            L.charge(g.group, f"sram_{op}", f"sram_{op}.bit({A.buffers[op].kib:g} KiB)", sram[op], n_bits)
            L.charge(g.group, "dram", "dram.bit", dram, (r.dram_read_bits[op] + r.dram_write_bits[op]) * c)
            for kind, src in (("sram_read", r.sram_read_bits), ("sram_write", r.sram_write_bits),
                              ("dram_read", r.dram_read_bits), ("dram_write", r.dram_write_bits)):
                traffic[kind][op] += src[op] * c
    for e in workload.elementwise:
        cost = _elementwise_cost(T, e)
        comp = "device_pulse" if e.op == "device_pulse" else "elementwise"
        L.charge(e.group, comp, f"{e.op}({e.format})" if e.pj_each is None else f"{e.op}({e.name})", cost, e.count)
        cycles += -(-e.count // A.vector_lanes)
    big = max(A.buffers, key=lambda k: A.buffers[k].kib)
    for t in workload.transfers:
        if t.level == "dram":
            L.charge(t.group, "transfer_dram", "dram.bit", dram, 8 * t.bytes)
        else:   # priced at the largest on-chip buffer
            L.charge(t.group, "transfer_sram", f"sram_{big}.bit({A.buffers[big].kib:g} KiB)", sram[big], 8 * t.bytes)
    total = sum(L.component.values())
    n_upd = workload.n_weight_updates
    return SimReport(
        workload=workload.name, arch=A.name, energy_table=T.name, pj_per_step=total,
        pj_per_weight_update=total / n_upd if n_upd else float("nan"), weight_updates=n_upd, macs=workload.macs,
        cycles=cycles, seconds=cycles / (A.clock_mhz * 1e6),
        breakdown={"component": {k: L.component[k] for k in COMPONENTS if k in L.component},
                   "layer": {lay: {k: v[k] for k in COMPONENTS if k in v} for lay, v in L.layer.items()}},
        traffic_bits=traffic, actions=L.actions, gemms=tuple(gemm_results), notes=tuple(notes))


def energy_per_update(workload: Workload, arch, energy=None) -> SimReport:
    """The interface of the training path: `.pj_per_step`, `.pj_per_weight_update`, `.breakdown`."""
    return simulate(workload, arch, energy)
