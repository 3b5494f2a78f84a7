"""Synthesize lowbit's RTL units with Yosys and count cells and transistors (`stat -tech cmos`), for the
relative cost of fp8 vs LNS vs bf16 datapaths (docs/references.md section 10: no published per-op table
covers fp8, fp4 or LNS, so lowbit derives them; label them "synthesized from hw/").

    python hw/synth/synth.py                        # every target -> table + hw/synth/results.json
    python hw/synth/synth.py --only fp_mul_bf16 lns_mul_lns8 --out /tmp/s.json

Flow per target: a generated wrapper instantiates the unit with its parameters (from lowbit.verify, i.e.
from the lowbit format); read_verilog; synth -flatten; abc -g cmos2 (a NAND/NOR/NOT netlist, so
transistor counts compare like with like); stat -tech cmos. Targets named *_rne tie the rounding-mode
input to round-to-nearest-even through the wrapper, so only that datapath is counted. `--verify` also
writes each untied unit's gate-level netlist and runs its lowbit verify vectors on it (the netlist, not
just the RTL, then matches lowbit.numerics). Transistor counts are
Yosys' CMOS estimate (4 per 2-input NAND/NOR, 2 per inverter, flip-flops included): a relative area
measure, not a sign-off number; energy per operation is not measured here.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

COMMAND = "python hw/synth/synth.py"


@dataclass
class Target:
    name: str
    op: str
    fmt: str
    macs: int = 1                       # multiply-accumulates (or ops) per cycle/evaluation
    tie: dict = field(default_factory=dict)   # input -> constant (via a wrapper)
    note: str = ""
    top: str | None = None              # a submodule of the unit's files instead of its top
    keep: tuple = ()                    # with `top`: the unit parameters that submodule takes
    override: dict = field(default_factory=dict)   # parameter values replacing the unit's


TARGETS = [
    Target("fp_mul_bf16_rne", "fp_mul", "bf16", tie={"mode_i": 0, "sat_i": 0, "rand_i": 0}, note="RNE only"),
    Target("fp_add_bf16_rne", "fp_add", "bf16", tie={"mode_i": 0, "sat_i": 0, "rand_i": 0}, note="RNE only"),
    Target("fp_mul_fp8_e4m3fn_rne", "fp_mul", "fp8_e4m3fn", tie={"mode_i": 0, "sat_i": 1, "rand_i": 0},
           note="RNE, saturating"),
    Target("fp_mul_fp8_e5m2_rne", "fp_mul", "fp8_e5m2", tie={"mode_i": 0, "sat_i": 1, "rand_i": 0},
           note="RNE, saturating"),
    Target("fp_mul_fp4_e2m1fn_rne", "fp_mul", "fp4_e2m1fn", tie={"mode_i": 0, "sat_i": 1, "rand_i": 0},
           note="RNE, saturating"),
    Target("lns_mul_lns8", "lns_mul", "lns8", note="code add, sign xor, saturation"),
    Target("lns_mul_lns16", "lns_mul", "lns16"),
    Target("fp_mul_fp8_e4m3fn_all", "fp_mul", "fp8_e4m3fn", note="all 6 rounding modes, both overflow policies"),
    Target("fp_mul_bf16_all", "fp_mul", "bf16", note="all 6 rounding modes, both overflow policies"),
    Target("fp_mul_fp4_e2m1fn_all", "fp_mul", "fp4_e2m1fn", note="all 6 rounding modes, both overflow policies"),
    Target("fp_add_bf16_all", "fp_add", "bf16", note="all 6 rounding modes incl. 8-bit SR"),
    Target("fp_add_lfsr_bf16", "fp_add_lfsr", "bf16", note="SR adder + 32-bit LFSR (8 bits/clock)"),
    Target("fp_kahan_bf16", "fp_kahan", "bf16", note="4 RNE adders + 2 registers, one update/clock"),
    Target("lfsr_w32_r8", "lfsr", "w32_r8"),
    Target("lns_dot_lns8", "lns_dot", "lns8", note="whole unit: 16 buckets + 8 constant multiplies + back-conversion"),
    Target("lns_dot_acc_lns8", "lns_dot", "lns8", top="lns_dot_acc", keep=("BITS", "GAMMA", "MB", "KBITS"),
           note="per pair: code add, 1 << q, bucket add (16 x 38-bit buckets)"),
    Target("lns_dot_final_lns8", "lns_dot", "lns8", top="lns_dot_final",
           keep=("BITS", "GAMMA", "QBIAS", "F", "MB", "KBITS", "TABLE", "AW"),
           note="once per dot product: 8 constant multiplies + back-conversion"),
    Target("lns_dot_acc_lns8_mitchell3", "lns_dot", "lns8_mitchell3", top="lns_dot_acc",
           keep=("BITS", "GAMMA", "MB", "KBITS"), note="per pair, pure Mitchell: 2 buckets"),
    # The 32-element MX units take ABC over 10 minutes here; 4- and 8-element builds of the same RTL
    # give the per-element slope (and the fixed part: scale add, fp32 rounding) by two-point fit.
    Target("mx_dot_mxfp8_e4m3_k4", "mx_dot", "mxfp8_e4m3", macs=4, override={"K": 4}, note="4 products + fp32 RNE"),
    Target("mx_dot_mxfp8_e4m3_k8", "mx_dot", "mxfp8_e4m3", macs=8, override={"K": 8}, note="8 products + fp32 RNE"),
    Target("mx_dot_mxfp4_e2m1_k4", "mx_dot", "mxfp4_e2m1", macs=4, override={"K": 4}, note="4 products + fp32 RNE"),
    Target("mx_dot_mxfp4_e2m1_k8", "mx_dot", "mxfp4_e2m1", macs=8, override={"K": 8}, note="8 products + fp32 RNE"),
    Target("ternary_mac_int8", "ternary_mac", "int8", note="add/sub/skip into 24-bit register"),
    Target("trit_plane_dot_p2_n16", "trit_plane_dot", "p2_n16", macs=32,
           note="2 planes x 16 add/sub/skip, 2 scale multiplies (16 x 13 bits)"),
    Target("sa_pe_int8", "sa_pe", "int8", note="systolic PE: int8 x int8 -> int32, operand registers"),
]

# The full 32-element MX units (what the fits above stand for): ABC takes tens of minutes on them, so they
# run only when named: python hw/synth/synth.py --only mx_dot_mxfp4_e2m1_k32 --merge --timeout 5400
SLOW = [
    Target("mx_dot_mxfp4_e2m1_k32", "mx_dot", "mxfp4_e2m1", macs=32, override={"K": 32}, note="32 products + fp32 RNE"),
    Target("mx_dot_mxfp8_e4m3_k32", "mx_dot", "mxfp8_e4m3", macs=32, override={"K": 32}, note="32 products + fp32 RNE"),
]


def _lit(v: int) -> str:
    """A Verilog constant for a parameter value (sized hex beyond 31 bits)."""
    return str(v) if 0 <= v < (1 << 31) else (f"{max(v.bit_length(), 32)}'h{v:x}" if v >= 0 else str(v))


def _wrapper(top: str, params: dict, ports: dict, tie: dict) -> str:
    """A top `lb_synth_top` instantiating `top` with `params` (parameters go in by instantiation: Yosys
    0.23's chparam produced wrong netlists for these units, caught by simulating the netlist) and with
    the inputs in `tie` driven by constants, so synthesis removes their logic."""
    decl, conns = [], []
    for name, (direction, width) in ports.items():
        if name in tie:
            conns.append(f".{name}({width}'d{tie[name]})")
            continue
        decl.append(f"{direction} [{width - 1}:0] {name}")
        conns.append(f".{name}({name})")
    plist = ", ".join(f".{k}({_lit(v)})" for k, v in params.items())
    return (f"module lb_synth_top ({', '.join(decl)});\n  {top} #({plist}) u ({', '.join(conns)});\n"
            "endmodule\n")


def _design(t: Target):
    """(files, module, parameters) of a target."""
    from lowbit.verify import get_unit
    from lowbit.verify.ops import RTL_DIR, sweep_contract
    if t.op == "sa_pe":
        return [RTL_DIR / "sa_pe.v"], "sa_pe", {"ABITS": 8, "BBITS": 8, "ACCBITS": 32}
    unit = get_unit(t.op, t.fmt, sweep_contract(t.op))
    if t.top:
        return unit.rtl_paths(), t.top, {k: unit.params[k] for k in t.keep}
    return unit.rtl_paths(), unit.top, {**unit.params, **t.override}


def synthesize(t: Target, timeout: int = 600, netlist_dir: Path | None = None) -> dict:
    """Synthesize a target; with netlist_dir, also write its gate-level netlist there (module <name>)."""
    from lowbit.verify.ports import module_ports
    files, top, params = _design(t)
    ports = module_ports(files, top, params)   # elaborated widths (ports only)
    if ports is None or any(w is None for _, w in ports.values()):
        raise RuntimeError(f"{t.name}: could not read the ports of {top}")
    with tempfile.TemporaryDirectory() as tmp:
        w = Path(tmp) / "lb_synth_top.v"
        w.write_text(_wrapper(top, params, ports, t.tie))
        srcs = [str(f) for f in files] + [str(w)]
        write = ""
        if netlist_dir is not None:
            Path(netlist_dir).mkdir(parents=True, exist_ok=True)
            write = f"; rename lb_synth_top {t.name}; write_verilog -noattr {Path(netlist_dir) / (t.name + '.v')}"
        script = (f"read_verilog {' '.join(srcs)}; synth -top lb_synth_top -flatten; abc -g cmos2; opt_clean; "
                  f"stat -tech cmos{write}")
        t0 = time.perf_counter()
        # Own process group: on a timeout, ABC (Yosys' child) must go too, not linger as an orphan.
        proc = subprocess.Popen(["yosys", "-p", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return {"op": t.op, "format": t.fmt, "top": top, "error": f"Yosys took over {timeout} s", "note": t.note}
        res = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    if res.returncode != 0:
        raise RuntimeError(f"yosys failed on {t.name}:\n" + "\n".join(res.stdout.splitlines()[-15:]) + res.stderr)
    out = res.stdout[res.stdout.rfind("Printing statistics"):]
    cells = int(re.search(r"Number of cells:\s+(\d+)", out)[1])
    trans = int(re.search(r"Estimated number of transistors:\s+(\d+)", out)[1])
    types = {m[1]: int(m[2]) for m in re.finditer(r"^\s+(\$_\w+_)\s+(\d+)$", out, re.M)}
    return {"op": t.op, "format": t.fmt, "top": top, "tied": t.tie,
            "params": {k: (str(v) if v >= 1 << 63 else v) for k, v in params.items()},
            "cells": cells, "transistors": trans, "cell_types": types, "macs_per_eval": t.macs,
            "transistors_per_mac": trans / t.macs, "note": t.note, "seconds": round(time.perf_counter() - t0, 2)}


def yosys_version() -> str:
    res = subprocess.run(["yosys", "-V"], capture_output=True, text=True)
    return res.stdout.strip()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Yosys cell and transistor counts of lowbit's RTL units")
    ap.add_argument("--only", nargs="+", help="target names (default: all)")
    ap.add_argument("--out", default=str(Path(__file__).with_name("results.json")))
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per Yosys run")
    ap.add_argument("--verify", action="store_true", help="simulate the gate-level netlists against the numerics")
    ap.add_argument("--sim", default="icarus", help="simulator for --verify (default icarus)")
    ap.add_argument("--netlists", help="folder for the gate-level netlists (default: temporary)")
    ap.add_argument("--merge", action="store_true", help="update the targets given in --out, keep the others")
    args = ap.parse_args(argv)
    if args.list:
        for t in TARGETS + SLOW:
            print(t.name, "-", (t.note or f"{t.op} on {t.fmt}") + (" (only with --only)" if t in SLOW else ""))
        return 0
    chosen = [t for t in TARGETS + SLOW if (t.name in args.only if args.only else t in TARGETS)]
    unknown = set(args.only or []) - {t.name for t in TARGETS + SLOW}
    if unknown:
        raise SystemExit(f"unknown targets: {sorted(unknown)}; see --list")
    netlists = Path(args.netlists) if args.netlists else (Path(tempfile.mkdtemp()) if args.verify else None)
    rows = {t.name: synthesize(t, args.timeout, netlists) for t in chosen}
    if args.merge and Path(args.out).is_file():   # keep the other targets of an earlier full run
        old = json.loads(Path(args.out).read_text())["units"]
        rows = {**{k: v for k, v in old.items() if not v.get("fit") and k not in rows}, **rows}
        rows = {t.name: rows[t.name] for t in TARGETS + SLOW if t.name in rows}
    if args.verify:
        from lowbit.verify import check_unit, get_unit
        from lowbit.verify.ops import sweep_contract
        for t in chosen:
            r = rows[t.name]
            if t.tie or t.top or t.override or t.op == "sa_pe" or "error" in r:
                continue   # netlists whose ports differ from the operation's are not checked
            full = len(next(iter(get_unit(t.op, t.fmt, sweep_contract(t.op)).vectors(0, False).values()))) <= 100_000
            rep = check_unit(t.op, t.fmt, sim=args.sim, sources=[netlists / f"{t.name}.v"], top=t.name,
                             quick=not full, check_ports=False, contract=sweep_contract(t.op))
            r["netlist_check"] = {"simulator": args.sim, "vectors": rep.vectors, "mismatches": rep.mismatches}
            print(f"gate-level {t.name}: {rep.vectors} vectors, {rep.mismatches} mismatches")
    for fmt in ("mxfp8_e4m3", "mxfp4_e2m1"):   # two-point fit of the MX units: T(K) = fixed + K * per_element
        k4, k8 = rows.get(f"mx_dot_{fmt}_k4", {}), rows.get(f"mx_dot_{fmt}_k8", {})
        if "transistors" in k4 and "transistors" in k8:
            per = (k8["transistors"] - k4["transistors"]) / 4
            fixed = k4["transistors"] - 4 * per
            rows[f"mx_dot_{fmt}_k32_fit"] = {
                "op": "mx_dot", "format": fmt, "top": "mx_dot", "params": {"K": 32}, "fit": True,
                "cells": None, "transistors": round(fixed + 32 * per), "transistors_per_mac": (fixed + 32 * per) / 32,
                "macs_per_eval": 32, "fixed_transistors": round(fixed), "per_element_transistors": per,
                "note": "K = 32 extrapolated from K = 4, 8 (linear in K)"}
    ok = {k: r for k, r in rows.items() if "transistors" in r}
    ref = ok.get("fp_mul_bf16_rne", {}).get("transistors")
    ref_mac = (ok["fp_mul_bf16_rne"]["transistors"] + ok["fp_add_bf16_rne"]["transistors"]
               if "fp_mul_bf16_rne" in ok and "fp_add_bf16_rne" in ok else None)
    print(f"{'target':<28} {'cells':>7} {'transistors':>12} {'per MAC':>9} {'vs bf16 mul':>11} {'vs bf16 MAC':>11}  note")
    for name, r in rows.items():
        if "error" in r:
            print(f"{name:<28} {'-':>7} {'-':>12} {'-':>9} {'-':>11} {'-':>11}  {r['error']}")
            continue
        r["relative_to_bf16_mul"] = r["transistors_per_mac"] / ref if ref else None
        r["relative_to_bf16_mac"] = r["transistors_per_mac"] / ref_mac if ref_mac else None
        rel = f"{r['relative_to_bf16_mul']:.2f}" if ref else "-"
        relm = f"{r['relative_to_bf16_mac']:.2f}" if ref_mac else "-"
        cells = "-" if r["cells"] is None else r["cells"]
        print(f"{name:<28} {cells:>7} {r['transistors']:>12} {r['transistors_per_mac']:>9.0f} {rel:>11} "
              f"{relm:>11}  {r['note']}")
    doc = {"source": "synthesized from hw/ (lowbit RTL units) with " + yosys_version()
                     + ": synth -flatten; abc -g cmos2; stat -tech cmos",
           "command": COMMAND + (" --verify" if args.verify else "")
                      + (" --only " + " ".join(args.only) + " --merge" if args.only else ""),
           "bf16_mac_transistors": ref_mac, "units": rows}
    from lowbit.numerics._io import atomic_write_text
    out = atomic_write_text(args.out, json.dumps(doc, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
