"""Run configs (configs/runs/*.yaml): loaded and validated once into frozen dataclasses.

Top-level keys (all optional; the defaults are the built-in `lowbit run`):
  name, data {name, test_fraction, split_seed, outlier_channels, outlier_scale, scale_spread},
  model {kind, hidden, channels, heads, width}, recipes [name | {base: name, ...overrides} | {name, ...}],
  optional_recipes [names used only when registered, e.g. lns_madam], seeds, epochs, batch_size,
  lr_schedule (constant | cosine | linear), optimizer {overrides of OptimSpec applied to every recipe
  that uses a built-in optimizer: sgd, momentum, adamw}, ptq [post-training quantizations evaluated
  after training: ternary1, ternary2 (PTQTP trit-planes), binary, or a format name], jobs,
  checkpoint_every (steps; 0 = every epoch), log_every.
Every unknown key or bad value raises a ValueError naming the key, the value and what is allowed.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lowbit.numerics._io import load_yaml
from lowbit.recipes import OptimSpec, Recipe, list_recipes, recipe_to_dict, resolve_recipe
from lowbit.recipes.spec import from_fields

from .data import DATASETS
from .models import ModelSpec

__all__ = ["DataSpec", "RunConfig", "load_config", "config_to_dict", "DEFAULT_RECIPES", "SCHEDULES", "PTQ_BUILTIN"]

SCHEDULES = ("constant", "cosine", "linear")
PTQ_BUILTIN = ("ternary1", "ternary2", "binary")
DEFAULT_RECIPES = ("fp32", "bf16_nearest", "bf16_sr", "bf16_kahan", "fp8", "mxfp4", "fp4_dge_occ", "ternary",
                   "eco_fp8")
BUILTIN_OPTIMIZERS = ("sgd", "momentum", "adamw")


@dataclass(frozen=True)
class DataSpec:
    name: str = "digits"
    test_fraction: float = 0.2
    split_seed: int = 0
    outlier_channels: int = 0
    outlier_scale: float = 1.0
    scale_spread: float = 0.0

    def __post_init__(self):
        if self.name not in DATASETS:
            raise ValueError(f"data: name={self.name!r}; allowed: {', '.join(DATASETS)}")


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
    if "model" in data:
        kw["model"] = from_fields(ModelSpec, data["model"], "config: model")
    entries = list(data.get("recipes", DEFAULT_RECIPES if "recipes" not in data else []))
    optional = data.get("optional_recipes", ["lns_madam", "lns_madam_p10"] if "recipes" not in data else [])
    known = set(list_recipes())
    entries += [n for n in optional if isinstance(n, str) and n in known]
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
        recipes = [dataclasses.replace(r, optimizer=dataclasses.replace(r.optimizer, **opt))
                   if r.optimizer.name in BUILTIN_OPTIMIZERS else r for r in recipes]
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


def config_to_dict(cfg: RunConfig) -> dict:
    d = {"name": cfg.name, "data": dataclasses.asdict(cfg.data),
         "model": {**dataclasses.asdict(cfg.model), "hidden": list(cfg.model.hidden)},
         "recipes": [recipe_to_dict(r) for r in cfg.recipes], "seeds": list(cfg.seeds), "epochs": cfg.epochs,
         "batch_size": cfg.batch_size, "lr_schedule": cfg.lr_schedule, "ptq": list(cfg.ptq), "jobs": cfg.jobs,
         "checkpoint_every": cfg.checkpoint_every, "log_every": cfg.log_every}
    return d
