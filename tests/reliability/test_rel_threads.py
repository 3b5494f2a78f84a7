"""Reliability: `train_run` gives bit-identical weights whatever the caller's torch thread count (issue 17
item 12): it runs single-threaded like the CLI's workers (lowbit.train.threads) and restores the
caller's count."""
import torch

from lowbit.train import load_config, train_run


def test_train_run_is_bit_identical_across_thread_counts():
    cfg = load_config({"epochs": 1, "seeds": [0], "recipes": ["fp32", "mxfp4"]})
    before = torch.get_num_threads()
    states = {}
    try:
        for n in (2, 1, 4):
            torch.set_num_threads(n)
            for r in cfg.recipes:
                states[n, r.name] = train_run(cfg, r, 0, max_steps=25).model_state
                assert torch.get_num_threads() == n          # the caller's setting is restored
    finally:
        torch.set_num_threads(before)
    for n in (2, 4):
        for r in cfg.recipes:
            for k, v in states[1, r.name].items():
                assert torch.equal(v, states[n, r.name][k]), (n, r.name, k)
