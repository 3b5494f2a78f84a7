"""Port checks for user modules: does `top` in these files have the ports an operation needs?

Ports are read from Yosys' elaborated view of the top alone (`read_verilog; blackbox <the other
modules>; hierarchy -top ... -chparam ...; write_json`, Yosys manual), which resolves
parameter-dependent widths. Without Yosys, names and
directions come from the module header text (ANSI or Verilog-1995 style) and widths go unchecked. If
Yosys cannot parse the files the check steps aside, so that the simulator's own compile message is
what the user sees.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["PortMismatch", "module_ports", "check_ports"]


class PortMismatch(ValueError):
    """The module lacks expected ports (or has them with another width/direction)."""


def _yosys_ports(sources, top, params):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ports.json"
        chp = " ".join(f"-chparam {k} {int(v)}" for k, v in (params or {}).items())
        reads = "; ".join(f"read_verilog {Path(s).resolve()}" for s in sources)
        # Only the top is elaborated: the others become black boxes (Yosys 0.23's hierarchy -chparam
        # trips an assertion when a derived submodule is instantiated twice).
        others = sorted({m[1] for src in sources for m in _MODULE.finditer(_strip(Path(src)))} - {top})
        bbox = f"blackbox {' '.join(others)}; " if others else ""
        script = f"{reads}; {bbox}hierarchy -top {top} {chp}; proc; write_json {out}"
        res = subprocess.run(["yosys", "-q", "-p", script], capture_output=True, text=True, timeout=120)
        if res.returncode != 0 or not out.is_file():
            text = res.stdout + res.stderr
            if "not found" in text.lower() and top in text:
                return "missing", text
            return None, text
        mods = json.loads(out.read_text())["modules"]
        name = top if top in mods else next((m for m in mods if m.startswith("$paramod") and f"\\{top}\\" in m), None)
        if name is None:
            name = next((m for m in mods if m.endswith(top) or top in m.split("\\")), None)
        if name is None:
            return "missing", ", ".join(mods)
        return {p: (d["direction"], len(d["bits"])) for p, d in mods[name]["ports"].items()}, ""


_MODULE = re.compile(r"\bmodule\s+([A-Za-z_][\w$]*)")
_DIR = re.compile(r"\b(input|output|inout)\b")
_SKIP = {"wire", "reg", "signed", "unsigned", "integer", "logic", "var"}


def _strip(path: Path) -> str:
    return re.sub(r"//[^\n]*|/\*.*?\*/", "", path.read_text(errors="replace"), flags=re.S)


def _text_ports(sources, top):
    """{name: (direction, None)} from the module text (comments stripped), or None if top is absent."""
    for s in sources:
        text = _strip(Path(s))
        for m in _MODULE.finditer(text):
            if m[1] != top:
                continue
            end = text.find("endmodule", m.end())
            body = text[m.end(): end if end > 0 else len(text)]
            body = re.sub(r"#\s*\((?:[^()]|\([^()]*\))*\)", "", body, count=1)   # the parameter list
            kws = list(_DIR.finditer(body))
            ports = {}
            for i, kw in enumerate(kws):
                seg = body[kw.end(): kws[i + 1].start() if i + 1 < len(kws) else len(body)]
                seg = re.split(r"[;)]", re.sub(r"\[[^\]]*\]", " ", seg))[0]
                for name in re.findall(r"[A-Za-z_][\w$]*", seg):
                    if name not in _SKIP:
                        ports.setdefault(name, (kw[1], None))
            return ports
    return None


def module_ports(sources, top: str, params: dict | None = None):
    """{port: (direction, width or None)} of module `top` (widths None when only the text could be read);
    None if `top` is not in the text either (the simulator then reports). FileNotFoundError for a missing
    file; PortMismatch if Yosys elaborated the files and `top` is not among them."""
    for s in sources:
        if not Path(s).is_file():
            raise FileNotFoundError(f"Verilog source not found: {s}")
    if shutil.which("yosys"):
        ports, _ = _yosys_ports(sources, top, params)
        if ports == "missing":
            raise PortMismatch(f"module {top!r} not found in {', '.join(map(str, sources))}")
        if ports is not None:
            return ports
    # No Yosys, or it could not elaborate the design: names and directions from the text.
    return _text_ports(sources, top)


def _fmt_ports(ports: dict) -> str:
    return ", ".join(f"{d} {n}" + (f"[{w}]" if w else "") for n, (d, w) in sorted(ports.items()))


def check_ports(unit, sources, top: str, params: dict | None = None) -> None:
    """Raise PortMismatch listing expected and found ports unless `top` has every input and output of
    `unit` with the same direction and width (extra outputs are allowed, extra inputs are not)."""
    found = module_ports(sources, top, params)
    if found is None:
        return
    expected = {p.name: ("input", p.width) for p in unit.inputs}
    if unit.clock:
        expected[unit.clock] = ("input", 1)
    expected.update({p.name: ("output", p.width) for p in unit.outputs})
    problems = []
    for name, (d, w) in expected.items():
        if name not in found:
            problems.append(f"missing {d} {name}[{w}]")
        elif found[name][0] != d or (found[name][1] is not None and found[name][1] != w):
            fd, fw = found[name]
            problems.append(f"{name}: expected {d} [{w}], found {fd}" + (f" [{fw}]" if fw else ""))
    extra = [n for n, (d, _) in found.items() if n not in expected and d == "input"]
    problems += [f"unexpected input {n} (the harness would leave it undriven)" for n in extra]
    if problems:
        raise PortMismatch(f"module {top!r} does not have the ports of {unit.op} [{unit.fmt}]: "
                           + "; ".join(problems)
                           + f".\n  expected: {_fmt_ports(expected)}\n  found:    {_fmt_ports(found)}")
