"""Design-space exploration (`lowbit.sim.explore`, `lowbit dse SPACE.yaml`): every point of a space of
architectures crossed with workloads, evaluated with the exact cycle model of `systolic_gemm` and the
energy accounting of `simulate`, batched over points; plus area, the Pareto set and the co-design view.

A space (YAML, see configs/dse/ and docs/sim.md) gives a list, a scalar or a range for each axis:

    workloads   workload names / YAML paths (configs/workloads/), {gemm: {m, n, k}} (one GEMM in the
                datapath's own formats), or {config: RUN.yaml} (a training config whose model is traced,
                attention matmuls included; formats and optimizer from the datapath)
    datapath    families fp32 bf16 fp16 fp8 mxfp8 mxfp4 int8 ternary lns (the datapaths of the arch presets),
                or {family: F, <Datapath field>: value | [values]} (e.g. {family: lns, gamma: [4, 8, 16]})
    energy      energy tables (configs/energy/)
    rows, cols, dataflow, buffers {a, b, c} (KiB), dram_gbps, clock_mhz
    area        one area table (configs/area/); vector_lanes (0 = cols); chunk (points per task)

Ranges: {from: A, to: B, step: S} (arithmetic) or {from: A, to: B, times: F} (geometric), both inclusive.
Points are the cartesian product in the order workloads, datapath, energy, rows, cols, dataflow, a, b, c,
dram_gbps, clock_mhz (the last varies fastest); `index` numbers them. A point whose array is empty, whose
buffer is zero-sized or whose stationary/output tile does not fit its buffer is kept, `feasible=False`,
with the reason (the message `systolic_gemm` raises for it); so is a point whose workload has a GEMM
wider than its datapath (`simulate` prices such a GEMM at its own formats and notes it; its numbers are
still reported).

Exactness: per GEMM the fold parameters are computed as `systolic_gemm` computes them, vectorised over
points, and the memory pipeline is the same Numba kernel (`_kernel.pipeline`) called in a batch loop;
energies are charged in `simulate`'s order with the same costs, so every number equals `lowbit sim` on
`space.arch(index)` (tests/sim/test_dse.py checks random points of every dataflow and datapath).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np
from numba import njit

from lowbit.numerics._io import load_yaml
from lowbit.numerics._resources import config_dir
from . import _kernel as K
from .arch import DATAFLOWS, Arch, Buffer, load_arch
from .area import load_area_table
from .energy import load_energy_table
from .report import COMPONENTS, _elementwise_cost, _fits, _lns_conversion, _mac_costs
from .systolic import Q, systolic_gemm
from .workload import Workload, _check_keys, format_bits

__all__ = ["Space", "load_space", "explore", "DSEResult", "FAMILIES", "SPACE_KEYS", "pareto_mask"]

FAMILIES = {"fp32": "sa32_fp32", "bf16": "sa32_bf16", "fp16": "sa32_fp16", "fp8": "sa32_fp8",
            "mxfp8": "sa32_mxfp8", "mxfp4": "sa32_mxfp4", "int8": "sa32_int8", "ternary": "sa32_ternary",
            "lns": "lns_madam_pe"}
SPACE_KEYS = ("name", "workloads", "datapath", "energy", "rows", "cols", "dataflow", "buffers", "dram_gbps",
              "clock_mhz", "area", "vector_lanes", "chunk")
DP_FIELDS = ("a_format", "b_format", "acc_format", "kind", "gamma", "conversion")
WORKLOAD_DIR = config_dir("workloads")
DF_CODE = {"os": K.OS, "ws": K.WS, "is": K.IS}


# ---- space ----------------------------------------------------------------------------------------------
def _values(key, spec, kind, minimum, allowed=None, strict=False):
    """A scalar, a list, or a {from, to, step|times} range -> tuple of values, validated."""
    if isinstance(spec, dict):
        _check_keys(f"space: {key}", spec, ("from", "to", "step", "times"), required=("from", "to"))
        if ("step" in spec) == ("times" in spec):
            raise ValueError(f"space: {key}: a range needs exactly one of step (arithmetic) or times (geometric)")
        lo, hi = spec["from"], spec["to"]
        for k, v in (("from", lo), ("to", hi)):
            _scalar(f"{key}.{k}", v, kind, minimum, strict)
        if hi < lo:
            raise ValueError(f"space: {key}: to={hi!r} must be >= from={lo!r}")
        vals, x = [], lo
        if "step" in spec:
            s = _scalar(f"{key}.step", spec["step"], kind, 0, strict=True)
            while x <= hi:
                vals.append(x)
                x = x + s
        else:
            f = spec["times"]
            if isinstance(f, bool) or not isinstance(f, (int, float)) or not f > 1:
                raise ValueError(f"space: {key}.times={f!r} must be a number > 1")
            if lo <= 0:
                raise ValueError(f"space: {key}: a geometric range needs from > 0, got {lo!r}")
            while x <= hi:
                vals.append(x)
                x = type(lo)(x * f) if kind is int and float(x * f).is_integer() else x * f
                if kind is int and not float(x).is_integer():
                    raise ValueError(f"space: {key}: times={f!r} gives a non-integer value {x!r}")
        spec = vals
    vals = spec if isinstance(spec, list) else [spec]
    if not vals:
        raise ValueError(f"space: {key} is an empty list; give at least one value")
    out = []
    for i, v in enumerate(vals):
        where = f"{key}[{i}]" if isinstance(spec, list) else key
        if allowed is not None:
            if v not in allowed:
                raise ValueError(f"space: {where}={v!r}; allowed: {', '.join(allowed)}")
            out.append(v)
        else:
            out.append(_scalar(where, v, kind, minimum, strict))
    if len(set(out)) != len(out):
        dup = next(v for v in out if out.count(v) > 1)
        raise ValueError(f"space: {key} lists {dup!r} twice")
    return tuple(out)


def _scalar(where, v, kind, minimum, strict=False):
    ok = not isinstance(v, bool) and (isinstance(v, int) if kind is int else isinstance(v, (int, float)))
    if ok and kind is float:
        ok = math.isfinite(v)
    if not ok or (v <= minimum if strict else v < minimum):
        what = "an integer" if kind is int else "a finite number"
        raise ValueError(f"space: {where}={v!r} must be {what} {'>' if strict else '>='} {minimum}")
    return int(v) if kind is int else float(v)


def _datapaths(spec) -> tuple:
    """[(name, Datapath)] from family names and {family, overrides} mappings."""
    items = spec if isinstance(spec, list) else [spec]
    if not items:
        raise ValueError("space: datapath is an empty list; give at least one family")
    out = []
    for i, d in enumerate(items):
        where = f"space: datapath[{i}]"
        if isinstance(d, str):
            d = {"family": d}
        if not isinstance(d, dict):
            raise ValueError(f"{where}={d!r} must be a family name or a mapping {{family, ...}}")
        _check_keys(where, d, ("family", "name") + DP_FIELDS, required=("family",))
        fam = d["family"]
        if fam not in FAMILIES:
            raise ValueError(f"{where}: family={fam!r}; allowed: {', '.join(FAMILIES)}")
        base = load_arch(FAMILIES[fam]).datapath
        over = {k: (v if isinstance(v, list) else [v]) for k, v in d.items() if k in DP_FIELDS}
        for k, v in over.items():
            if not v:
                raise ValueError(f"{where}: {k} is an empty list")
        keys = list(over)
        for combo in itertools.product(*(over[k] for k in keys)):
            kw = dict(zip(keys, combo))
            if "name" in d and len(list(itertools.product(*over.values()))) > 1:
                raise ValueError(f"{where}: name={d['name']!r} cannot name several datapaths (lists in overrides)")
            name = d.get("name") or (fam if not kw else f"{fam}[{','.join(f'{k}={v}' for k, v in kw.items())}]")
            try:
                dp = replace(base, **kw)
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
            out.append((name, dp))
    names = [n for n, _ in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"space: datapath {dup[0]!r} appears twice")
    return tuple(out)


def _workload_entries(spec, base: Path) -> tuple:
    items = spec if isinstance(spec, list) else [spec]
    if not items:
        raise ValueError("space: workloads is an empty list")
    out = []
    for i, w in enumerate(items):
        where = f"space: workloads[{i}]"
        if isinstance(w, str):
            p = Path(w)
            if not p.suffix and not (base / p).exists() and not p.exists():
                if not (WORKLOAD_DIR / f"{w}.yaml").is_file():
                    known = ", ".join(sorted(x.stem for x in WORKLOAD_DIR.glob("*.yaml")))
                    raise ValueError(f"{where}={w!r}: unknown workload; known: {known} (or a YAML path, or "
                                     "{config: RUN.yaml})")
                p = WORKLOAD_DIR / f"{w}.yaml"
            elif not p.is_absolute() and not p.exists():
                p = base / p
            if not p.is_file():
                raise ValueError(f"{where}={w!r}: no such workload file")
            out.append(("workload", str(p), load_yaml(p).get("name") or p.stem))
        elif isinstance(w, dict) and "gemm" in w:
            _check_keys(where, w, ("gemm", "name"), required=("gemm",))
            gm = w["gemm"]
            _check_keys(f"{where}.gemm", gm, ("m", "n", "k"), required=("m", "n", "k"))
            dims = tuple(_scalar(f"workloads[{i}].gemm.{k}", gm[k], int, 1) for k in ("m", "n", "k"))
            out.append(("gemm", dims, w.get("name") or "gemm_{}x{}x{}".format(*dims)))
        elif isinstance(w, dict):
            _check_keys(where, w, ("config", "name"), required=("config",))
            p = Path(w["config"])
            if not p.is_absolute() and not p.exists():
                p = base / p
            if not p.is_file():
                raise ValueError(f"{where}: config={w['config']!r}: no such run config")
            out.append(("config", str(p), w.get("name") or f"{p.stem}_step"))
        else:
            raise ValueError(f"{where}={w!r} must be a workload name/path, {{gemm: {{m, n, k}}}} or {{config: RUN.yaml}}")
    names = [n for _, _, n in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"space: workload name {dup[0]!r} appears twice; give one a 'name'")
    return tuple(out)


def traced_layers(config_path: str) -> list:
    """The forward layers of a run config's model on one batch: Linear/Conv modules, and every matmul (and
    scaled_dot_product_attention's two products) called outside them, i.e. attention Q K^T and P V or a tied
    output head, as activation x activation `matmul` layers (no weight update)."""
    import torch
    from torch.overrides import TorchFunctionMode
    from lowbit.train import load_config
    from lowbit.train.data import load_data
    from lowbit.train.models import build_model
    from .trace import trace_layers
    from .training import matmul
    cfg = load_config(config_path)
    if cfg.data.kind == "text":   # a byte-level language model: one batch of `context` tokens
        from lowbit.train.models import VOCAB
        model = build_model(cfg.model, VOCAB, VOCAB, (), 0)
        x = torch.zeros((cfg.batch_size, cfg.model.context), dtype=torch.long)
    else:
        data = load_data(cfg.data.name, cfg.data.test_fraction, cfg.data.split_seed, cfg.data.outlier_channels,
                         cfg.data.outlier_scale, cfg.data.scale_spread)
        model = build_model(cfg.model, data.n_features, data.n_classes, data.image_shape, 0)
        x = data.x_train[:cfg.batch_size]
    inside = [0]
    extra, order = [], []

    class _MatmulMode(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if func is torch.nn.functional.scaled_dot_product_attention and not inside[0]:
                q, k, v = args[0], args[1], args[2]
                cnt = int(math.prod(q.shape[:-2]))
                extra.append(matmul(f"matmul#{len(extra)}", q.shape[-2], k.shape[-2], q.shape[-1], cnt))
                order.append(("matmul", len(extra) - 1))
                extra.append(matmul(f"matmul#{len(extra)}", q.shape[-2], v.shape[-1], k.shape[-2], cnt))
                order.append(("matmul", len(extra) - 1))
            elif func in (torch.matmul, torch.Tensor.matmul, torch.Tensor.__matmul__, torch.bmm) and not inside[0]:
                a, b = args[0], args[1]
                if a.dim() >= 2 and b.dim() >= 2:
                    cnt = int(math.prod(out.shape[:-2])) if out.dim() > 2 else 1
                    extra.append(matmul(f"matmul#{len(extra)}", a.shape[-2], b.shape[-1], a.shape[-1], cnt))
                    order.append(("matmul", len(extra) - 1))
            return out

    def pre(mod, inp):
        inside[0] += 1
        order.append(("module", None))

    def post(mod, inp, out):
        inside[0] -= 1
    hooked = (torch.nn.Linear, torch.nn.modules.conv._ConvNd)
    handles = [m.register_forward_pre_hook(pre) for m in model.modules() if isinstance(m, hooked)]
    handles += [m.register_forward_hook(post) for m in model.modules() if isinstance(m, hooked)]
    try:
        with _MatmulMode():
            with torch.no_grad():
                model(x)
    finally:
        for h in handles:
            h.remove()
    mods = iter(trace_layers(model, x))
    layers = [next(mods) if kind == "module" else extra[i] for kind, i in order]
    return layers


@dataclass
class Space:
    name: str
    workloads: tuple          # (kind, path, name)
    datapaths: tuple          # (name, Datapath)
    energy: tuple
    rows: tuple
    cols: tuple
    dataflow: tuple
    a_kib: tuple
    b_kib: tuple
    c_kib: tuple
    dram_gbps: tuple
    clock_mhz: tuple
    area: str = "nangate45"
    vector_lanes: int = 0
    chunk: int = 8192
    source: dict = field(default_factory=dict, repr=False)   # the raw mapping (what a worker rebuilds from)
    base: str = "."
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def shape(self) -> tuple:
        return tuple(len(getattr(self, k)) for k in ("workloads", "datapaths", "energy", "rows", "cols", "dataflow",
                                                      "a_kib", "b_kib", "c_kib", "dram_gbps", "clock_mhz"))

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def coords(self, index) -> tuple:
        return np.unravel_index(np.asarray(index, np.int64), self.shape)

    def point(self, index: int) -> dict:
        c = [int(v) for v in self.coords(index)]
        return {"index": int(index), "workload": self.workloads[c[0]][2], "datapath": self.datapaths[c[1]][0],
                "energy": self.energy[c[2]], "rows": self.rows[c[3]], "cols": self.cols[c[4]],
                "dataflow": self.dataflow[c[5]], "a_kib": self.a_kib[c[6]], "b_kib": self.b_kib[c[7]],
                "c_kib": self.c_kib[c[8]], "dram_gbps": self.dram_gbps[c[9]], "clock_mhz": self.clock_mhz[c[10]]}

    def arch(self, index: int) -> Arch:
        """The Arch of a (feasible-sized) point, for `lowbit sim` / `simulate`."""
        p = self.point(index)
        dp = self.datapaths[int(self.coords(index)[1])][1]
        return Arch(f"dse{index}", p["rows"], p["cols"], p["dataflow"], dp,
                    {k: Buffer(p[f"{k}_kib"]) for k in "abc"}, p["dram_gbps"], p["clock_mhz"], self.vector_lanes,
                    p["energy"])

    def workload(self, wi: int, di: int) -> Workload:
        key = ("workload", wi, di)
        if key not in self._cache:
            kind, path, name = self.workloads[wi]
            dp = self.datapaths[di][1]
            if kind == "workload":
                self._cache[key] = Workload.load(path, datapath=dp)
            elif kind == "gemm":
                from .workload import Gemm
                self._cache[key] = Workload((Gemm("gemm", *path, dp.a_format, dp.b_format, dp.acc_format),),
                                            name=name)
            else:
                from .training import StepFormats, training_step
                lk = ("layers", wi)
                if lk not in self._cache:
                    self._cache[lk] = traced_layers(path)
                self._cache[key] = training_step(self._cache[lk], StepFormats.for_datapath(dp),
                                                 "lns_madam" if dp.kind == "lns" else "momentum", name)
        return self._cache[key]

    @cached_property
    def tables(self) -> tuple:
        return tuple(load_energy_table(e) for e in self.energy)

    @cached_property
    def area_table(self):
        return load_area_table(self.area)


def load_space(spec, base=None) -> Space:
    """A Space passes through; a mapping or a YAML path is validated (one line naming the key on error)."""
    if isinstance(spec, Space):
        return spec
    if isinstance(spec, (str, Path)):
        path = Path(spec)
        if not path.is_file():
            raise FileNotFoundError(f"space file {str(path)!r} not found (see configs/dse/)")
        d = load_yaml(path)
        base = path.parent if base is None else base
        where = str(path)
    elif isinstance(spec, dict):
        d, where = dict(spec), "space"
    else:
        raise ValueError(f"space must be a YAML path or a mapping, got {type(spec).__name__}")
    try:
        return _build_space(d, Path(base or "."))
    except ValueError as exc:
        msg = str(exc)
        raise ValueError(msg if where == "space" else f"{where}: {msg}") from None


def _build_space(d: dict, base: Path) -> Space:
    _check_keys("space", d, SPACE_KEYS, required=("workloads", "datapath", "rows", "cols", "buffers"))
    bufs = d["buffers"]
    if not isinstance(bufs, dict) or set(bufs) != {"a", "b", "c"}:
        raise ValueError(f"space: buffers={bufs!r} must map exactly a, b, c to KiB values (lists or ranges)")
    energy = _names("energy", d.get("energy", "horowitz45"))
    for i, e in enumerate(energy):
        try:
            load_energy_table(e if not Path(e).suffix else str(base / e) if not Path(e).exists() else e)
        except (ValueError, FileNotFoundError) as exc:
            raise ValueError(f"space: energy[{i}]: {exc}") from None
    energy = tuple(e if not Path(e).suffix or Path(e).exists() else str(base / e) for e in energy)
    area = d.get("area", "nangate45")
    if not isinstance(area, str):
        raise ValueError(f"space: area={area!r} must name one area table (configs/area/)")
    try:
        load_area_table(area)
    except (ValueError, FileNotFoundError) as exc:
        raise ValueError(f"space: area: {exc}") from None
    name = d.get("name", "space")
    if not isinstance(name, str) or not name:
        raise ValueError(f"space: name={name!r} must be a non-empty string")
    return Space(
        name=name, workloads=_workload_entries(d["workloads"], base), datapaths=_datapaths(d["datapath"]),
        energy=energy, rows=_values("rows", d["rows"], int, 0), cols=_values("cols", d["cols"], int, 0),
        dataflow=_values("dataflow", d.get("dataflow", "os"), str, None, allowed=DATAFLOWS),
        a_kib=_values("buffers.a", bufs["a"], float, 0), b_kib=_values("buffers.b", bufs["b"], float, 0),
        c_kib=_values("buffers.c", bufs["c"], float, 0),
        dram_gbps=_values("dram_gbps", d.get("dram_gbps", 64), float, 0, strict=True),
        clock_mhz=_values("clock_mhz", d.get("clock_mhz", 1000), float, 0, strict=True),
        area=area, vector_lanes=_scalar("vector_lanes", d.get("vector_lanes", 0), int, 0),
        chunk=_scalar("chunk", d.get("chunk", 8192), int, 1), source=d, base=str(base))


def _names(key, spec) -> tuple:
    vals = spec if isinstance(spec, list) else [spec]
    if not vals:
        raise ValueError(f"space: {key} is an empty list")
    for i, v in enumerate(vals):
        if not isinstance(v, str) or not v:
            raise ValueError(f"space: {key}[{i}]={v!r} must be a name or a YAML path")
    if len(set(vals)) != len(vals):
        raise ValueError(f"space: {key} lists a value twice")
    return tuple(vals)


# ---- evaluation ---------------------------------------------------------------------------------------
@njit(cache=True)
def _pipeline_batch(P):
    out = np.empty((P.shape[0], 3), np.int64)
    for i in range(P.shape[0]):
        out[i] = K.pipeline(P[i])
    return out


def _ceil_bits(words, wq):
    return -((-words * wq) // Q)


def _wq(fmt) -> int:
    return int(math.ceil(format_bits(fmt) * Q))


class _Group:
    """Constants of one (workload, datapath): the workload, its GEMMs and costs per energy table."""

    def __init__(self, space: Space, wi: int, di: int):
        self.space = space
        self.wl = wl = space.workload(wi, di)
        self.dp = dp = space.datapaths[di][1]
        self.gemms = []
        for g in wl.gemms:
            fits = _fits(g, dp)
            a, b, acc = (dp.a_format, dp.b_format, dp.acc_format) if fits else (g.a_format, g.b_format, g.acc_format)
            lns = fits and dp.kind == "lns"
            self.gemms.append((g, a, b, acc, lns, (_wq(g.a_format), _wq(g.b_format), _wq(acc), _wq(g.result_format))))
        bad = [g for g in wl.gemms if not _fits(g, dp)]
        self.nofit = "" if not bad else (
            f"{bad[0].name}: {bad[0].a_format} x {bad[0].b_format} does not fit datapath {dp.a_format} x "
            f"{dp.b_format} ({dp.kind}){f' (and {len(bad) - 1} more GEMMs)' if len(bad) > 1 else ''}; "
            "lowbit sim prices such GEMMs at their own formats, which this datapath cannot run")
        self.pe = space.area_table.pe(dp)
        # the batched evaluation is int64 numpy (wrapping silently on overflow): refuse sizes near 2^63
        # instead (lowbit sim's systolic_gemm checks each size exactly)
        rc = max(max(space.rows), max(space.cols), 1)
        for g, a, b, acc, lns, wq in self.gemms:
            bound = (g.m * g.n * g.k + (g.m * g.n + g.m * g.k + g.k * g.n) * (3 * rc + 2)) * g.count * max(wq) * 8
            if bound >= 2 ** 63:
                raise ValueError(f"explore: workload {wl.name!r}, GEMM {g.name!r} ({g.m} x {g.n} x {g.k}, count "
                                 f"{g.count}) with arrays up to {rc} is too large for the batched int64 evaluation "
                                 "(its traffic in 1/64 bits could reach 2^63); simulate it with `lowbit sim`")

    def costs(self, T):
        """Per-table scalar charges that do not depend on the geometry."""
        out = {"mac": [], "reg": [], "conv": [], "elem": []}
        for g, a, b, acc, lns, _ in self.gemms:
            out["mac"].append([cost.pj * (g.m * g.n * g.k * g.count) for _, _, cost in _mac_costs(T, a, b, acc, lns)])
            cnt = g.m * g.n * g.k * g.count * (format_bits(a) + format_bits(b) + format_bits(acc))
            out["reg"].append(T.reg_bit().pj * cnt)
            out["conv"].append(_lns_conversion(T, self.dp, g.result_format).pj if lns else 0.0)
        for e in self.wl.elementwise:
            out["elem"].append(("device_pulse" if e.op == "device_pulse" else "elementwise",
                                _elementwise_cost(T, e).pj * e.count, e.count))
        return out


def _gemm_eval(m, n, k, wq, R, C, df, cap, bw):
    """Vectorised systolic_gemm over unique geometries (int64 arrays). Returns (ok mask, dict of arrays)."""
    wa, wb, wacc, wout = wq
    i64 = np.int64
    os_, ws_, is_ = df == K.OS, df == K.WS, df == K.IS
    sr = np.where(os_, m, k).astype(i64)
    sc = np.where(is_, m, n).astype(i64)
    t = np.where(os_, k, np.where(ws_, m, n)).astype(i64)
    fr, fc = -(-sr // R), -(-sc // C)
    lf = np.where(os_, t + R + C - 2, t + 2 * R + C - 2)
    capx = np.where(is_, cap[1], cap[0])
    xw = np.where(is_, wb, wa)
    x_words = np.where(is_, k * n, m * k)
    res = (x_words * xw <= capx).astype(i64)
    x_tile = np.where(os_, np.minimum(R, m) * k, np.where(ws_, m * np.minimum(R, k), np.minimum(R, k) * n)) * xw
    xs = (x_tile > capx // 2).astype(i64)
    yfit = np.where(os_, (k * np.minimum(C, n) * wb <= cap[1] // 2), 1).astype(i64)
    out_tile = np.minimum(R, m) * np.minimum(C, n) * wout
    st_tile = np.minimum(R, sr) * np.minimum(C, sc) * np.where(ws_, wb, wa)
    st_cap = np.where(ws_, cap[1], cap[0])
    ok = np.where(os_, out_tile <= cap[2] // 2, st_tile <= st_cap // 2)
    spill = np.where(os_, 0, (np.where(ws_, m, n) * np.minimum(C, sc) * wacc > cap[2] // 2)).astype(i64)
    P = np.zeros((len(R), K.NPARAM), i64)
    for col, v in ((K.P_FR, fr), (K.P_FC, fc), (K.P_R, R), (K.P_C, C), (K.P_SR, sr), (K.P_SC, sc), (K.P_T, t),
                   (K.P_DF, df), (K.P_WA, wa), (K.P_WB, wb), (K.P_WACC, wacc), (K.P_WOUT, wout), (K.P_RES, res),
                   (K.P_YFIT, yfit), (K.P_SPILL, spill), (K.P_M, m), (K.P_N, n), (K.P_K, k), (K.P_LF, lf),
                   (K.P_XS, xs), (K.P_BW, bw)):
        P[:, col] = v
    pipe = np.zeros((len(R), 3), i64)
    if ok.any():
        pipe[ok] = _pipeline_batch(np.ascontiguousarray(P[ok]))
    pre, span, wbc = pipe[:, 0], pipe[:, 1], pipe[:, 2]
    mn, mk, kn = m * n, m * k, k * n
    kf = np.where(os_, 1, fr)
    s_a = np.where(is_, mk, mk * fc)
    s_b = np.where(os_, kn * fr, np.where(ws_, kn, kn * fc))
    d_a = np.where(is_, mk, np.where(res == 1, mk, mk * fc))
    d_b = np.where(os_, np.where(yfit == 1, kn, kn * fr), np.where(ws_, kn, np.where(res == 1, kn, kn * fc)))
    d_c = np.where(spill == 1, mn * (kf - 1), 0)
    psw = d_c
    rb_a, rb_b = _ceil_bits(s_a, wa), _ceil_bits(s_b, wb)
    rb_c = _ceil_bits(mn * (kf - 1) + psw, wacc) + _ceil_bits(mn, wout)
    wb_a, wb_b = _ceil_bits(d_a, wa), _ceil_bits(d_b, wb)
    wb_c = _ceil_bits(mn * (kf - 1) + d_c, wacc) + _ceil_bits(mn, wout)
    dr_a, dr_b, dr_c = wb_a, wb_b, _ceil_bits(d_c, wacc)
    dw_c = _ceil_bits(mn, wout) + _ceil_bits(psw, wacc)
    return ok, {"cycles": pre + span + wbc, "kf": kf, "sram_a": rb_a + wb_a, "sram_b": rb_b + wb_b,
                "sram_c": rb_c + wb_c, "dram_a": dr_a, "dram_b": dr_b, "dram_c": dr_c + dw_c,
                "dram_read": dr_a + dr_b + dr_c, "dram_write": dw_c, "sram_read": rb_a + rb_b + rb_c,
                "sram_write": wb_a + wb_b + wb_c}


COLUMNS = ("index", "workload", "datapath", "energy", "rows", "cols", "dataflow", "a_kib", "b_kib", "c_kib",
           "dram_gbps", "clock_mhz", "feasible", "reason", "cycles", "seconds", "utilization", "pj_per_step",
           "pj_per_weight_update", "energy_objective", *(f"pj_{c}" for c in COMPONENTS), "dram_read_bits",
           "dram_write_bits", "sram_read_bits", "sram_write_bits", "area_mm2", "area_pe_mm2", "area_sram_mm2",
           "area_note")


def evaluate_range(space: Space, start: int, stop: int) -> dict:
    """Columns (COLUMNS) of points start..stop-1, in index order."""
    space = load_space(space)
    idx = np.arange(start, stop, dtype=np.int64)
    n = len(idx)
    co = space.coords(idx)
    cols = {c: np.zeros(n, np.float64) for c in COLUMNS}
    for c in ("index", "cycles", "rows", "cols", "dram_read_bits", "dram_write_bits", "sram_read_bits",
              "sram_write_bits"):
        cols[c] = np.zeros(n, np.int64)
    for c in ("workload", "datapath", "energy", "dataflow", "reason", "area_note"):
        cols[c] = np.full(n, "", dtype=object)
    cols["feasible"] = np.zeros(n, bool)
    cols["index"][:] = idx
    for key, axis, ci in (("rows", space.rows, 3), ("cols", space.cols, 4), ("a_kib", space.a_kib, 6),
                          ("b_kib", space.b_kib, 7), ("c_kib", space.c_kib, 8), ("dram_gbps", space.dram_gbps, 9),
                          ("clock_mhz", space.clock_mhz, 10)):
        cols[key][:] = np.asarray(axis)[co[ci]]
    cols["workload"][:] = np.array([w[2] for w in space.workloads], dtype=object)[co[0]]
    cols["datapath"][:] = np.array([d[0] for d in space.datapaths], dtype=object)[co[1]]
    cols["energy"][:] = np.array(space.energy, dtype=object)[co[2]]
    cols["dataflow"][:] = np.array(space.dataflow, dtype=object)[co[5]]
    gkey = co[0] * len(space.datapaths) + co[1]
    for g in np.unique(gkey):
        sel = np.nonzero(gkey == g)[0]
        wi, di = divmod(int(g), len(space.datapaths))
        _eval_group(space, wi, di, sel, co, cols)
    return cols


def _eval_group(space, wi, di, sel, co, cols):
    gk = ("group", wi, di)
    if gk not in space._cache:
        space._cache[gk] = _Group(space, wi, di)
    G = space._cache[gk]
    R = np.asarray(space.rows, np.int64)[co[3][sel]]
    C = np.asarray(space.cols, np.int64)[co[4][sel]]
    df = np.array([DF_CODE[d] for d in space.dataflow], np.int64)[co[5][sel]]
    kib = [np.asarray(getattr(space, f"{b}_kib"), np.float64)[co[6 + j][sel]] for j, b in enumerate("abc")]
    bits_of = [np.array([int(v * 1024 * 8) for v in getattr(space, f"{b}_kib")], np.int64) for b in "abc"]
    bits = [bits_of[j][co[6 + j][sel]] for j in range(3)]
    bw_tab = np.array([[max(1, int(g * 8e9 // (c * 1e6))) for c in space.clock_mhz] for g in space.dram_gbps],
                      np.int64)
    bw = bw_tab[co[9][sel], co[10][sel]] * Q
    clock = np.asarray(space.clock_mhz, np.float64)[co[10][sel]]
    ei = co[2][sel]
    # zero-sized designs
    reason = np.full(len(sel), "", dtype=object)
    for arr, what in ((R, "rows"), (C, "cols")):
        reason[(arr < 1) & (reason == "")] = f"{what}=0: zero-sized array"
    for j, b in enumerate("abc"):
        for v in np.unique(kib[j][(bits[j] < 1) & (reason == "")]):
            reason[(kib[j] == v) & (reason == "")] = f"buffers.{b}: kib={v:g}: zero-sized buffer"
    live = reason == ""
    # unique geometries among live points
    geo = np.stack([R, C, df, bits[0], bits[1], bits[2], bw], axis=1)[live]
    if len(geo):
        ug, inv = np.unique(geo, axis=0, return_inverse=True)
    else:   # no live point: one placeholder geometry keeps the arrays non-empty (nothing maps to it)
        ug, inv = np.array([[1, 1, 0, 1 << 30, 1 << 30, 1 << 30, Q]], np.int64), np.zeros(0, np.int64)
    inv = inv.reshape(-1)
    nu = len(ug)
    uR, uC, udf = ug[:, 0], ug[:, 1], ug[:, 2]
    ucap = [ug[:, 3] * Q, ug[:, 4] * Q, ug[:, 5] * Q]
    ubw = ug[:, 6]
    ok_all = np.ones(nu, bool)
    ureason = np.full(nu, "", dtype=object)
    per_gemm = []
    memo = {}
    for g, a, b, acc, lns, wq in G.gemms:
        key = (g.m, g.n, g.k, wq)
        if key not in memo:
            memo[key] = _gemm_eval(g.m, g.n, g.k, wq, uR, uC, udf, ucap, ubw)
        ok, res = memo[key]
        newly = ~ok & ok_all
        for u in np.nonzero(newly)[0]:
            ureason[u] = f"{g.name}: {_tile_message(g, a, b, acc, uR[u], uC[u], udf[u], ug[u])}"
        ok_all &= ok
        per_gemm.append(res)
    # per live point
    lsel = np.nonzero(live)[0]
    feas_u = ok_all[inv]
    reason[lsel[~feas_u]] = ureason[inv[~feas_u]]
    computed = reason == ""
    if G.nofit:
        reason[computed] = G.nofit
    feasible = reason == ""
    n = len(sel)
    cyc = np.zeros(n, np.int64)
    trf = {k: np.zeros(n, np.int64) for k in ("dram_read", "dram_write", "sram_read", "sram_write")}
    comp = {}
    order = []
    ne = len(space.energy)
    costs = [G.costs(T) for T in space.tables]
    sram_pj = [[np.array([T.sram_bit(v).pj for v in getattr(space, f"{bname}_kib")])[co[6 + j][sel]]
                for j, bname in enumerate("abc")] for T in space.tables]
    dram_pj = np.array([T.dram_bit().pj for T in space.tables])[ei]
    sram_pt = [np.choose(ei, [sram_pj[t][j] for t in range(ne)]) if ne > 1 else sram_pj[0][j] for j in range(3)]

    def charge(c, pj):
        if c not in comp:
            comp[c] = np.zeros(n, np.float64)
            order.append(c)
        comp[c] = comp[c] + pj

    lp = np.zeros(n, np.int64)   # live-point -> unique geometry (0 for dead points: masked later)
    lp[lsel] = inv
    for gi, (g, a, b, acc, lns, wq) in enumerate(G.gemms):
        res = per_gemm[gi]
        c = g.count
        cyc += c * res["cycles"][lp]
        for j, pj in enumerate(np.array([costs[t]["mac"][gi] for t in range(ne)]).T):
            charge("mac", pj[ei])
        charge("pe_registers", np.array([costs[t]["reg"][gi] for t in range(ne)])[ei])
        if lns:
            cnt = g.m * g.n * res["kf"][lp] * c
            charge("lns_conversion", np.array([costs[t]["conv"][gi] for t in range(ne)])[ei] * cnt)
        for j, op in enumerate("abc"):
            charge(f"sram_{op}", sram_pt[j] * (res[f"sram_{op}"][lp] * c))
            charge("dram", dram_pj * (res[f"dram_{op}"][lp] * c))
        for k in trf:
            trf[k] += res[k][lp] * c
    lanes = space.vector_lanes or None
    for ej, e in enumerate(G.wl.elementwise):
        comp_name, _, count = costs[0]["elem"][ej]
        if count:
            charge(comp_name, np.array([costs[t]["elem"][ej][1] for t in range(ne)])[ei])
        cyc += -(-count // (lanes if lanes else np.maximum(C, 1)))
    kibs = np.stack(kib, axis=1)
    big = np.argmax(kibs, axis=1)          # first largest of a, b, c (as simulate)
    for t in G.wl.transfers:
        if not t.bytes:
            continue
        if t.level == "dram":
            charge("transfer_dram", dram_pj * (8 * t.bytes))
        else:
            charge("transfer_sram", np.choose(big, sram_pt) * (8 * t.bytes))
    total = np.zeros(n, np.float64)
    for c in order:
        total = total + comp[c]
    nupd = G.wl.n_weight_updates
    pes = R * C
    out = {"feasible": feasible, "reason": reason, "cycles": cyc, "pj_per_step": total,
           "pj_per_weight_update": total / nupd if nupd else np.full(n, np.nan),
           "seconds": cyc / (clock * 1e6)}
    with np.errstate(divide="ignore", invalid="ignore"):
        out["utilization"] = G.wl.macs / (cyc * pes).astype(np.float64)
    out["energy_objective"] = out["pj_per_weight_update"] if nupd else total
    for c in COMPONENTS:
        out[f"pj_{c}"] = comp.get(c, np.zeros(n))
    for k, v in trf.items():
        out[f"{k}_bits"] = v
    # area
    at = space.area_table
    upt = at.value("logic.um2_per_transistor")
    sram_um2 = at.sram_um2((bits[0] + bits[1] + bits[2]).astype(np.float64))
    out["area_sram_mm2"] = sram_um2 / 1e6
    if G.pe.why:
        out["area_pe_mm2"] = np.full(n, np.nan)
        out["area_mm2"] = np.full(n, np.nan)
        out["area_note"] = np.full(n, G.pe.why, dtype=object)
    else:
        pe_um2 = (pes * G.pe.pe_transistors + C * G.pe.column_transistors) * upt
        out["area_pe_mm2"] = pe_um2 / 1e6
        out["area_mm2"] = (pe_um2 + sram_um2) / 1e6
        out["area_note"] = np.full(n, G.pe.note, dtype=object)
    for k, v in out.items():
        if k in ("feasible", "reason", "area_note", "area_sram_mm2", "area_pe_mm2", "area_mm2"):
            cols[k][sel] = v
        else:
            cols[k][sel] = np.where(computed, v, 0 if v.dtype.kind == "i" else np.nan)


def _tile_message(g, a, b, acc, R, C, df, geo) -> str:
    """The exact message systolic_gemm raises for this GEMM on this geometry."""
    dflow = {v: k for k, v in DF_CODE.items()}[int(df)]
    try:
        systolic_gemm(g.m, g.n, g.k, rows=int(R), cols=int(C), dataflow=dflow, a_format=g.a_format,
                      b_format=g.b_format, acc_format=acc, out_format=g.result_format,
                      buffer_bits={"a": int(geo[3]), "b": int(geo[4]), "c": int(geo[5])},
                      dram_bits_per_cycle=int(geo[6]) // Q)
    except ValueError as exc:
        return str(exc)
    raise AssertionError("explore: a tile check disagrees with systolic_gemm (please report)")


# ---- Pareto ---------------------------------------------------------------------------------------------
@njit(cache=True)
def _pareto3(e, l, a, order, lr, nu):
    """Non-dominated mask for minimising (e, l, a): points in lexicographic `order`, a Fenwick tree over the
    ranks `lr` (1..nu) of l holding the minimum a seen; points with identical objectives are all kept."""
    n = len(e)
    tree = np.full(nu + 1, np.inf)
    keep = np.zeros(n, np.bool_)
    i = 0
    while i < n:
        j = i
        while j + 1 < n and e[order[j + 1]] == e[order[i]] and l[order[j + 1]] == l[order[i]] and \
                a[order[j + 1]] == a[order[i]]:
            j += 1
        p = order[i]
        q = lr[p]
        best = np.inf
        while q > 0:
            best = min(best, tree[q])
            q -= q & (-q)
        if not best <= a[p]:
            for t in range(i, j + 1):
                keep[order[t]] = True
        q = lr[p]
        while q <= nu:
            tree[q] = min(tree[q], a[p])
            q += q & (-q)
        i = j + 1
    return keep


def pareto_mask(*objectives) -> np.ndarray:
    """Non-dominated points (minimise every objective; 2 or 3 float arrays without NaN)."""
    objs = [np.ascontiguousarray(o, dtype=np.float64) for o in objectives]
    if len(objs) == 2:
        objs.append(np.zeros_like(objs[0]))
    if len(objs) != 3:
        raise ValueError("pareto_mask: give 2 or 3 objectives")
    if len(objs[0]) == 0:
        return np.zeros(0, bool)
    e, l, a = objs
    order = np.lexsort((a, l, e))
    uniq = np.unique(l)
    lr = np.searchsorted(uniq, l).astype(np.int64) + 1
    return _pareto3(e, l, a, order.astype(np.int64), lr, len(uniq))


# ---- driver ---------------------------------------------------------------------------------------------
@dataclass
class DSEResult:
    space: Space
    columns: dict

    def __len__(self):
        return len(self.columns["index"])

    @cached_property
    def pareto(self) -> np.ndarray:
        """Per workload: feasible points with known area not dominated in (energy objective, seconds, area)."""
        c = self.columns
        mask = np.zeros(len(self), bool)
        for w in dict.fromkeys(c["workload"]):
            sel = np.nonzero((c["workload"] == w) & c["feasible"] & np.isfinite(c["area_mm2"]))[0]
            mask[sel[pareto_mask(c["energy_objective"][sel], c["seconds"][sel], c["area_mm2"][sel])]] = True
        return mask

    @cached_property
    def pareto_energy_latency(self) -> np.ndarray:
        """Per workload: feasible points not dominated in (energy objective, seconds), area unknown included."""
        c = self.columns
        mask = np.zeros(len(self), bool)
        for w in dict.fromkeys(c["workload"]):
            sel = np.nonzero((c["workload"] == w) & c["feasible"])[0]
            mask[sel[pareto_mask(c["energy_objective"][sel], c["seconds"][sel])]] = True
        return mask

    def rows(self, mask=None):
        c = self.columns
        idx = range(len(self)) if mask is None else np.nonzero(mask)[0]
        for i in idx:
            yield {k: _py(c[k][i]) for k in COLUMNS}


def _py(v):
    if isinstance(v, np.generic):
        return v.item()
    return v


def explore(space, progress: bool = False, backend=None, start: int = 0, stop: int | None = None) -> DSEResult:
    """Evaluate every point of `space` (a Space, mapping or YAML path) in chunks of `space.chunk` points.
    `backend`: None/"local" (this process) or a lowbit.train.backend Backend (e.g. Ray: one task per chunk);
    results are identical either way (same chunks, gathered in index order)."""
    space = load_space(space)
    stop = space.size if stop is None else stop
    chunks = [(i, min(i + space.chunk, stop)) for i in range(start, stop, space.chunk)]
    from tqdm import tqdm
    bar = tqdm(total=stop - start, desc="lowbit dse", unit="pt", disable=not progress, dynamic_ncols=True,
               unit_scale=True)
    parts = {}
    try:
        if backend is None or backend == "local":
            for ch in chunks:
                parts[ch] = evaluate_range(space, *ch)
                bar.update(ch[1] - ch[0])
        else:
            for ch, res in backend.map_unordered(_chunk_task, [(space.source, space.base, ch) for ch in chunks],
                                                 keys=chunks):
                parts[ch] = res
                bar.update(ch[1] - ch[0])
    finally:
        bar.close()
    if not chunks:
        return DSEResult(space, evaluate_range(space, start, start))
    cols = {k: np.concatenate([parts[ch][k] for ch in chunks]) for k in COLUMNS}
    return DSEResult(space, cols)


_WORKER_SPACES = {}


def _chunk_task(args):
    """One chunk in a worker process: the space is rebuilt once per process from its mapping."""
    source, base, (i0, i1) = args
    key = (repr(source), base)
    if key not in _WORKER_SPACES:
        _WORKER_SPACES[key] = load_space(source, base=base)
    return evaluate_range(_WORKER_SPACES[key], i0, i1)
