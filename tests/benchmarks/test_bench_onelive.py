"""OneLive's speed: the trie-constrained beam search with and without multi-token prediction, and one alignment
update (GRPO, DPO).

A synthetic batch (no data needed): KLB_BENCH_OL_REQUESTS (default 64) requests, 400 live streamers each with
random 3-level ids of 256 codes, a history of 20 clicks, the decoder at params.yaml's size (64 wide, 4 heads,
3 layers) freshly initialised: the work a beam does does not depend on the weights. Prints requests per
second; never asserts a wall time. Measure with
`pytest tests/benchmarks/test_bench_onelive.py -m bench --benchmark-enable -s`; on a built dataset (latency per
request, 3 and 6 layers) use `python tests/benchmarks/measure_onelive.py latency`.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from baselines.onelive import OneLive
from baselines.onelive.decoder import BOS_TIME, ITEM_TIME, OneLiveDecoder
from baselines.onelive.trie import PrefixTrie, beam_search

pytestmark = pytest.mark.bench   # speed measurements: run only when asked (-m bench)

REQUESTS = int(os.environ.get("KLB_BENCH_OL_REQUESTS", 64))
LIVE, SIZE, HISTORY, WIDTH, CHUNK = 400, 256, 20, 128, 16


@pytest.mark.parametrize("mtp", [True, False], ids=["MTP", "no MTP"])
def test_beam_search_speed(benchmark, mtp):
    torch.manual_seed(0)
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    model = OneLive()   # its search over a freshly initialised decoder: the model's own scorer, no fit needed
    model.net = OneLiveDecoder(SIZE, 100, 64, 4, 3, HISTORY, qk_norm=True, time_aware=True, mtp=mtp).eval()
    model.device = "cpu"
    qi = np.repeat(np.arange(REQUESTS), LIVE)
    trie = PrefixTrie.build(qi, rng.integers(0, SIZE, (qi.size, 3)), SIZE)
    inputs = (rng.integers(0, SIZE, (REQUESTS, HISTORY, 3)),             # history ids, their times, users, BOS times
              rng.normal(size=(REQUESTS, HISTORY, ITEM_TIME)).astype(np.float32), rng.integers(0, 100, REQUESTS),
              rng.normal(size=(REQUESTS, BOS_TIME)).astype(np.float32))

    def decode():
        with torch.no_grad():
            for start in range(0, REQUESTS, CHUNK):
                chunk = np.arange(start, min(start + CHUNK, REQUESTS))
                beam_search(trie, chunk, model.scorer(chunk, *inputs), WIDTH)

    benchmark.pedantic(decode, rounds=3, iterations=1)
    if benchmark.stats is not None:   # None when run without --benchmark-enable
        mean = benchmark.stats.stats.mean
        print(f"\nbeam search, {'MTP' if mtp else 'no MTP'}: {REQUESTS / mean:,.1f} requests/s "
              f"({LIVE} live streamers, width {WIDTH}, 3 layers, 2 threads)")


@pytest.mark.parametrize("method", ["grpo", "dpo"])
def test_alignment_update_speed(benchmark, method):
    """One alignment update on a synthetic batch: `align_requests` (32) requests × `group_size` (16) sampled ids,
    `inner_steps` (2) AdamW steps of GRPO's clipped-ratio loss with its KL term, or DPO's loss on each group's
    best and worst id. The sampling and the reward model's scores of a real step come on top (the fit log's
    `alignment.seconds_per_step` holds the whole step)."""
    import copy

    from baselines.onelive import AlignedOneLive

    torch.manual_seed(0)
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    model = AlignedOneLive(alignment=method)
    model.net, model.device = OneLiveDecoder(SIZE, 100, 64, 4, 3, HISTORY, qk_norm=True, time_aware=True,
                                             mtp=True).eval(), "cpu"
    ref = copy.deepcopy(model.net).requires_grad_(False)
    opt = torch.optim.AdamW(model.net.parameters(), lr=1e-4)
    b, g = model.params["align_requests"], model.params["group_size"]
    inputs = [torch.as_tensor(rng.integers(0, SIZE, (b, HISTORY, 3))),
              torch.as_tensor(rng.normal(size=(b, HISTORY, ITEM_TIME)).astype(np.float32)),
              torch.as_tensor(rng.integers(0, 100, b)),
              torch.as_tensor(rng.normal(size=(b, BOS_TIME)).astype(np.float32))]
    ids, reward = rng.integers(0, SIZE, (b, g, 3)), rng.random((b, g))
    step = model._grpo_step if method == "grpo" else model._dpo_step
    benchmark.pedantic(lambda: step(opt, ref, inputs, ids, reward), rounds=5, iterations=1)
    if benchmark.stats is not None:
        print(f"\n{method} update: {benchmark.stats.stats.mean * 1000:.1f} ms per step ({b} requests x {g} ids, "
              f"{model.params['inner_steps']} optimiser steps, 3 layers, 2 threads)")
