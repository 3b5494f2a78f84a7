"""Reliability: `train_run` gives bit-identical weights whatever the caller's torch thread count (issue 17
item 12): it runs single-threaded like the CLI's workers (lowbit.train.threads) and restores the
caller's count."""
import torch

from lowbit.train import load_config, train_run


def test_train_run_is_bit_identical_across_thread_counts():
    cfg = load_config({"epochs": 1, "seeds": [0], "recipes": ["fp32"]})
    before = torch.get_num_threads()
    states = {}
    try:
        for n in (2, 1, 4):
            torch.set_num_threads(n)
            states[n] = train_run(cfg, cfg.recipes[0], 0, max_steps=25).model_state
            assert torch.get_num_threads() == n          # the caller's setting is restored
    finally:
        torch.set_num_threads(before)
    for n in (2, 4):
        for k, v in states[1].items():
            assert torch.equal(v, states[n][k]), (n, k)
