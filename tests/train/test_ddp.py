"""DDP on 2 CPU processes (gloo): both ranks end with bit-identical weights, and a second run
(same launch, same seed) reproduces every rank's result bit for bit (stochastic rounding in layers and write-back)."""
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

CFG = {"model": {"kind": "mlp", "hidden": [16]}, "epochs": 1, "batch_size": 64, "seeds": [0],
       "recipes": [{"base": "bf16_sr", "name": "sr_all", "input": {"format": "bf16", "rounding": "stochastic"}}]}


def _worker(rank, world, port, out_dir):
    from lowbit.train import load_config
    from lowbit.train.ddp import ddp_train
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        for rep in range(2):   # twice in one launch: the second run must reproduce the first bit for bit
            res = ddp_train(load_config(CFG), rank, world, max_steps=8)[0]
            torch.save(res.model_state, f"{out_dir}/rank{rank}_{rep}.pt")
    finally:
        dist.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(tmp):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp)), nprocs=2, join=True)
    return [[torch.load(f"{tmp}/rank{r}_{rep}.pt") for r in range(2)] for rep in range(2)]


@pytest.mark.slow
def test_ddp_two_ranks_identical_and_reproducible(tmp_path):
    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available")
    a, b = _launch(tmp_path)
    for k, v in a[0].items():
        if v.is_floating_point():
            assert torch.equal(v, a[1][k]), f"ranks differ in {k}"
            assert torch.equal(v, b[0][k]) and torch.equal(a[1][k], b[1][k]), f"not reproducible: {k}"
    w = a[0]["1.weight"]
    assert torch.equal(w, get_bf16(w))   # weights stay on the bf16 grid


def get_bf16(w):
    from lowbit.numerics import get_format
    return get_format("bf16").quantize(w)
