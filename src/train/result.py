"""`TrainResult`: what one training run (recipe x seed) returns, as a typed value.

`to_dict()` is the run's record in metrics.json / runs/*.json (keys in this order; the text-run keys
only for text runs, `attn_stats` only for a GPT, `ptq` only when post-training quantization was
evaluated, `error` only for a run stopped by NaN/Inf); `from_dict` reads it back (a resumed sweep). `model_state`, `model` and `optimizer` are in-memory extras, never serialized.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

__all__ = ["TrainResult"]

_EXTRAS = ("model_state", "model", "optimizer")
_ONLY_WHEN_SET = ("val_nats_per_byte", "val_bits_per_byte", "corpus", "val_bytes_evaluated", "attn_stats", "ptq",
                  "error")


@dataclass
class TrainResult:
    recipe: str
    seed: int
    steps: int
    final_loss: float                   # test loss after the last step (NaN for a failed run)
    train_loss: float | None            # mean training loss over the last logging interval
    accuracy: float                     # test accuracy after the last step (NaN for a failed run)
    bits_per_weight: float
    train_bits_per_weight: float
    updates_lost: float | None          # optimizer.lost_fraction() (docs/training.md)
    updates_unchanged: float | None
    loss_curve: list                    # [(step, mean training loss)]
    eval: list                          # [(step, test loss, test accuracy)] at every epoch end
    datapath: str
    op_counts: dict | None              # OpCounter.summary() of the first step
    wall_s: float
    n_params: int | None = None         # trainable parameters of the model
    val_nats_per_byte: float | None = None   # text runs: final_loss, in nats per byte
    val_bits_per_byte: float | None = None
    corpus: dict | None = None          # text runs: the corpus (source, bytes, sha256, split)
    val_bytes_evaluated: int | None = None
    attn_stats: list | None = None      # GPT: attention statistics per step
    energy: dict | None = None          # {pj_per_step, pj_per_weight_update} on the datapath
    energy_note: str = ""
    ptq: dict | None = None             # post-training quantization results (cfg.ptq)
    error: str | None = None            # the NonFiniteError message of a run that diverged
    model_state: dict | None = field(default=None, repr=False, compare=False)
    model: object = field(default=None, repr=False, compare=False)
    optimizer: object = field(default=None, repr=False, compare=False)

    @classmethod
    def failed(cls, recipe, seed: int, error: str, steps: int = 0) -> "TrainResult":
        """The record of a run stopped by NaN/Inf after `steps` good steps."""
        nan = float("nan")
        return cls(recipe.name, seed, steps, nan, None, nan, recipe.bits_per_weight, recipe.train_bits_per_weight,
                   None, None, [], [], recipe.datapath, None, 0.0, error=error)

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in _EXTRAS}
        for key in _ONLY_WHEN_SET:
            if d[key] is None:
                del d[key]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainResult":
        names = {f.name for f in dataclasses.fields(cls)} - set(_EXTRAS)
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"run record: unknown key(s) {sorted(unknown)}; allowed: {', '.join(sorted(names))}")
        try:
            return cls(**d)
        except TypeError as exc:
            raise ValueError(f"run record: {exc}") from None
