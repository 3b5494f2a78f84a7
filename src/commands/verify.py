"""`lowbit verify`: check RTL (lowbit's reference units, or your own module) bit for bit against the
lowbit numerics, through cocotb on Icarus or Verilator (docs/hw.md).

    lowbit verify --list                                  # operations, formats and the ports they need
    lowbit verify fp_mul --format fp8_e4m3fn              # lowbit's hw/rtl/fp_mul.v
    lowbit verify fp_mul --format fp8_e4m3fn --rtl my_mul.v --top my_mul --sim verilator
    lowbit verify fp_mul --format bf16 --rtl mul.sv --top mul --subnormals ftz_daz --nan any \
        --clock clk --latency 3 --reset rst_n --reset-active 0

Exit status: 0 all vectors match, 1 mismatches (the first few are printed with inputs, expected and got
in hex and decimal), 2 bad input (unknown operation/format, missing file, wrong ports, simulator not
installed, compile error: the simulator's message is shown).
"""
from __future__ import annotations

import argparse
import json
import sys


def _params(items) -> dict:
    out = {}
    for it in items or []:
        key, sep, val = it.partition("=")
        if not sep or not key:
            raise ValueError(f"--param {it!r}: use NAME=INTEGER")
        try:
            out[key] = int(val, 0)
        except ValueError:
            raise ValueError(f"--param {it!r}: the value must be an integer (decimal or 0x...)") from None
    return out


def _defines(items) -> dict:
    """-D NAME[=VALUE] -> {NAME: VALUE}; a bare NAME is defined as 1 (as iverilog and cc do)."""
    from lowbit.verify.harness import check_identifier
    out = {}
    for it in items or []:
        key, sep, val = it.partition("=")
        check_identifier(key, f"-D {it!r}: macro name")
        out[key] = val if sep else 1
    return out


def _list() -> int:
    from lowbit.verify import get_unit, list_ops, op_formats
    print("(? = optional port: the default contract does not use it; driven only when your module has it)")
    for op, doc in list_ops().items():
        print(f"{op}: {doc}")
        for fmt in op_formats(op):
            u = get_unit(op, fmt)
            ins = ", ".join(f"{p.name}[{p.width}]" + ("?" if p.name in u.optional else "") for p in u.inputs)
            outs = ", ".join(f"{p.name}[{p.width}]" for p in u.outputs)
            clk = f"{u.clock} (clock), " if u.clock else ""
            ref = f"   (your RTL only: {u.reference_limit})" if u.reference_limit else ""
            print(f"  --format {fmt:<16} inputs {clk}{ins} -> outputs {outs}{ref}")
    return 0


def _contract(args):
    from lowbit.verify import Contract
    return Contract(rounding=args.rounding, overflow=args.overflow, subnormals=args.subnormals,
                    tininess=args.tininess, nan=args.nan)


def _timing(args):
    from lowbit.verify import Timing
    if args.reset_active is not None and args.reset is None:
        raise ValueError("--reset-active needs --reset NAME")
    t = Timing(clock=args.clock, latency=args.latency, reset=args.reset,
               reset_active=1 if args.reset_active is None else args.reset_active,
               valid_in=args.valid_in, valid_out=args.valid_out)
    return t if t.sequential else None


def _pick_sim(name: str) -> str:
    from lowbit.verify import SimulatorNotFound, available_simulators
    if name != "auto":
        return name
    avail = available_simulators()
    for sim in ("icarus", "verilator"):
        if avail[sim] is None:
            return sim
    raise SimulatorNotFound("no simulator found: " + "; ".join(f"{k}: {v}" for k, v in avail.items()))


def run(args) -> int:
    if args.list:
        return _list()
    if not args.op:
        raise ValueError("name an operation (see `lowbit verify --list`)")
    from lowbit.verify import CompileError, SimulationError, SimulatorNotFound, check_unit, op_formats
    if args.rtl and not args.top:
        raise ValueError("--rtl needs --top MODULE (the module to check)")
    if args.top and not args.rtl:
        raise ValueError("--top needs --rtl FILE ... (the Verilog files of your module)")
    if (args.sv or args.include or args.define) and not args.rtl:
        raise ValueError("--sv/-I/-D describe your sources: give --rtl FILE ... and --top MODULE")
    fmt = args.format or op_formats(args.op)[0]
    params = _params(args.param) if args.param else None
    contract, timing, defines = _contract(args), _timing(args), _defines(args.define)
    try:
        sim = _pick_sim(args.sim)
        rep = check_unit(args.op, fmt, sim=sim, sources=args.rtl or None, top=args.top, params=params,
                         seed=args.seed, quick=args.quick, limit=args.show, contract=contract, timing=timing,
                         sv=True if args.sv else None, includes=args.include or (), defines=defines)
    except SimulatorNotFound as exc:
        print(f"lowbit verify: simulator not available: {exc}", file=sys.stderr)
        return 2
    except CompileError as exc:
        print(f"lowbit verify: compile error:\n{exc}", file=sys.stderr)
        return 2
    except SimulationError as exc:
        print(f"lowbit verify: simulation failed:\n{exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(rep.to_dict(), indent=1))
    else:
        print(rep.text())
    return 0 if rep.ok else 1


def _nonneg(flag):
    def parse(text):
        try:
            v = int(text, 0)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} takes a non-negative integer, got {text!r}") from None
        if v < 0:
            raise argparse.ArgumentTypeError(f"{flag} takes a non-negative integer, got {v}")
        return v
    return parse


def register(sub):
    p = sub.add_parser("verify", help="check RTL bit for bit against the lowbit numerics (cocotb)",
                       description="Run an operation's vectors through lowbit's reference unit or your own "
                                   "Verilog module and compare every output with lowbit.numerics.")
    p.add_argument("op", nargs="?", help="operation, e.g. fp_mul, fp_add, mx_dot, lns_dot (see --list)")
    p.add_argument("--format", help="format of the operation (default: its first; see --list)")
    p.add_argument("--rtl", nargs="+", metavar="FILE",
                   help="your Verilog/SystemVerilog files (default: lowbit's hw/rtl unit)")
    p.add_argument("--top", help="your module's name (with --rtl)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE",
                   help="a parameter your module declares (repeatable)")
    p.add_argument("--sv", action="store_true",
                   help="compile as SystemVerilog (IEEE 1800-2017); default: when a file ends in .sv/.svh")
    p.add_argument("-I", dest="include", action="append", metavar="DIR", help="include directory (repeatable)")
    p.add_argument("-D", dest="define", action="append", metavar="NAME[=VALUE]",
                   help="preprocessor define for both simulators (repeatable; a bare NAME is 1)")
    g = p.add_argument_group("declared contract (fp_mul, fp_add)")
    g.add_argument("--rounding", metavar="MODE[,MODE...]|all",
                   help="rounding modes the unit implements: nearest_even, nearest_away, toward_zero, up, down, "
                        "stochastic, or all (default: nearest_even)")
    g.add_argument("--overflow", metavar="saturate|ieee|all",
                   help="overflow policy (default: the format's default, ieee)")
    g.add_argument("--subnormals", default="ieee", metavar="ieee|ftz|daz|ftz_daz",
                   help="ieee (default); ftz: tiny results flushed to zero; daz: subnormal inputs read as zero")
    g.add_argument("--tininess", metavar="before|after",
                   help="with ftz: a result is tiny before or after rounding (IEEE 754 7.5; default after)")
    g.add_argument("--nan", default="exact", metavar="exact|any",
                   help="exact: the canonical NaN code is expected (default); any: every NaN code matches")
    t = p.add_argument_group("sequential units")
    t.add_argument("--clock", metavar="NAME", help="clock input: one vector per clock")
    t.add_argument("--latency", type=_nonneg("--latency"), metavar="N",
                   help="clocks from an input to its output (with --valid-out: the longest wait)")
    t.add_argument("--reset", metavar="NAME", help="synchronous reset, held for two clocks before the vectors")
    t.add_argument("--reset-active", type=int, choices=[0, 1], help="reset level (default 1)")
    t.add_argument("--valid-in", metavar="NAME", help="input valid: 1 with each vector, 0 while draining")
    t.add_argument("--valid-out", metavar="NAME", help="output valid: outputs are matched in its order")
    p.add_argument("--sim", default="auto", choices=["auto", "icarus", "verilator"],
                   help="simulator (default: Icarus if installed, else Verilator)")
    p.add_argument("--seed", type=_nonneg("--seed"), default=0, help="seed of the random vectors (default 0)")
    p.add_argument("--quick", action="store_true",
                   help="fewer vectors: smaller random sets; every fp8 pair is kept, each in one declared mode")
    p.add_argument("--show", type=_nonneg("--show"), default=5, help="how many mismatches to print (default 5)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--list", action="store_true", help="list operations, formats and their ports")
    p.set_defaults(func=run)
