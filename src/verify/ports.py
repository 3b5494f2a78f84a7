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

__all__ = ["PortMismatch", "module_ports", "module_parameters", "check_ports", "check_params"]


class PortMismatch(ValueError):
    """The module lacks expected ports (or has them with another width/direction)."""


def _read_opts(sv, includes, defines) -> str:
    opts = ["-sv"] if sv else []
    opts += [f"-I{Path(i).resolve()}" for i in includes or ()]
    opts += [f"-D{k}={v}" for k, v in (defines or {}).items()]
    return " ".join(opts) + (" " if opts else "")


def _yosys_ports(sources, top, params, sv=False, includes=(), defines=None):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ports.json"
        chp = " ".join(f"-chparam {k} {int(v)}" for k, v in (params or {}).items())
        opts = _read_opts(sv, includes, defines)
        reads = "; ".join(f"read_verilog {opts}{Path(s).resolve()}" for s in sources)
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


def module_ports(sources, top: str, params: dict | None = None, sv: bool = False, includes=(),
                 defines: dict | None = None):
    """{port: (direction, width or None)} of module `top` (widths None when only the text could be read);
    None if `top` is not in the text either (the simulator then reports). FileNotFoundError for a missing
    file; PortMismatch if Yosys elaborated the files and `top` is not among them."""
    for s in sources:
        if not Path(s).is_file():
            raise FileNotFoundError(f"Verilog source not found: {s}")
    if shutil.which("yosys"):
        ports, _ = _yosys_ports(sources, top, params, sv, includes, defines)
        if ports == "missing":
            raise PortMismatch(f"module {top!r} not found in {', '.join(map(str, sources))}")
        if ports is not None:
            return ports
    # No Yosys, or it could not elaborate the design: names and directions from the text.
    return _text_ports(sources, top)


_PARAM = re.compile(r"\bparameter\b((?:[^;()]|\((?:[^()]|\([^()]*\))*\))*)")
_TYPE_WORDS = {"parameter", "localparam", "integer", "signed", "unsigned", "real", "time", "realtime", "logic",
               "bit", "int", "type"}


def _declared_names(items: str) -> list[str]:
    """Parameter names in a comma-separated declaration list ("A = 1, [3:0] B = 2"); none after a
    localparam keyword."""
    names = []
    for item in re.split(r",(?![^()\[\]{}]*[)\]}])", items):
        lhs = re.sub(r"\[[^\]]*\]", " ", item.split("=")[0])
        if "localparam" in lhs.split():
            break
        words = [w for w in re.findall(r"[A-Za-z_][\w$]*", lhs) if w not in _TYPE_WORDS]
        if words:
            names.append(words[-1])
    return names


def module_parameters(sources, top: str):
    """Names of the parameters module `top` declares (`parameter`, in the #(...) list or the body; not
    localparam), read from the text; None if `top` is not in the text."""
    for s in sources:
        text = _strip(Path(s))
        for m in _MODULE.finditer(text):
            if m[1] != top:
                continue
            end = text.find("endmodule", m.end())
            body = text[m.end(): end if end > 0 else len(text)]
            names = []
            head = re.match(r"\s*#\s*\(((?:[^()]|\((?:[^()]|\([^()]*\))*\))*)\)", body)
            if head:   # ANSI list: "parameter A = 1, B = 2, parameter [3:0] C = 4"; the keyword may be omitted
                names += _declared_names(head[1])
                body = body[head.end():]
            for decl in _PARAM.finditer(body):
                names += _declared_names(decl[1])
            return names
    return None


def check_params(sources, top: str, params: dict) -> None:
    """ValueError naming a parameter `top` does not declare (and the ones it does)."""
    declared = module_parameters(sources, top)
    if declared is None or not params:
        return
    unknown = [k for k in params if k not in declared]
    if unknown:
        have = ", ".join(declared) if declared else "none"
        raise ValueError(f"--param {unknown[0]}: module {top!r} declares no parameter {unknown[0]!r}; its "
                         f"parameters: {have}")


def _fmt_ports(ports: dict) -> str:
    return ", ".join(f"{d} {n}" + (f"[{w}]" if w else "") for n, (d, w) in sorted(ports.items()))


def check_ports(unit, sources, top: str, params: dict | None = None, optional=(), timing=None, sv: bool = False,
                includes=(), defines: dict | None = None):
    """Raise PortMismatch listing expected and found ports unless `top` has every input and output of
    `unit` with the same direction and width (extra outputs are allowed, extra inputs are not). Inputs
    named in `optional` may be absent; `timing` adds its clock, reset and valid ports. Returns the names
    of the optional inputs the module has (all of them when its ports could not be read)."""
    found = module_ports(sources, top, params, sv, includes, defines)
    if found is None:
        return tuple(optional)
    expected = {p.name: ("input", p.width) for p in unit.inputs if p.name not in optional or p.name in found}
    clock = timing.clock if timing is not None and timing.clock else unit.clock
    if clock:
        expected[clock] = ("input", 1)
    if timing is not None:
        for name, d in ((timing.reset, "input"), (timing.valid_in, "input"), (timing.valid_out, "output")):
            if name:
                expected[name] = (d, 1)
    expected.update({p.name: ("output", p.width) for p in unit.outputs})
    problems = []
    for name, (d, w) in expected.items():
        if name not in found:
            problems.append(f"missing {d} {name}[{w}]")
        elif found[name][0] != d or (found[name][1] is not None and found[name][1] != w):
            fd, fw = found[name]
            problems.append(f"{name}: expected {d} [{w}], found {fd}" + (f" [{fw}]" if fw else ""))
    extra = [n for n, (d, _) in found.items() if n not in expected and d == "input"]
    hint = lambda n: (" (a clock? declare it with --clock)" if re.search(r"cl(oc)?k", n, re.I) else  # noqa: E731
                      " (a reset? --reset)" if re.search(r"rst|reset", n, re.I) else
                      " (a handshake? --valid-in)" if re.search(r"valid|vld|en\b|enable", n, re.I) else "")
    problems += [f"unexpected input {n} (the harness would leave it undriven){hint(n)}" for n in extra]
    if problems:
        raise PortMismatch(f"module {top!r} does not have the ports of {unit.op} [{unit.fmt}]: "
                           + "; ".join(problems)
                           + f".\n  expected: {_fmt_ports(expected)}\n  found:    {_fmt_ports(found)}")
    return tuple(n for n in optional if n in found)
