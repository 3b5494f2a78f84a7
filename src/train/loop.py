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
import pickle
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

from .data import batch_indices, load_data, load_text
from .models import GPT, VOCAB, build_model, count_parameters
from .ptq import evaluate_ptq
from .config import config_to_dict
from .resume import check_resume
from .result import TrainResult
from .threads import single_threaded

__all__ = ["train_run", "fit", "Plan", "new_state", "evaluate", "lr_at", "save_checkpoint", "load_checkpoint",
           "check_datapath", "UpdateWorkCounter", "TrainResult"]


def lr_at(base: float, schedule: str, step: int, total: int, warmup: int = 0) -> float:
    """lr of `step` (0-based) of `total`: a linear warm-up over the first `warmup` steps (base * (step+1) /
    warmup), then the schedule over the remaining steps (cosine / linear decay to 1% of base)."""
    if step < warmup:
        return base * (step + 1) / warmup
    step, total = step - warmup, total - warmup
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
    """The checkpoint dict at `path`; FileNotFoundError if there is none, one-line ValueError (naming the
    file) if it is not a readable checkpoint."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no checkpoint at {str(path)!r} to resume from")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=False)
    except (pickle.UnpicklingError, EOFError, RuntimeError, ValueError) as exc:   # torch.load's errors
        raise ValueError(f"{path}: not a readable lowbit checkpoint ({type(exc).__name__}: "
                         f"{' '.join(str(exc).split())[:200]}); remove it to restart that run") from None
    if not isinstance(ck, dict):
        raise ValueError(f"{path}: not a lowbit checkpoint (a {type(ck).__name__})")
    return ck


def evaluate(net, x, y) -> tuple[float, float]:
    """(test loss, test accuracy) of a classifier `net` on (x, y), in eval mode and without gradients."""
    net.eval()
    with torch.no_grad():
        out = net(x)
        loss = float(F.cross_entropy(out, y))
        acc = float((out.argmax(1) == y).float().mean())
    net.train()
    return loss, acc


def _evaluate_lm(model, x, y, batch: int = 16):
    """(nats per byte, next-byte accuracy) of the model on the fixed validation windows."""
    model.eval()
    tot, hit, n = 0.0, 0, 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out = model(x[i:i + batch])
            yy = y[i:i + batch]
            tot += float(F.cross_entropy(out.reshape(-1, VOCAB), yy.reshape(-1), reduction="sum"))
            hit += int((out.argmax(-1) == yy).sum())
            n += yy.numel()
    model.train()
    return tot / n, hit / n


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
    """The steps `fit` runs. `batch(step) -> (x, y)` is that step's batch, `lr(step)` its learning rate;
    `evaluate(net) -> (loss, accuracy)` runs every `eval_every` steps (0: at every epoch end; None:
    never) and after the last step."""
    total: int                                   # steps of the whole run
    steps_per_epoch: int
    batch: Callable[[int], tuple]
    lr: Callable[[int], float]
    evaluate: Callable | None = None
    eval_every: int | None = 0
    log_every: int = 5                           # steps per point of the training loss curve
    grad_clip: float | None = None               # clip the gradient norm before the update


def new_state() -> dict:
    """The loop state `fit` advances (saved whole in checkpoints)."""
    return {"step": 0, "loss_curve": [], "eval": [], "running": 0.0, "count": 0, "workload": None}


def fit(model, opt, plan: Plan, state: dict | None = None, *, net=None, stop: int | None = None,
        step_scope=None, after_step=None) -> dict:
    """THE training loop of lowbit (`train_run`, the LNS-Madam benchmark and the device study use it).

    From `state["step"]` to `stop` (default plan.total): set the step's lr, zero the gradients, forward
    `net` (default `model`) on the step's batch, cross-entropy over the last axis, the NaN/Inf guard on
    the loss, backward, optional gradient clipping, `opt.step()`, the NaN/Inf guard on every weight of
    `model` (NonFiniteError naming the step, layer and tensor); then the loss curve, the evaluation and
    `after_step(state, end_epoch)`. `step_scope(step, state)` is a context manager around the step's
    forward/backward/update (op counting). `opt` is a lowbit optimizer (the
    lowbit.optim.FunctionalOptimizer interface). Returns `state`."""
    net = model if net is None else net
    state = new_state() if state is None else state
    layer_of = _param_layers(model)
    stop = plan.total if stop is None else min(plan.total, stop)
    while state["step"] < stop:
        step = state["step"]
        xb, yb = plan.batch(step)
        opt.set_lr(plan.lr(step))
        with step_scope(step, state) if step_scope is not None else contextlib.nullcontext():
            opt.zero_grad(set_to_none=True)
            out = net(xb)
            loss = F.cross_entropy(out.reshape(-1, out.shape[-1]), yb.reshape(-1))
            if not torch.isfinite(loss):
                raise NonFiniteError(step, "loss", "loss")
            loss.backward()
            if plan.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), plan.grad_clip)
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
        every = plan.eval_every
        if plan.evaluate is not None and every is not None and (
                (end_epoch and not every) or (every and state["step"] % every == 0) or state["step"] == plan.total):
            tl, ta = plan.evaluate(net)
            state["eval"].append((state["step"], tl, ta))
        if after_step is not None:
            after_step(state, end_epoch)
    return state


@single_threaded      # bit-identical whatever the caller's thread count (docs/reliability.md)
def train_run(cfg, recipe, seed: int, ckpt_path: Path | None = None, resume: bool = False, rank: int = 0,
              world: int = 1, wrap=None, max_steps: int | None = None, model_fn=None, data=None,
              keep_objects: bool = False) -> TrainResult:
    """Train `recipe` under `cfg` with `seed` through `fit`; returns the run's `TrainResult` (and
    checkpoints to ckpt_path).

    `wrap(model) -> model` lets a caller wrap the quantized model (DDP); `rank`/`world` shard batches.
    `max_steps` stops early (tests of resume; the result then carries `model_state`). NaN/Inf raise
    NonFiniteError after the last good checkpoint.
    `model_fn(seed) -> nn.Module` trains the caller's own model instead of `cfg.model` (called after
    torch.manual_seed(seed)); for data kind text its forward maps (B, T) int64 bytes to (B, T, 256) logits.
    Its checkpoints then need that model to be rebuilt (`lowbit export` rebuilds only `cfg.model`).
    `data` replaces the config's dataset (a `lowbit.train.data.Dataset`, e.g. a validation split; not for
    text); `keep_objects` puts the trained model and optimizer into the result."""
    t0 = time.perf_counter()
    check_datapath(recipe)
    text = cfg.data.kind == "text"
    if text:   # a byte-level language model (model kind gpt): see data.TextData
        if data is not None:
            raise ValueError("train_run: data= replaces a dataset; a text config reads its corpus itself")
        data = load_text(cfg.data.path, cfg.data.test_fraction, cfg.model.context)
        model = _own_model(model_fn, seed) if model_fn is not None else build_model(cfg.model, VOCAB, VOCAB, (), seed)
        x_val, y_val = data.eval_windows(cfg.model.context, cfg.data.eval_bytes)
        evaluate_net = lambda m: _evaluate_lm(m, x_val, y_val)   # noqa: E731
    else:
        if data is None:
            data = load_data(cfg.data.name, cfg.data.test_fraction, cfg.data.split_seed, cfg.data.outlier_channels,
                             cfg.data.outlier_scale, cfg.data.scale_spread)
        model = _own_model(model_fn, seed) if model_fn is not None else build_model(
            cfg.model, data.n_features, data.n_classes, data.image_shape, seed)
        evaluate_net = lambda m: evaluate(m, data.x_test, data.y_test)   # noqa: E731
    quantize_model(model, recipe, seed=seed, rank=rank)
    ctx = get_context(model)
    net = wrap(model) if wrap is not None else model
    opt = build_optimizer(recipe.optimizer, model.parameters(), seed)
    layer_of = _param_layers(model)
    pid_names = {i: layer_of[id(p)] for i, p in enumerate(model.parameters())}
    if text:   # an epoch = as many windows as the training part holds
        n = len(data.train)
        spe = max(1, n // (cfg.batch_size * cfg.model.context))
    else:
        n = len(data.x_train)
        spe = math.ceil(n / cfg.batch_size)
    total = cfg.steps if cfg.steps is not None else cfg.epochs * spe
    state = new_state()
    if isinstance(model, GPT):
        state["attn_stats"] = []
    if resume:
        ck = load_checkpoint(ckpt_path)
        check_resume(ck, cfg, recipe, seed, ckpt_path)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])   # with its update statistics
        state.update(ck["state"])
        torch.set_rng_state(ck["rng"]["torch"])
        np.random.set_state(ck["rng"]["numpy"])
        random.setstate(ck["rng"]["python"])

    def batch(step):
        if text:
            xb, yb = data.batch(cfg.batch_size, cfg.model.context, seed, step)
            return xb[rank::world], yb[rank::world]
        idx = batch_indices(n, cfg.batch_size, seed, *divmod(step, spe))[rank::world]
        return data.x_train[idx], data.y_train[idx]

    @contextlib.contextmanager
    def step_scope(step, state):
        """Every step runs in the model's counting context; the first one is counted (GEMMs and, through
        the optimizer's observer, the update work) into state["workload"]. A GPT's attention statistics
        of the step are recorded here too (before any evaluation forward)."""
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
        if "attn_stats" in state:
            blocks = model.attention_stats()
            if blocks:
                state["attn_stats"].append({"step": step, **{k: sum(b[k] for b in blocks) / len(blocks)
                                                               for k in blocks[0]}})

    def after_step(state, end_epoch):
        every = cfg.checkpoint_every
        if ckpt_path is not None and rank == 0 and ((every and state["step"] % every == 0) or
                                                    (not every and end_epoch)):
            save_checkpoint(ckpt_path, {
                "model": model.state_dict(), "optimizer": opt.state_dict(), "state": dict(state),
                "recipe": recipe.name, "seed": seed,
                "config": config_to_dict(cfg),  # so `lowbit export` can rebuild the model on its own
                "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}})

    base_lr = recipe.optimizer.lr
    plan = Plan(total, spe, batch, lambda step: lr_at(base_lr, cfg.lr_schedule, step, total, cfg.warmup_steps),
                evaluate_net, cfg.eval_every, cfg.log_every, cfg.grad_clip)
    fit(model, opt, plan, state, net=net, stop=max_steps, step_scope=step_scope, after_step=after_step)
    test_loss, acc = evaluate_net(net)
    work = state["workload"]
    result = TrainResult(
        recipe.name, seed, state["step"], test_loss, state["loss_curve"][-1][1] if state["loss_curve"] else None,
        acc, recipe.bits_per_weight, recipe.train_bits_per_weight, opt.lost_fraction(), opt.unchanged_fraction(),
        state["loss_curve"], state["eval"], recipe.datapath, work["summary"] if work else None,
        time.perf_counter() - t0, count_parameters(model))
    if text:   # final_loss is the validation loss in nats per byte, accuracy the next-byte accuracy
        result.val_nats_per_byte, result.val_bits_per_byte = test_loss, test_loss / math.log(2)
        result.corpus, result.val_bytes_evaluated = data.info(), int(y_val.numel())
    if "attn_stats" in state:
        result.attn_stats = state["attn_stats"]
    result.energy = _energy(work["items"], recipe.datapath) if work else None
    result.energy_note = "" if work else "no workload"
    if cfg.ptq and state["step"] == total and not text:
        result.ptq = evaluate_ptq(model, cfg.ptq, data)
    if max_steps is not None:
        result.model_state = {k: v.clone() for k, v in model.state_dict().items()}
    if keep_objects:
        result.model, result.optimizer = model, opt
    return result


def _own_model(model_fn, seed):
    torch.manual_seed(seed)
    model = model_fn(seed)
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"train_run: model_fn must return a torch.nn.Module, got {type(model).__name__}")
    return model
