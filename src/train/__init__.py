"""lowbit.train: the training runs behind `lowbit run` / `lowbit train` (issue 4).

Public API: `load_config(path|dict|None) -> RunConfig`, `train_run(cfg, recipe, seed, ...) -> TrainResult`,
`fit(model, opt, data, plan)` (the one training loop, `Plan` its steps), `evaluate`, `load_data`,
`build_model`, `ptq_weight`, `evaluate_ptq`, `save_checkpoint` / `load_checkpoint`. Sweeps:
`lowbit.train.sweep.run_sweep(cfg, jobs=None, ckpt_dir=None, progress=True, resume=False, backend=None,
runs_dir=None) -> list[TrainResult]`; reports: `lowbit.train.report` (`summarize`, `format_table`,
`write_report`, on the runs' `TrainResult.to_dict()` records).
"""
from .config import DEFAULT_RECIPES, DataSpec, RunConfig, config_to_dict, load_config
from .data import load_data
from .models import ModelSpec, build_model
from .ptq import evaluate_ptq, ptq_weight
from .loop import Plan, evaluate, fit, load_checkpoint, lr_at, save_checkpoint, train_run
from .result import TrainResult

__all__ = ["load_config", "RunConfig", "DataSpec", "ModelSpec", "config_to_dict", "DEFAULT_RECIPES", "load_data",
           "build_model", "ptq_weight", "evaluate_ptq", "train_run", "TrainResult", "fit", "Plan", "evaluate", "lr_at",
           "save_checkpoint", "load_checkpoint"]
