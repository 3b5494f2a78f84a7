"""One training run (recipe x seed): quantized model, low-precision optimizer, deterministic batches,
atomic checkpoints with bit-exact resume, and a NaN/Inf guard that names the step, layer and tensor.

Everything random derives from the run seed: the initial weights (torch's initializers under
`torch.manual_seed(seed)`), the batch order (batch_indices), every stochastic rounding (lowbit.nn seeds
indexed by each layer's saved call counter; the optimizer's by its saved step). A checkpoint holds the
model (with those counters), the optimizer state (values on their formats' grids), the step, the
metrics so far and the RNG states, so `resume=True` continues bit-exactly.
"""
from __future__ import annotations

import contextlib
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from lowbit.nn import NonFiniteError, counting, get_context, quantize_model
from lowbit.optim import build_optimizer

from .data import batch_indices, load_data
from .models import build_model
from .ptq import evaluate_ptq
from .config import config_to_dict
from .result import TrainResult

__all__ = ["train_run", "fit", "Plan", "new_state", "evaluate", "lr_at", "save_checkpoint", "load_checkpoint",
           "check_datapath", "UpdateWorkCounter", "TrainResult"]


def lr_at(base: float, schedule: str, step: int, total: int) -> float:
    if schedule == "constant" or total <= 1:
        return base
    frac = step / (total - 1)
    if schedule == "linear":
        return base * (1.0 - frac) + base * 0.01 * frac
    return base * (0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * frac)))   # cosine to 1% of base


def save_checkpoint(path: Path, payload: dict):
    """Atomic: write a temp file in the same folder, then os.replace."""
    from lowbit.numerics._io import atomic_write
    atomic_write(path, lambda fh: torch.save(payload, fh))


def load_checkpoint(path: Path) -> dict:
    if not Path(path).is_file():
        raise FileNotFoundError(f"no checkpoint at {str(path)!r} to resume from")
    return torch.load(path, map_location="cpu", weights_only=False)


def evaluate(net, x, y) -> tuple[float, float]:
    """(test loss, test accuracy) of `net` on (x, y), in eval mode and without gradients."""
    net.eval()
    with torch.no_grad():
        out = net(x)
        loss = float(F.cross_entropy(out, y))
        acc = float((out.argmax(1) == y).float().mean())
    net.train()
    return loss, acc


def _param_layers(model):
    return {id(p): name.rpartition(".")[0] or name for name, p in model.named_parameters()}


class UpdateWorkCounter:
    """The optimizer's observer while a step is counted: each `UpdateEvent` becomes the simulator's
    elementwise update work and weight traffic (sim.training.update_work), recorded into the step's
    OpCounter with the layer name and the formats of the recipe's tensor classes."""

    def __init__(self, counter, recipe, layer_names: dict):
        self.counter, self.names = counter, layer_names
        self.formats = {"weight": recipe.weight.format, "activation": recipe.input.format,
                        "grad_output": recipe.grad_output.format, "grad_weight": recipe.grad_weight.format}

    def __call__(self, ev) -> None:
        from lowbit.sim import StepFormats, update_work
        f = self.formats
        fmt = StepFormats(weight=f["weight"], activation=f["activation"], grad_output=f["grad_output"],
                          grad_weight=f["grad_weight"], update=ev.update_format, state=ev.state_format,
                          master=ev.master)
        layer = self.names.get(ev.pid, f"param{ev.pid}")
        self.counter.extra.extend(update_work(layer, ev.numel, fmt, ev.rule, sr=ev.sr, kahan=ev.kahan))
        self.counter.writes(ev.numel)


def _energy(workload: dict, datapath) -> dict:
    """Energy of one counted training step on the recipe's datapath (errors propagate: a bad datapath
    was already refused when the run started)."""
    from lowbit.sim import Workload, energy_per_update
    rep = energy_per_update(Workload.from_dict(workload), datapath)
    return {"pj_per_step": float(rep.pj_per_step), "pj_per_weight_update": float(rep.pj_per_weight_update)}


def check_datapath(recipe) -> None:
    """A recipe's datapath must name a simulator architecture (preset or YAML): one ValueError line."""
    from lowbit.sim import load_arch
    try:
        load_arch(recipe.datapath)
    except (ValueError, FileNotFoundError) as exc:
        raise ValueError(f"recipe {recipe.name!r}: datapath={recipe.datapath!r}: {exc}") from None


@dataclass(frozen=True)
class Plan:
    """The steps `fit` runs: `batch(step)` indexes data.x_train, `lr(step)` is that step's learning rate."""
    total: int                                  # steps of the whole run
    steps_per_epoch: int
    batch: Callable[[int], torch.Tensor]
    lr: Callable[[int], float]
    log_every: int = 5                          # steps per point of the training loss curve
    evaluate_epochs: bool = True                # test loss/accuracy at every epoch end


def new_state() -> dict:
    """The loop state `fit` advances (saved whole in checkpoints)."""
    return {"step": 0, "loss_curve": [], "eval": [], "running": 0.0, "count": 0, "workload": None}


def fit(model, opt, data, plan: Plan, state: dict | None = None, *, net=None, stop: int | None = None,
        step_scope=None, after_step=None) -> dict:
    """THE training loop of lowbit (`train_run`, the LNS-Madam benchmark and the device study use it).

    From `state["step"]` to `stop` (default plan.total): set the step's lr, zero the gradients, forward
    `net` (default `model`) on the step's batch, cross-entropy, NaN/Inf guard on the loss, backward,
    `opt.step()`, NaN/Inf guard on every weight of `model` (NonFiniteError naming the step, layer and
    tensor); then the loss curve, the epoch-end evaluation and `after_step(state, end_epoch)`.
    `step_scope(step, state)` is a context manager around the step's forward/backward/update (op
    counting). `opt` is a lowbit optimizer (lowbit.optim.FunctionalOptimizer interface). Returns `state`."""
    net = model if net is None else net
    state = new_state() if state is None else state
    layer_of = _param_layers(model)
    stop = plan.total if stop is None else min(plan.total, stop)
    while state["step"] < stop:
        step = state["step"]
        idx = plan.batch(step)
        opt.set_lr(plan.lr(step))
        with step_scope(step, state) if step_scope is not None else contextlib.nullcontext():
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(net(data.x_train[idx]), data.y_train[idx])
            if not torch.isfinite(loss):
                raise NonFiniteError(step, "loss", "loss")
            loss.backward()
            opt.step()
        for p in model.parameters():
            if not bool(torch.isfinite(p).all()):
                raise NonFiniteError(step, layer_of[id(p)], "weight (after the optimizer step)")
        state["running"] += float(loss.detach())
        state["count"] += 1
        state["step"] = step + 1
        if state["step"] % plan.log_every == 0 or state["step"] == plan.total:
            state["loss_curve"].append((state["step"], state["running"] / state["count"]))
            state["running"], state["count"] = 0.0, 0
        end_epoch = state["step"] % plan.steps_per_epoch == 0 or state["step"] == plan.total
        if end_epoch and plan.evaluate_epochs:
            tl, ta = evaluate(net, data.x_test, data.y_test)
            state["eval"].append((state["step"], tl, ta))
        if after_step is not None:
            after_step(state, end_epoch)
    return state


def train_run(cfg, recipe, seed: int, ckpt_path: Path | None = None, resume: bool = False, rank: int = 0,
              world: int = 1, wrap=None, max_steps: int | None = None, data=None,
              keep_objects: bool = False) -> TrainResult:
    """Train `recipe` under `cfg` with `seed`; returns the run's `TrainResult` (and checkpoints to ckpt_path).

    `wrap(model) -> model` lets a caller wrap the quantized model (DDP); `rank`/`world` shard batches.
    `max_steps` stops early (tests of resume; the result then carries `model_state`). `data` replaces
    the config's dataset (a `lowbit.train.data.Dataset`, e.g. a validation split); `keep_objects` puts
    the trained model and optimizer into the result. NaN/Inf raise NonFiniteError after the last good
    checkpoint."""
    t0 = time.perf_counter()
    check_datapath(recipe)
    if data is None:
        data = load_data(cfg.data.name, cfg.data.test_fraction, cfg.data.split_seed, cfg.data.outlier_channels,
                         cfg.data.outlier_scale, cfg.data.scale_spread)
    model = build_model(cfg.model, data.n_features, data.n_classes, data.image_shape, seed)
    quantize_model(model, recipe, seed=seed, rank=rank)
    ctx = get_context(model)
    net = wrap(model) if wrap is not None else model
    opt = build_optimizer(recipe.optimizer, model.parameters(), seed)
    layer_of = _param_layers(model)
    pid_names = {i: layer_of[id(p)] for i, p in enumerate(model.parameters())}
    n = len(data.x_train)
    spe = math.ceil(n / cfg.batch_size)
    total = cfg.epochs * spe
    state = new_state()
    if resume:
        ck = load_checkpoint(ckpt_path)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])   # with its update statistics
        state.update(ck["state"])
        torch.set_rng_state(ck["rng"]["torch"])
        np.random.set_state(ck["rng"]["numpy"])
        random.setstate(ck["rng"]["python"])

    def checkpoint(state, end_epoch):
        every = cfg.checkpoint_every
        if ckpt_path is None or rank != 0 or not ((every and state["step"] % every == 0) or (not every and end_epoch)):
            return
        save_checkpoint(ckpt_path, {
            "model": model.state_dict(), "optimizer": opt.state_dict(), "state": dict(state),
            "recipe": recipe.name, "seed": seed,
            "config": config_to_dict(cfg),  # so `lowbit export` can rebuild the model on its own
            "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}})

    @contextlib.contextmanager
    def count_first_step(step, state):
        """Every step runs in the model's counting context; the first one is counted (GEMMs and, through
        the optimizer's observer, the update work) into state["workload"]."""
        ctx.step = step
        count = state["workload"] is None
        with counting(model, name=f"{recipe.name}_step") as c:
            if not count:
                ctx.counter = None
            opt.set_observer(UpdateWorkCounter(c, recipe, pid_names) if count else None)
            try:
                yield
            finally:
                opt.set_observer(None)
        if count:
            state["workload"] = {"summary": c.summary(), "items": c.workload().to_dict()}

    base_lr = recipe.optimizer.lr
    plan = Plan(total, spe, lambda step: batch_indices(n, cfg.batch_size, seed, *divmod(step, spe))[rank::world],
                lambda step: lr_at(base_lr, cfg.lr_schedule, step, total), cfg.log_every)
    fit(model, opt, data, plan, state, net=net, stop=max_steps, step_scope=count_first_step, after_step=checkpoint)
    test_loss, acc = evaluate(net, data.x_test, data.y_test)
    work = state["workload"]
    result = TrainResult(
        recipe.name, seed, state["step"], test_loss, state["loss_curve"][-1][1] if state["loss_curve"] else None,
        acc, recipe.bits_per_weight, recipe.train_bits_per_weight, opt.lost_fraction(), opt.unchanged_fraction(),
        state["loss_curve"], state["eval"], recipe.datapath, work["summary"] if work else None,
        time.perf_counter() - t0, None)
    result.energy = _energy(work["items"], recipe.datapath) if work else None
    result.energy_note = "" if work else "no workload"
    if cfg.ptq and state["step"] == total:
        result.ptq = evaluate_ptq(model, cfg.ptq, data)
    if max_steps is not None:
        result.model_state = {k: v.clone() for k, v in model.state_dict().items()}
    if keep_objects:
        result.model, result.optimizer = model, opt
    return result
