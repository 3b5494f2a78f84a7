"""A `lowbit train` checkpoint back into its quantized model, for `lowbit export`.

A checkpoint (lowbit.train.save_checkpoint) holds the model's state_dict, the recipe name and the run
seed; the architecture comes from the run config, taken from the checkpoint's `config` entry when it has
one, or from `--config RUN.yaml` (the config it was trained with). The data set is loaded only for its
dimensions (features, classes, image shape), which the architecture needs.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

__all__ = ["model_from_checkpoint"]


def _recipe(name, cfg):
    from lowbit.recipes import get_recipe
    for r in getattr(cfg, "recipes", ()):
        if r.name == name:       # a recipe defined (or overridden) in the run config
            return r
    return get_recipe(name)


def model_from_checkpoint(path, config=None):
    """(quantized model with the checkpoint's weights, builder description for export_model)."""
    from lowbit.nn import quantize_model
    from lowbit.train import build_model, load_checkpoint, load_config, load_data
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    ck = load_checkpoint(path)   # one-line ValueError for a file torch cannot read as a checkpoint
    if not isinstance(ck.get("model"), dict) or "recipe" not in ck:
        raise ValueError(f"{path}: not a lowbit train checkpoint (a dict with 'model', 'recipe' and 'seed')")
    cfg_src = config if config is not None else ck.get("config")
    if cfg_src is None:
        raise ValueError(f"{path}: the checkpoint carries no run config; pass --config RUN.yaml (the config it "
                         "was trained with) so the architecture can be rebuilt")
    cfg = load_config(cfg_src)
    seed = int(ck.get("seed", 0))
    data = load_data(cfg.data.name, cfg.data.test_fraction, cfg.data.split_seed, cfg.data.outlier_channels,
                     cfg.data.outlier_scale)
    args = {"spec": dataclasses.asdict(cfg.model), "n_features": int(data.n_features),
            "n_classes": int(data.n_classes), "image_shape": list(data.image_shape), "seed": seed}
    args["spec"]["hidden"] = list(args["spec"]["hidden"])
    model = build_model(cfg.model, args["n_features"], args["n_classes"], tuple(args["image_shape"]), seed)
    quantize_model(model, _recipe(ck["recipe"], cfg), seed=seed)
    try:
        model.load_state_dict(ck["model"], strict=True)
    except RuntimeError as exc:
        raise ValueError(f"{path}: the checkpoint does not fit the model of its run config: {exc}") from None
    return model, {"name": "lowbit.train.build_model", "args": args}
