"""Data-parallel training on torch.distributed (DDP), e.g. 2 CPU processes on the gloo backend:

    torchrun --nproc_per_node=2 -m lowbit.train.ddp configs/runs/ddp_smoke.yaml --out runs_out/ddp

Each rank trains its shard of every batch (indices rank::world); DDP averages the gradients, so every
rank applies the same update. The layers' stochastic-rounding streams include the rank (each rank
rounds different data); the optimizer's write-back streams do not, so the replicas stay bit-identical
while every rank's random bits remain reproducible from the run seed. Rank 0 writes the report.
"""
from __future__ import annotations

import argparse

import torch.distributed as dist

__all__ = ["ddp_train", "main"]


def ddp_train(cfg, rank: int, world: int, max_steps: int | None = None) -> list:
    """Every (recipe, seed) of cfg under DDP in an initialized process group; this rank's TrainResults."""
    from torch.nn.parallel import DistributedDataParallel as DDP
    from .loop import train_run
    from .sweep import single_thread
    single_thread()
    out = []
    for recipe in cfg.recipes:
        for seed in cfg.seeds:
            out.append(train_run(cfg, recipe, seed, rank=rank, world=world, wrap=lambda m: DDP(m),
                                 max_steps=max_steps))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lowbit.train.ddp", description=__doc__.split("\n")[0])
    ap.add_argument("config")
    ap.add_argument("--out", default="runs_out/ddp")
    args = ap.parse_args(argv)
    from .config import config_to_dict, load_config
    from .report import format_table, summarize, write_report
    cfg = load_config(args.config)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    results = [r.to_dict() for r in ddp_train(cfg, rank, world)]
    if rank == 0:
        summary = summarize(results)
        write_report(args.out, config_to_dict(cfg), results, summary, {"world_size": world})
        print(format_table(summary))
    dist.barrier()
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
