"""Building and running RTL through the cocotb 2.x runner (`cocotb_tools.runner.get_runner`).

- One build directory per (simulator, top, parameters, sources' contents, flags), so parameter sets never
  overwrite each other (docs/references.md section 11), and an unchanged build is reused without recompiling.
- Verilog-2005 is enforced in both simulators (`-g2005`, `--default-language 1364-2005`) unless the
  sources are SystemVerilog (a `.sv`/`.svh` file, or `sv=True`): then IEEE 1800-2017 (`-g2012`,
  `--default-language 1800-2017`). Include directories and defines go to both simulators (cocotb's
  `includes`/`defines`: `-I`/`-D` for Icarus, `-I`/`+define+` for Verilator). A default `timescale` of
  1ns/1ps is given to files without one.
- Verilator needs `--timing` for the streaming harness; the wheel's make flags lack C++20 coroutines, so
  `-std=c++20` is passed. Verilator's runtime objects (verilated*.o, ~10 s of C++ on this machine) do not
  depend on the design, so they are compiled once and copied into later build directories (_rtcache.py).
- A compile error raises `CompileError` carrying the simulator's own message, the simulator and the flags
  used, and a hint to use `--sv` when Verilog-2005 was asked for but the sources use SystemVerilog.

Example (what the export tests and user scripts use)::

    from lowbit.verify import build, run_cocotb
    b = build("icarus", ["hw/rtl/fp_mul.v", ...], top="fp_mul", parameters={"EBITS": 4, "MBITS": 3})
    run_cocotb(b, "my_cocotb_module", extra_env={...})
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .sims import find_simulator, setup_env

__all__ = ["Build", "build", "run_cocotb", "CompileError", "SimulationError", "build_root"]

TIMESCALE = ("1ns", "1ps")


class CompileError(RuntimeError):
    """The simulator rejected the sources; str(exc) holds its messages."""


class SimulationError(RuntimeError):
    """The simulation (or a cocotb test in it) failed; str(exc) holds the end of its log."""


def build_root() -> Path:
    """Where build directories live: $LOWBIT_HW_BUILD, else <XDG cache>/lowbit/hw-build."""
    env = os.environ.get("LOWBIT_HW_BUILD")
    if env:
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "lowbit" / "hw-build"


@dataclass(frozen=True)
class Build:
    sim: str
    top: str
    build_dir: Path
    parameters: dict = field(default_factory=dict)


SV_EXTENSIONS = (".sv", ".svh")
# Keywords of IEEE 1800 that Verilog-2005 does not have (a compile error in -g2005 mode that meets one
# of these in the sources gets the `--sv` hint).
_SV_WORDS = re.compile(r"\b(logic|always_ff|always_comb|always_latch|typedef|enum|struct|packed|interface|"
                       r"package|import|unique|priority|bit|byte|shortint|longint|int|automatic|endpackage|"
                       r"modport|assert|property)\b")


def is_systemverilog(sources) -> bool:
    return any(str(s).lower().endswith(SV_EXTENSIONS) for s in sources)


def _flags(sim: str, strict: bool, sv: bool = False) -> list[str]:
    if sim == "icarus":
        return ["-g2012" if sv else "-g2005"]
    flags = ["--timing", "-CFLAGS", "-std=c++20", "--default-language", "1800-2017" if sv else "1364-2005",
             "-Wno-WIDTHEXPAND"]
    return flags if strict else flags + ["-Wno-fatal"]


def _sv_hint(srcs) -> str:
    for s in srcs:
        text = re.sub(r"//[^\n]*|/\*.*?\*/", "", Path(s).read_text(errors="replace"), flags=re.S)
        m = _SV_WORDS.search(text)
        if m:
            line = text.count("\n", 0, m.start()) + 1
            return (f"\n  hint: {Path(s).name}:{line} uses the SystemVerilog keyword '{m[1]}' but the files were "
                    "compiled as Verilog-2005: pass --sv (Python: sv=True) or name the files .sv")
    return ""


def _key(sim_obj, sources, top, parameters, defines, flags, includes=()) -> str:
    import cocotb
    h = hashlib.sha256()
    h.update(json.dumps([sim_obj.name, sim_obj.version, cocotb.__version__, top, sorted(parameters.items()),
                         sorted(defines.items()), flags, [str(Path(i).resolve()) for i in includes]],
                        default=str).encode())
    # Included files are part of the design: their contents go into the key too.
    for inc in includes:
        for f in sorted(Path(inc).rglob("*")):
            if f.is_file() and f.suffix.lower() in (".v", ".vh", ".sv", ".svh", ".h", ".inc"):
                h.update(str(f).encode())
                h.update(f.read_bytes())
    for s in sources:
        h.update(str(Path(s).resolve()).encode())
        h.update(Path(s).read_bytes())
    return h.hexdigest()


def _runner(sim: str, rt_cache: Path | None):
    from cocotb_tools.runner import Verilator, get_runner
    if sim != "verilator":
        return get_runner(sim)

    class _CachedVerilator(Verilator):
        """Copies precompiled design-independent runtime objects in before `make`, saves them after."""

        def _build_command(self):
            cmds = super()._build_command()
            # The wheel's verilated.mk is unconfigured: it lacks the option that reads a precompiled
            # header, which Verilator uses once a design's C++ is split into several files.
            cmds[1] = list(cmds[1]) + ["CFG_CXXFLAGS_PCH_I=-include"]
            script = str(Path(__file__).with_name("_rtcache.py"))
            return ([cmds[0], [sys.executable, script, "restore", str(rt_cache), str(self.build_dir)]]
                    + cmds[1:] + [[sys.executable, script, "save", str(self.build_dir), str(rt_cache)]])

    return _CachedVerilator()


def _error_lines(log: str, limit: int = 40) -> str:
    keep = [ln for ln in log.splitlines()
            if any(w in ln.lower() for w in ("error", "syntax", "unknown module", "%warning", "not found",
                                             "unable to bind", "undeclared"))]
    text = "\n".join(keep[:limit]) if keep else "\n".join(log.splitlines()[-limit:])
    return text.strip() or "(the simulator printed nothing)"


def build(sim: str, sources, top: str, parameters: dict | None = None, defines: dict | None = None,
          strict: bool = True, build_dir=None, label: str | None = None, sv: bool | None = None,
          includes=()) -> Build:
    """Compile `sources` with `top` as toplevel in `sim` ("icarus" | "verilator"). `sv`: compile as
    SystemVerilog (default: when a source ends in .sv/.svh); `includes`: include directories; `defines`:
    {NAME: value or None}. Raises SimulatorNotFound (with how to install), FileNotFoundError for a missing
    source or include directory, CompileError (`label` names the design in its message; default: top)."""
    simobj = find_simulator(sim)
    setup_env(simobj)
    srcs = [Path(s) for s in sources]
    for s in srcs:
        if not s.is_file():
            raise FileNotFoundError(f"Verilog source not found: {s}")
    includes = [Path(i) for i in includes]
    for inc in includes:
        if not inc.is_dir():
            raise FileNotFoundError(f"include directory not found: {inc}")
    parameters, defines = dict(parameters or {}), dict(defines or {})
    sv = is_systemverilog(srcs) if sv is None else bool(sv)
    flags = _flags(sim, strict, sv)
    key = _key(simobj, srcs, top, parameters, defines, flags, includes)
    bdir = Path(build_dir) if build_dir else build_root() / sim / f"{top}-{key[:16]}"
    bdir.mkdir(parents=True, exist_ok=True)
    # Another process may build the same directory right now (two test runs): one builds, one waits.
    with open(bdir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return _build_locked(sim, simobj, srcs, top, parameters, defines, flags, key, bdir, label, includes)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _build_locked(sim, simobj, srcs, top, parameters, defines, flags, key, bdir, label, includes) -> Build:
    result = Build(sim, top, bdir, parameters)
    stamp = bdir / "lowbit.stamp"
    product = bdir / ("sim.vvp" if sim == "icarus" else top)
    if stamp.is_file() and stamp.read_text() == key and product.is_file():
        return result
    # The runtime objects do not depend on the input language: Verilog and SystemVerilog builds share them.
    rt_flags = [f for f in flags if f not in ("--default-language", "1364-2005", "1800-2017")]
    rt_cache = build_root() / "verilator-runtime" / hashlib.sha256(
        (simobj.version + " ".join(rt_flags)).encode()).hexdigest()[:16]
    runner = _runner(sim, rt_cache)
    log = bdir / "build.log"
    try:
        runner.build(sources=[str(s.resolve()) for s in srcs], hdl_toplevel=top, parameters=parameters,
                     defines=defines, includes=[str(i.resolve()) for i in includes], build_args=flags,
                     build_dir=str(bdir), always=True, timescale=TIMESCALE, log_file=str(log))
    except (RuntimeError, SystemExit) as exc:
        text = log.read_text(errors="replace") if log.is_file() else str(exc)
        used = " ".join(flags + [f"-I{i}" for i in includes]
                        + [f"-D{k}" + ("" if v is None else f"={v}") for k, v in defines.items()])
        sv_mode = "-g2012" in flags or "1800-2017" in flags
        raise CompileError(f"{sim} could not compile {label or top} ({', '.join(str(s) for s in srcs)}) "
                           f"with flags: {used}\n{_error_lines(text)}"
                           + ("" if sv_mode else _sv_hint(srcs))) from None
    stamp.write_text(key)
    return result


def run_cocotb(b: Build, test_module: str, extra_env: dict | None = None, testcase=None,
               module_dir=None, plusargs=(), keep_dir: bool = False) -> Path:
    """Run the cocotb tests in `test_module` (importable; `module_dir` is put on sys.path) against a
    Build, in a fresh run directory under its build directory (returned when keep_dir, else removed).
    Raises SimulationError with the end of the log if any cocotb test failed."""
    from cocotb_tools.runner import get_results
    setup_env(find_simulator(b.sim))
    if module_dir is not None and str(module_dir) not in sys.path:
        sys.path.insert(0, str(module_dir))
    run_dir = Path(tempfile.mkdtemp(prefix="run_", dir=b.build_dir))
    results = run_dir / "results.xml"
    log = run_dir / "sim.log"
    runner = _runner(b.sim, None)
    failed = None
    try:
        runner.test(test_module=test_module, hdl_toplevel=b.top, hdl_toplevel_lang="verilog",
                    build_dir=str(b.build_dir), test_dir=str(run_dir), results_xml=str(results),
                    extra_env=dict(extra_env or {}), testcase=testcase, plusargs=list(plusargs),
                    log_file=str(log))
        ntests, nfail = get_results(results)
        if ntests == 0 or nfail:
            failed = f"{nfail} of {ntests} cocotb tests failed"
    except (RuntimeError, SystemExit) as exc:
        failed = f"simulation failed ({exc})"
    if failed:
        text = log.read_text(errors="replace") if log.is_file() else ""
        tail = "\n".join(text.splitlines()[-60:])
        raise SimulationError(f"{b.sim} {b.top}: {failed}; log {log}:\n{tail}")
    if not keep_dir:
        shutil.rmtree(run_dir, ignore_errors=True)
    return run_dir
