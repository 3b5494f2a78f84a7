"""`lowbit verify`: check RTL (lowbit's reference units, or your own module) bit for bit against the
lowbit numerics, through cocotb on Icarus or Verilator (docs/hw.md).

    lowbit verify --list                                  # operations, formats and the ports they need
    lowbit verify fp_mul --format fp8_e4m3fn              # lowbit's hw/rtl/fp_mul.v
    lowbit verify fp_mul --format fp8_e4m3fn --rtl my_mul.v --top my_mul --sim verilator

Exit status: 0 all vectors match, 1 mismatches (the first few are printed with inputs, expected and got
in hex and decimal), 2 bad input (unknown operation/format, missing file, wrong ports, simulator not
installed, compile error: the simulator's message is shown).
"""
from __future__ import annotations

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


def _list() -> int:
    from lowbit.verify import get_unit, list_ops, op_formats
    for op, doc in list_ops().items():
        print(f"{op}: {doc}")
        for fmt in op_formats(op):
            u = get_unit(op, fmt)
            ins = ", ".join(f"{p.name}[{p.width}]" for p in u.inputs)
            outs = ", ".join(f"{p.name}[{p.width}]" for p in u.outputs)
            clk = f"{u.clock} (clock), " if u.clock else ""
            print(f"  --format {fmt:<16} inputs {clk}{ins} -> outputs {outs}")
    return 0


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
    fmt = args.format or op_formats(args.op)[0]
    params = _params(args.param) if args.param else None
    try:
        sim = _pick_sim(args.sim)
        rep = check_unit(args.op, fmt, sim=sim, sources=args.rtl or None, top=args.top, params=params,
                         seed=args.seed, quick=args.quick, limit=args.show)
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


def register(sub):
    p = sub.add_parser("verify", help="check RTL bit for bit against the lowbit numerics (cocotb)",
                       description="Run an operation's vectors through lowbit's reference unit or your own "
                                   "Verilog module and compare every output with lowbit.numerics.")
    p.add_argument("op", nargs="?", help="operation, e.g. fp_mul, fp_add, mx_dot, lns_dot (see --list)")
    p.add_argument("--format", help="format of the operation (default: its first; see --list)")
    p.add_argument("--rtl", nargs="+", metavar="FILE", help="your Verilog files (default: lowbit's hw/rtl unit)")
    p.add_argument("--top", help="your module's name (with --rtl)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE",
                   help="a Verilog parameter of your module (repeatable)")
    p.add_argument("--sim", default="auto", choices=["auto", "icarus", "verilator"],
                   help="simulator (default: Icarus if installed, else Verilator)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random vectors (default 0)")
    p.add_argument("--quick", action="store_true",
                   help="fewer vectors: smaller random sets; every fp8 pair is kept, each in one random mode")
    p.add_argument("--show", type=int, default=5, help="how many mismatches to print (default 5)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--list", action="store_true", help="list operations, formats and their ports")
    p.set_defaults(func=run)
