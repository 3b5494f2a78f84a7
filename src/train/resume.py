"""`--resume` continues a run only under the configuration it was started with.

A checkpoint carries its run config (`config_to_dict`). Resuming under a config that differs in anything
that shapes the run (data, model, epochs and schedule, batch size, PTQ, logging cadence, or this run's
recipe) would give a result that matches neither config, or fail deep inside load_state_dict; it is
refused up front with the differing keys named. What may change: the config's `name`, `jobs`,
`checkpoint_every` (they do not change the numbers: resume is bit-exact wherever checkpoints fall), and
the other recipes and seeds of the sweep.
"""
from __future__ import annotations

from pathlib import Path

from lowbit.recipes import recipe_to_dict

from .config import config_to_dict

__all__ = ["MAY_CHANGE", "config_differences", "check_resume", "check_resume_dir", "checkpoint_file"]

MAY_CHANGE = ("name", "jobs", "checkpoint_every")


def _diff(a, b, path: str, out: list) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            _diff(a.get(k, "<absent>"), b.get(k, "<absent>"), f"{path}.{k}" if path else str(k), out)
    elif isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            _diff(x, y, f"{path}[{i}]", out)
    elif a != b:
        out.append((path, a, b))


def config_differences(saved: dict, cfg, recipe) -> list:
    """[(key, value in the checkpoint, value now)] for every difference that matters to run `recipe`."""
    now = config_to_dict(cfg)
    out = []
    skip = set(MAY_CHANGE) | {"recipes", "seeds"}
    _diff({k: v for k, v in saved.items() if k not in skip}, {k: v for k, v in now.items() if k not in skip}, "",
          out)
    mine = [r for r in saved.get("recipes", []) if isinstance(r, dict) and r.get("name") == recipe.name]
    _diff(mine[0] if mine else "<absent>", recipe_to_dict(recipe), f"recipes[{recipe.name}]", out)
    return out


def check_resume(ck: dict, cfg, recipe, seed: int, path) -> None:
    """Raise one ValueError line naming the keys where checkpoint `ck` (at `path`) and this run differ."""
    if ck.get("recipe") != recipe.name or ck.get("seed") != seed:
        raise ValueError(f"{path}: the checkpoint is recipe {ck.get('recipe')!r} seed {ck.get('seed')!r}, "
                         f"not {recipe.name!r} seed {seed}")
    if "config" not in ck:
        raise ValueError(f"{path}: the checkpoint records no run config, so --resume cannot check it")
    diffs = config_differences(ck["config"], cfg, recipe)
    if diffs:
        shown = "; ".join(f"{k}: {a!r} in the checkpoint, {b!r} now" for k, a, b in diffs[:4])
        more = f" (and {len(diffs) - 4} more)" if len(diffs) > 4 else ""
        raise ValueError(f"{Path(path)}: --resume with a config that differs from the checkpoint's in "
                         f"{', '.join(k for k, _, _ in diffs)}: {shown}{more}; resume with the config it was "
                         f"started with (only {', '.join(MAY_CHANGE)} and the other recipes/seeds may change), "
                         f"or train into a new --out")


def checkpoint_file(ckpt_dir, recipe_name: str, seed: int) -> str:
    """Where a sweep keeps the checkpoint of run (recipe, seed)."""
    import os
    return os.path.join(ckpt_dir, f"{recipe_name}_seed{seed}.pt")


def check_resume_dir(cfg, ckpt_dir) -> int:
    """Check every checkpoint of `cfg`'s runs in `ckpt_dir` before any run starts; returns how many exist."""
    from .loop import load_checkpoint
    found = 0
    for r in cfg.recipes:
        for s in cfg.seeds:
            path = Path(checkpoint_file(ckpt_dir, r.name, s))
            if path.is_file():
                ck = load_checkpoint(path)   # one-line ValueError for an unreadable file
                check_resume(ck, cfg, r, s, path)
                found += 1
    return found
