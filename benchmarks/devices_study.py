"""Device study: does training converge on a synaptic device, and what does each update cost?

A three-layer perceptron (64-H-10, tanh; arms may use a larger MLP such as 64-128-64-10) on scikit-learn
digits, trained one sample per step with the weights as device arrays (lowbit.analog) updated only by
pulses, against software fp32 SGD. Tests the
claims of Lim et al., "Adaptive Learning Rule for Hardware-based Deep Neural Networks Using Electronic
Synapse Devices" (2019): a linear high-range device approaches software accuracy; on nonlinear finite
devices the unidirectional rule beats the bidirectional rule and tolerates device-to-device variation.

Prints a table (accuracy mean +- std over seeds, pulses and write energy per update) and writes JSON
(rewritten atomically after every finished run with "complete": false, and at the end with "complete": true).
Runs are independent and seeded, so --jobs N (processes) gives the same numbers as --jobs 1.
    python benchmarks/devices_study.py --config configs/runs/device_study.yaml [--out results/devices_study.json]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from lowbit.analog import AnalogLinear, AnalogOptimizer, MadamLog, MixedPrecision, PulsedSGD, TikiTaka
from lowbit.numerics._io import atomic_write_text, load_yaml
from lowbit.numerics.devices import get_device, register_device

RULES = ("sgd", "tikitaka", "mixed", "madam")
ARM_KEYS = {"name", "kind", "device", "cell", "rule", "scheme", "unidirectional", "gamma", "transfer_every",
            "transfer_lr", "bl", "lr", "levels", "dynamic_range", "lr_levels", "hidden"}


@dataclass(frozen=True)
class Arm:
    name: str
    kind: str = "analog"          # "analog" | "software"
    device: str = ""
    cell: str = "single"
    rule: str = "sgd"
    scheme: str = "stochastic"
    unidirectional: bool = True
    gamma: float = 1.0
    transfer_every: int = 1
    transfer_lr: float = 0.1
    bl: int = 31
    lr: float | None = None
    levels: int = 16              # MadamLog: log-spaced conductance levels
    dynamic_range: float = 256.0
    lr_levels: float = 1.0
    hidden: tuple | None = None   # hidden layer sizes of this arm's MLP (None: the study's)


@dataclass(frozen=True)
class Study:
    hidden: tuple = (32,)         # hidden layer sizes: (32,) is 64-32-10, (128, 64) is 64-128-64-10
    epochs: int = 4
    lr: float = 0.02
    seeds: tuple = (0, 1, 2)
    test_fraction: float = 0.2
    weight_range: float = 1.0
    arms: tuple = field(default_factory=tuple)


def _hidden(value, where: str) -> tuple:
    """Hidden layer sizes: an int or a list of ints >= 1."""
    sizes = (value,) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(sizes, (list, tuple)) or not sizes or any(
            isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in sizes):
        raise ValueError(f"{where}: hidden={value!r} must be an integer >= 1 or a non-empty list of them")
    return tuple(sizes)


def load_study(path) -> Study:
    """Load and validate the study YAML once; custom devices are registered from `devices:` entries."""
    data = load_yaml(path, what="study config")
    for name, spec in (data.pop("devices", None) or {}).items():
        spec = dict(spec)
        base = get_device(spec.pop("base"))
        register_device(base.replace(name=name, **spec), replace=True)
    arms = []
    for i, a in enumerate(data.pop("arms", [])):
        unknown = set(a) - ARM_KEYS
        if unknown:
            raise ValueError(f"{path}: arms[{i}] has unknown key(s) {sorted(unknown)}; allowed: {sorted(ARM_KEYS)}")
        if "hidden" in a:
            a = {**a, "hidden": _hidden(a["hidden"], f"{path}: arms[{i}]")}
        arm = Arm(**a)
        if arm.kind not in ("analog", "software"):
            raise ValueError(f"{path}: arms[{i}].kind={arm.kind!r}; allowed: analog, software")
        if arm.kind == "analog":
            get_device(arm.device)
            if arm.rule not in RULES:
                raise ValueError(f"{path}: arms[{i}].rule={arm.rule!r}; allowed: {', '.join(RULES)}")
        arms.append(arm)
    data.pop("study", None)
    unknown = set(data) - {"hidden", "epochs", "lr", "seeds", "test_fraction", "weight_range"}
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {sorted(unknown)}")
    data["seeds"] = tuple(data.get("seeds", (0,)))
    if "hidden" in data:
        data["hidden"] = _hidden(data["hidden"], str(path))
    return Study(arms=tuple(arms), **data)


def digits_split(test_fraction: float):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X / 16.0, y, test_size=test_fraction, random_state=0, stratify=y)
    return (torch.tensor(Xtr, dtype=torch.float32), torch.tensor(ytr), torch.tensor(Xte, dtype=torch.float32),
            torch.tensor(yte))


def _rule(arm: Arm, seed: int):
    if arm.rule == "sgd":
        return PulsedSGD(arm.scheme, bl=arm.bl, unidirectional=arm.unidirectional, seed=seed)
    if arm.rule == "mixed":
        return MixedPrecision(bl=arm.bl, seed=seed)
    if arm.rule == "madam":
        return MadamLog(lr_levels=arm.lr_levels, levels=arm.levels, dynamic_range=arm.dynamic_range, seed=seed)
    return TikiTaka(gamma=arm.gamma, transfer_every=arm.transfer_every, transfer_lr=arm.transfer_lr,
                    scheme=arm.scheme, bl=arm.bl, seed=seed)


def layer_sizes(arm: Arm, st: Study) -> tuple:
    return (64, *_hidden(arm.hidden or st.hidden, f"arm {arm.name!r}"), 10)


def network(arm: Arm, st: Study) -> str:
    return "-".join(map(str, layer_sizes(arm, st)))


def run_arm(arm: Arm, st: Study, seed: int, data) -> dict:
    """One arm x seed through lowbit's training loop (lowbit.train.loop.fit): batch 1, a new random order
    of the training set every epoch (one generator seeded by `seed`), constant lr, test accuracy at the end."""
    from lowbit.optim import OptimSpec, build_optimizer
    from lowbit.train.loop import Plan, evaluate, fit
    Xtr, ytr, Xte, yte = data
    torch.manual_seed(seed)
    lr = arm.lr or st.lr
    sizes = layer_sizes(arm, st)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i:
            layers.append(torch.nn.Tanh())
        if arm.kind == "software":
            layers.append(torch.nn.Linear(n_in, n_out))
        else:   # per layer: its own rule seed (pulse noise) and tile seed (devices, initial weights)
            layers.append(AnalogLinear(n_in, n_out, arm.device, cell=arm.cell,
                                       rule=_rule(arm, (len(sizes) - 1) * seed + i + 1),
                                       weight_range=st.weight_range, seed=1000 * seed + i + 1))
    model = torch.nn.Sequential(*layers)
    opt = build_optimizer(OptimSpec("sgd", lr=lr), model.parameters(), seed) if arm.kind == "software" \
        else AnalogOptimizer(model, lr)
    g = torch.Generator().manual_seed(seed)
    n = len(Xtr)
    orders = [torch.randperm(n, generator=g) for _ in range(st.epochs)]

    def batch(step):   # one sample
        idx = orders[step // n][step % n:step % n + 1]
        return Xtr[idx], ytr[idx]
    plan = Plan(st.epochs * n, n, batch, lambda step: lr, eval_every=None, log_every=n)
    t0 = time.perf_counter()
    steps = fit(model, opt, plan)["step"]
    acc = evaluate(model, Xte, yte)[1]
    out = {"arm": arm.name, "network": network(arm, st), "seed": seed, "accuracy": acc, "steps": steps,
           "seconds": time.perf_counter() - t0}
    if arm.kind == "analog":
        tot = opt.total
        out.update(pulses_per_update=tot.pulses / steps, writes_per_update=tot.writes / steps,
                   resets_per_update=tot.resets / steps, pj_per_update=tot.energy_j * 1e12 / steps,
                   pulses_by_array={k: v / steps for k, v in tot.pulses_by_array.items()})
    return out


def summarize(rows, arms):
    table = []
    for arm in arms:
        r = [x for x in rows if x["arm"] == arm.name]
        acc = np.array([x["accuracy"] for x in r])
        if not r:
            continue
        e = {"arm": arm.name, "network": r[0]["network"], "acc_mean": float(acc.mean()), "acc_std": float(acc.std()),
             "seeds": len(r)}
        for k in ("pulses_per_update", "writes_per_update", "resets_per_update", "pj_per_update"):
            if k in r[0]:
                e[k] = float(np.mean([x[k] for x in r]))
        table.append(e)
    return table


def print_table(table, st: Study):
    print(f"digits, {st.epochs} epochs, lr {st.lr}, batch 1, seeds {list(st.seeds)}")
    print(f"{'arm':<40} {'network':<14} {'accuracy (mean +- std)':>22} {'acc/sw':>7} {'pulses/update':>14} "
          f"{'resets/update':>14} {'write pJ/update':>16}")
    sw = {t["network"]: t["acc_mean"] for t in table if "pulses_per_update" not in t}
    for t in table:
        acc = f"{100 * t['acc_mean']:.2f} +- {100 * t['acc_std']:.2f} %"
        ratio = f"{t['acc_mean'] / sw[t['network']]:.3f}" if sw.get(t["network"]) else "-"
        pu = f"{t['pulses_per_update']:.1f}" if "pulses_per_update" in t else "-"
        rs = f"{t['resets_per_update']:.2f}" if "resets_per_update" in t else "-"
        pj = f"{t['pj_per_update']:.4g}" if "pj_per_update" in t else "-"
        print(f"{t['arm']:<40} {t['network']:<14} {acc:>22} {ratio:>7} {pu:>14} {rs:>14} {pj:>16}")


def _write_json(out: Path, payload: dict) -> None:
    atomic_write_text(out, json.dumps(payload, indent=1, default=str))


def _job(job):
    # One thread per run: runs are tiny (batch 1) and --jobs already uses the cores.
    torch.set_num_threads(1)
    arm, st, seed, data = job
    return run_arm(arm, st, seed, data)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="configs/runs/device_study.yaml")
    ap.add_argument("--out", default="results/devices_study.json")
    ap.add_argument("--arms", nargs="*", help="run only the arms whose name contains one of these strings")
    ap.add_argument("--seeds", type=int, nargs="*", help="override the seeds")
    ap.add_argument("--epochs", type=int, help="override the epochs")
    ap.add_argument("--jobs", type=int, default=1, help="processes running arms/seeds in parallel (same results)")
    args = ap.parse_args(argv)
    if args.jobs < 1:
        raise ValueError(f"--jobs={args.jobs} must be >= 1")
    st = load_study(args.config)
    if args.seeds:
        st = Study(**{**st.__dict__, "seeds": tuple(args.seeds)})
    if args.epochs:
        st = Study(**{**st.__dict__, "epochs": args.epochs})
    arms = [a for a in st.arms if not args.arms or any(s in a.name for s in args.arms)]
    data = digits_split(st.test_fraction)
    jobs = [(arm, st, seed, data) for arm in arms for seed in st.seeds]
    out = Path(args.out)
    head = {"config": str(args.config), "argv": sys.argv[1:] if argv is None else list(argv),
            "study": {k: v for k, v in st.__dict__.items() if k != "arms"}}
    rows = []
    t0 = time.perf_counter()
    # fork: children inherit the devices the config registered
    pool = multiprocessing.get_context("fork").Pool(args.jobs) if args.jobs > 1 else None
    results = pool.imap(_job, jobs) if pool else map(_job, jobs)
    for r in results:
        rows.append(r)
        print(f"  {r['arm']} seed {r['seed']}: {100 * r['accuracy']:.2f} % ({r['seconds']:.0f} s; "
              f"{len(rows)}/{len(jobs)} runs, {time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
        _write_json(out, {**head, "complete": False, "table": summarize(rows, arms), "runs": rows})
    if pool:
        pool.close()
        pool.join()
    table = summarize(rows, arms)
    print_table(table, st)
    _write_json(out, {**head, "complete": True, "seconds": time.perf_counter() - t0, "table": table, "runs": rows})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
