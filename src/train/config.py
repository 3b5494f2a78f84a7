"""Run configs (configs/runs/*.yaml): loaded and validated once into frozen dataclasses.

Top-level keys (all optional; the defaults are the built-in `lowbit run`):
  name, data {kind: dataset (default) with name, test_fraction, split_seed, outlier_channels, outlier_scale,
  scale_spread | kind: text with path (default: the built-in standard-library corpus), test_fraction,
  eval_bytes}, model {kind, hidden, channels, heads, width | kind: gpt with layers, width, heads, context,
  mlp_ratio, tied_embeddings, attention, attn_block, attn_rounding} (a key of another kind is an error;
  kind gpt goes with data kind text and back), recipes [name | {base: name, ...overrides} | {name, ...}],
  optional_recipes [recipe names appended to recipes; the default run adds lns_madam, lns_madam_p10],
  seeds, epochs, batch_size, lr_schedule (constant | cosine | linear), optimizer {overrides of OptimSpec
  applied to every recipe whose optimizer is the low-precision shell: sgd, momentum, adamw}, ptq
  [post-training quantizations evaluated after training: ternary1, ternary2 (PTQTP trit-planes), binary,
  or a format name], jobs, checkpoint_every (steps; 0 = every epoch), log_every, steps (total optimizer
  steps instead of epochs; the usual way to size a text run), warmup_steps (linear lr warm-up before the
  schedule), grad_clip (max global gradient norm, null = no clipping), eval_every (steps between
  validation evaluations; 0 = every epoch).
Every unknown key or bad value raises a ValueError naming the key, the value and what is allowed; every
recipe's datapath must name a simulator architecture (checked here, before any training).
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lowbit.numerics._io import load_yaml
from lowbit.optim import OPTIMIZERS, LowpOptimizer
from lowbit.recipes import OptimSpec, Recipe, list_recipes, recipe_to_dict, resolve_recipe
from lowbit.recipes.spec import from_fields

from .data import DATASETS, check_text_file
from .models import MODEL_KEYS, ModelSpec

__all__ = ["DataSpec", "RunConfig", "load_config", "config_to_dict", "DEFAULT_RECIPES", "SCHEDULES", "PTQ_BUILTIN"]

SCHEDULES = ("constant", "cosine", "linear")
PTQ_BUILTIN = ("ternary1", "ternary2", "binary")
DEFAULT_RECIPES = ("fp32", "bf16_nearest", "bf16_sr", "bf16_kahan", "fp8", "mxfp4", "fp4_dge_occ", "ternary",
                   "eco_fp8")


DATA_KINDS = ("dataset", "text")
DATA_KEYS = {"dataset": ("name", "test_fraction", "split_seed", "outlier_channels", "outlier_scale", "scale_spread"),
             "text": ("path", "test_fraction", "eval_bytes")}


@dataclass(frozen=True)
class DataSpec:
    kind: str = "dataset"
    name: str = "digits"
    test_fraction: float = 0.2
    split_seed: int = 0
    outlier_channels: int = 0
    outlier_scale: float = 1.0
    scale_spread: float = 0.0
    path: str | None = None       # text: the user's file (None: the built-in standard-library corpus)
    eval_bytes: int = 16384       # text: bytes of the fixed validation slice

    def __post_init__(self):
        if self.kind not in DATA_KINDS:
            raise ValueError(f"data: kind={self.kind!r}; allowed: {', '.join(DATA_KINDS)}")
        if self.name not in DATASETS:
            raise ValueError(f"data: name={self.name!r}; allowed: {', '.join(DATASETS)}")
        if self.path is not None and (not isinstance(self.path, str) or not self.path):
            raise ValueError(f"data: path={self.path!r} must be a file path")
        _int("data: eval_bytes", self.eval_bytes, 1)
        if isinstance(self.test_fraction, bool) or not isinstance(self.test_fraction, (int, float)) \
                or not 0 < self.test_fraction < 1:
            raise ValueError(f"data: test_fraction={self.test_fraction!r} must be a number in (0, 1)")


def _check_kind_keys(section: str, given: dict, kind: str, table: dict):
    for k in given:
        if k != "kind" and k not in table[kind]:
            raise ValueError(f"config: {section}.{k} does not apply to {section} kind={kind!r}; keys for "
                             f"{kind}: kind, {', '.join(table[kind])}")


def _int(key, v, lo):
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise ValueError(f"config: {key}={v!r} must be an integer >= {lo}")


@dataclass(frozen=True)
class RunConfig:
    name: str = "default"
    data: DataSpec = DataSpec()
    model: ModelSpec = ModelSpec()
    recipes: tuple = ()
    seeds: tuple = (0, 1, 2)
    epochs: int = 10
    batch_size: int = 32
    lr_schedule: str = "cosine"
    ptq: tuple = ()
    jobs: int = 2
    checkpoint_every: int = 0
    log_every: int = 5
    steps: int | None = None
    warmup_steps: int = 0
    grad_clip: float | None = None
    eval_every: int = 0
    source: str = field(default="", compare=False)

    def __post_init__(self):
        seeds = tuple(self.seeds) if isinstance(self.seeds, (list, tuple)) else (self.seeds,)
        for s in seeds:
            _int("seeds", s, 0)
        if not seeds:
            raise ValueError("config: seeds must list at least one seed")
        object.__setattr__(self, "seeds", seeds)
        _int("epochs", self.epochs, 1)
        _int("batch_size", self.batch_size, 1)
        _int("jobs", self.jobs, 1)
        _int("checkpoint_every", self.checkpoint_every, 0)
        _int("log_every", self.log_every, 1)
        if self.steps is not None:
            _int("steps", self.steps, 1)
        _int("warmup_steps", self.warmup_steps, 0)
        _int("eval_every", self.eval_every, 0)
        if self.grad_clip is not None and (isinstance(self.grad_clip, bool) or not isinstance(
                self.grad_clip, (int, float)) or not self.grad_clip > 0):
            raise ValueError(f"config: grad_clip={self.grad_clip!r} must be a number > 0 or null (no clipping)")
        if (self.model.kind == "gpt") != (self.data.kind == "text"):
            raise ValueError(f"config: model kind={self.model.kind!r} does not fit data kind={self.data.kind!r}; "
                             "model kind gpt trains on data kind text, the other models on data kind dataset")
        if self.lr_schedule not in SCHEDULES:
            raise ValueError(f"config: lr_schedule={self.lr_schedule!r}; allowed: {', '.join(SCHEDULES)}")
        for r in self.recipes:
            if not isinstance(r, Recipe):
                raise ValueError("config: recipes must be resolved Recipe values (use load_config)")
        names = [r.name for r in self.recipes]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"config: recipe name {dup[0]!r} appears twice; give overrides a new 'name'")
        object.__setattr__(self, "ptq", tuple(self.ptq))
        if self.ptq and self.data.kind == "text":
            raise ValueError("config: ptq evaluates classifiers (test accuracy); it does not apply to data kind text")


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads `1e-3` (no dot) as a string; configs mean a number."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789"))

_TOP = [f.name for f in dataclasses.fields(RunConfig) if f.name != "source"] + ["optional_recipes", "optimizer"]


def load_config(src=None) -> RunConfig:
    """A RunConfig from a YAML path, a mapping, or None (the built-in default run)."""
    source = ""
    if src is None:
        data = {}
    elif isinstance(src, dict):
        data = dict(src)
    else:
        path = Path(src)
        if not path.exists():
            raise FileNotFoundError(f"config file {str(path)!r} not found (see configs/runs/)")
        data = load_yaml(path, loader=_Loader, what="run config")
        source = str(path)
    for k in data:
        if k not in _TOP:
            raise ValueError(f"config: unknown key {k!r}; allowed: {', '.join(_TOP)}")
    kw = {k: v for k, v in data.items() if k not in ("data", "model", "recipes", "optional_recipes", "optimizer")}
    if "data" in data:
        kw["data"] = from_fields(DataSpec, data["data"], "config: data")
        _check_kind_keys("data", data["data"], kw["data"].kind, DATA_KEYS)
    if "model" in data:
        kw["model"] = from_fields(ModelSpec, data["model"], "config: model")
        _check_kind_keys("model", data["model"], kw["model"].kind, MODEL_KEYS)
    if "data" in kw and kw["data"].kind == "text" and kw["data"].path is not None and "model" in kw:
        check_text_file(kw["data"].path, kw["model"].context, kw["data"].test_fraction)
    entries = list(data.get("recipes", DEFAULT_RECIPES if "recipes" not in data else []))
    optional = data.get("optional_recipes", ["lns_madam", "lns_madam_p10"] if "recipes" not in data else [])
    if not isinstance(optional, (list, tuple)):
        raise ValueError(f"config: optional_recipes={optional!r} must be a list of recipe names")
    known = list_recipes()
    for n in optional:
        if n not in known:
            raise ValueError(f"config: optional_recipes entry {n!r} is not a recipe; known: {', '.join(known)}")
    entries += list(optional)
    if not entries:
        raise ValueError("config: recipes is empty; name at least one recipe (see `lowbit recipes`)")
    recipes = [resolve_recipe(e, owner=f"config: recipes[{i}]") for i, e in enumerate(entries)]
    opt = data.get("optimizer")
    if opt is not None:
        if not isinstance(opt, dict):
            raise ValueError(f"config: optimizer must be a mapping of OptimSpec overrides, got {opt!r}")
        names = [f.name for f in dataclasses.fields(OptimSpec)]
        for k in opt:
            if k not in names:
                raise ValueError(f"config: unknown key optimizer.{k}; allowed: {', '.join(names)}")
        recipes = [_override_optimizer(r, opt) if OPTIMIZERS[r.optimizer.name].cls is LowpOptimizer else r
                   for r in recipes]
    from .loop import check_datapath
    for r in recipes:
        check_datapath(r)
    for p in kw.get("ptq", ()):
        if p not in PTQ_BUILTIN:
            from lowbit.numerics import get_format
            try:
                get_format(p)
            except ValueError:
                raise ValueError(f"config: ptq entry {p!r}; allowed: {', '.join(PTQ_BUILTIN)} or a format name") from None
    try:
        return RunConfig(recipes=tuple(recipes), source=source, **kw)
    except TypeError as exc:
        raise ValueError(f"config: {exc}") from None


def _override_optimizer(r: Recipe, opt: dict) -> Recipe:
    try:
        return dataclasses.replace(r, optimizer=dataclasses.replace(r.optimizer, **opt))
    except ValueError as exc:
        raise ValueError(f"config: optimizer overrides on recipe {r.name!r}: {exc}") from None


def config_to_dict(cfg: RunConfig) -> dict:
    d = {"name": cfg.name, "data": dataclasses.asdict(cfg.data),
         "model": {**dataclasses.asdict(cfg.model), "hidden": list(cfg.model.hidden)},
         "recipes": [recipe_to_dict(r) for r in cfg.recipes], "seeds": list(cfg.seeds), "epochs": cfg.epochs,
         "batch_size": cfg.batch_size, "lr_schedule": cfg.lr_schedule, "ptq": list(cfg.ptq), "jobs": cfg.jobs,
         "checkpoint_every": cfg.checkpoint_every, "log_every": cfg.log_every, "steps": cfg.steps,
         "warmup_steps": cfg.warmup_steps, "grad_clip": cfg.grad_clip, "eval_every": cfg.eval_every}
    d["data"] = {k: v for k, v in d["data"].items() if k == "kind" or k in DATA_KEYS[cfg.data.kind]}
    d["model"] = {k: v for k, v in d["model"].items() if k == "kind" or k in MODEL_KEYS[cfg.model.kind]}
    return d
