"""Recipe sweeps (recipes x seeds) in parallel worker processes, with a tqdm progress bar.

Each worker runs single-threaded (torch and Numba): on a small machine, one process per core beats
threads fighting over the same cores. Workers are spawned (not forked) so no torch/OpenMP thread pool
state is inherited, and die with the sweep's process (lifetime.die_with_parent). A run that hits
NaN/Inf is recorded with its message instead of stopping the sweep.
"""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os

from .lifetime import die_with_parent

__all__ = ["run_sweep", "single_thread", "run_file"]


def single_thread():
    """Hold a worker process at one torch and one Numba thread (docs/reliability.md, thread determinism)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch
    torch.set_num_threads(1)
    import numba   # a hard dependency (pyproject.toml)
    numba.set_num_threads(1)


def _job(args):
    cfg, recipe, seed, ckpt, resume = args
    single_thread()
    from lowbit.nn import NonFiniteError
    from .loop import train_run
    from .result import TrainResult
    try:
        return train_run(cfg, recipe, seed, ckpt_path=ckpt, resume=bool(resume and ckpt and os.path.isfile(ckpt)))
    except NonFiniteError as exc:
        return TrainResult.failed(recipe, seed, str(exc), exc.step)


def run_file(runs_dir, recipe: str, seed: int):
    return os.path.join(runs_dir, f"{recipe}_seed{seed}.json")


def _finish(runs_dir, r):
    """Write one finished run atomically (what --resume skips)."""
    if runs_dir is not None:
        import json
        from lowbit.numerics._io import atomic_write_text
        atomic_write_text(run_file(runs_dir, r.recipe, r.seed), json.dumps(r.to_dict(), indent=1, default=str))


def run_sweep(cfg, jobs: int | None = None, ckpt_dir=None, progress: bool = True, resume: bool = False,
              backend=None, runs_dir=None) -> list:
    """Train every (recipe, seed) of `cfg`; returns the runs' `TrainResult`s in (recipe, seed) order. With
    `ckpt_dir`, each run checkpoints to <ckpt_dir>/<recipe>_seed<seed>.pt; `resume` continues from them.
    With `runs_dir`, each finished run is written atomically to <runs_dir>/<recipe>_seed<seed>.json as it
    completes, and `resume` skips the runs already there. `backend` (lowbit.train.backend: LocalBackend,
    RayBackend) runs one task per run; None = the local process pool of `jobs` processes."""
    import json
    from tqdm import tqdm
    from .result import TrainResult
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ValueError(f"run_sweep: jobs={jobs!r} must be an integer >= 1 (or None for the config's)")
    from .resume import checkpoint_file
    tasks = [(cfg, r, s, None if ckpt_dir is None else checkpoint_file(ckpt_dir, r.name, s), resume)
             for r in cfg.recipes for s in cfg.seeds]
    results = {}
    if resume and runs_dir is not None:
        for t in list(tasks):
            path = run_file(runs_dir, t[1].name, t[2])
            if os.path.isfile(path):
                with open(path) as fh:
                    results[(t[1].name, t[2])] = TrainResult.from_dict(json.load(fh))
                tasks.remove(t)
        if results and progress:
            print(f"--resume: {len(results)} finished run(s) in {runs_dir} skipped, {len(tasks)} to run", flush=True)
    jobs = max(1, min(jobs or cfg.jobs, max(1, len(tasks))))
    bar = tqdm(total=len(tasks), desc="lowbit run", unit="run", disable=not progress, dynamic_ncols=True)

    def done(r):
        _finish(runs_dir, r)
        results[(r.recipe, r.seed)] = r
        bar.set_postfix_str(f"{r.recipe} seed {r.seed}: acc {r.accuracy:.3f}")
        bar.update()
    try:
        if backend is not None:
            for _, r in backend.map_unordered(_job, tasks, [(t[1].name, t[2]) for t in tasks]):
                done(r)
        elif jobs == 1:
            for t in tasks:
                done(_job(t))
        elif tasks:
            with cf.ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn"), initializer=die_with_parent,
                                        initargs=(os.getpid(),)) as ex:
                futs = [ex.submit(_job, t) for t in tasks]
                for f in cf.as_completed(futs):
                    done(f.result())
    finally:
        bar.close()
    return [results[(r.name, s)] for r in cfg.recipes for s in cfg.seeds]
