"""lowbit.train: the training runs behind `lowbit run` / `lowbit train` (issue 4).

Public API: `load_config(path|dict|None) -> RunConfig`, `train_run(cfg, recipe, seed, ...)`,
`run_sweep(cfg, out_dir, jobs)` (recipes x seeds in parallel processes), `write_report`,
`load_data`, `build_model`, `ptq_weight`, `evaluate_ptq`, `save_checkpoint` / `load_checkpoint`.
"""
from .config import DEFAULT_RECIPES, DataSpec, RunConfig, config_to_dict, load_config
from .data import load_data
from .models import ModelSpec, build_model
from .ptq import evaluate_ptq, ptq_weight
from .loop import load_checkpoint, lr_at, save_checkpoint, train_run

__all__ = ["load_config", "RunConfig", "DataSpec", "ModelSpec", "config_to_dict", "DEFAULT_RECIPES", "load_data",
           "build_model", "ptq_weight", "evaluate_ptq", "train_run", "lr_at", "save_checkpoint", "load_checkpoint"]
