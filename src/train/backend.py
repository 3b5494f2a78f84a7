"""Where the tasks of a sweep run: `local` (this machine: in this process or a pool of spawned processes) or
`ray` (a Ray cluster, or a Ray instance started on this machine when no address is given; the optional
extra `lowbit[ray]`). Each task (a training run, a chunk of design points) is one Ray task; a task whose
worker dies is retried by Ray (`max_retries`), and results are gathered by the caller in its own order,
so they are identical to the local backend's.

    lowbit run --backend ray                          # a local Ray instance on this machine
    ray start --head                                  # on one node of a cluster
    ray start --address=HEAD:6379                     # on each other node
    lowbit run --backend ray --address HEAD:6379      # from any node
"""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
import re

from .lifetime import die_with_parent

__all__ = ["BACKENDS", "Backend", "LocalBackend", "RayBackend", "make_backend", "check_backend"]

BACKENDS = ("local", "ray")
_ADDRESS = re.compile(r"^(auto|(ray://)?[A-Za-z0-9][A-Za-z0-9.\-]*:[0-9]{1,5})$")


def check_backend(name, address=None) -> None:
    """One-line ValueError for a bad --backend / --address."""
    if name not in BACKENDS:
        raise ValueError(f"--backend={name!r}; allowed: {', '.join(BACKENDS)}")
    if address is None:
        return
    if name != "ray":
        raise ValueError(f"--address={address!r} is only meaningful with --backend ray")
    if not isinstance(address, str) or not _ADDRESS.match(address) or not 0 < int(address.rsplit(":", 1)[1]) < 65536:
        raise ValueError(f"--address={address!r}; allowed: HOST:PORT, ray://HOST:PORT or auto (a running Ray cluster)")


class Backend:
    """map_unordered(fn, args, keys) yields (key, fn(arg)) as tasks finish; fn must be a module-level function."""
    name = "base"

    def map_unordered(self, fn, args, keys):
        raise NotImplementedError

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class LocalBackend(Backend):
    """`jobs` = 1: in this process; more: a pool of spawned processes (no inherited thread-pool state) that
    die with this one (lifetime.die_with_parent)."""
    name = "local"

    def __init__(self, jobs: int = 1):
        self.jobs = jobs

    def map_unordered(self, fn, args, keys):
        args, keys = list(args), list(keys)
        if self.jobs <= 1 or len(args) <= 1:
            for a, k in zip(args, keys):
                yield k, fn(a)
            return
        with cf.ProcessPoolExecutor(min(self.jobs, len(args)), mp_context=mp.get_context("spawn"),
                                    initializer=die_with_parent, initargs=(os.getpid(),)) as ex:
            futs = {ex.submit(fn, a): k for a, k in zip(args, keys)}
            for f in cf.as_completed(futs):
                yield futs[f], f.result()


class RayBackend(Backend):
    """Tasks on Ray. `address` None starts a local instance with `num_cpus` CPUs (and stops it on close);
    otherwise connects to that cluster. A task whose worker dies is retried up to `max_retries` times."""
    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None, max_retries: int = 3):
        check_backend("ray", address)
        try:
            import ray
        except ImportError:
            raise ValueError("--backend ray needs Ray: pip install 'lowbit[ray]'") from None
        self.ray, self.max_retries = ray, max_retries
        self.started = not ray.is_initialized()
        if self.started:
            kw = {"include_dashboard": False, "log_to_driver": False}
            if address is None:
                ray.init(num_cpus=num_cpus, **kw)
            else:
                ray.init(address=address, **kw)

    def map_unordered(self, fn, args, keys):
        ray = self.ray
        remote = ray.remote(num_cpus=1, max_retries=self.max_retries)(fn)
        pending = {remote.remote(a): k for a, k in zip(args, keys)}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            ref = done[0]
            yield pending.pop(ref), ray.get(ref)

    def close(self):
        if self.started and self.ray.is_initialized():
            self.ray.shutdown()
            self.started = False


def make_backend(name: str = "local", address: str | None = None, jobs: int = 1) -> Backend:
    check_backend(name, address)
    if name == "local":
        return LocalBackend(jobs)
    return RayBackend(address, num_cpus=None if address else jobs)
