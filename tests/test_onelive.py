"""OneLive (baselines/onelive/): residual k-means, ids that move with content and only with it, the trie's
live-only decoding, QK norm, the KV cache, multi-token prediction, and a tiny end-to-end fit against Pop
(`check` runs a tiny fit too: tests/test_check.py)."""

from __future__ import annotations

import math
from types import MappingProxyType

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from baselines.onelive import OneLive
from baselines.onelive.decoder import BOS_TIME, ITEM_TIME, GatedAttention, OneLiveDecoder
from baselines.onelive.tokenizer import ResidualKMeans, id_times, read_content
from baselines.onelive.trie import PrefixTrie, beam_search
from benchmark.check import DATASET
from benchmark.features import FeatureStore
from benchmark.features.view import FeatureView, FitClock
from benchmark.interface import Context
from benchmark.params import ModelSpec
from benchmark.runner import run_one, split_periods

TINY = {"embedding_size": 16, "heads": 2, "layers": 1, "history": 10, "codebook_size": 16, "epochs": 2,
        "batch_size": 256, "tokenizer_epochs": 1, "kmeans_iters": 5, "beam_width": 8, "top_n": 10,
        "warmup_steps": 10, "lr": 0.003}


@pytest.fixture(scope="module")
def fitted(tiny_data, tmp_path_factory):
    """OneLive fitted on tiny's topk through the fit-phase view."""
    periods = split_periods(tiny_data, DATASET)
    store = FeatureStore.open(tiny_data / "features" / DATASET, tiny_data / "processed" / DATASET)
    view = FeatureView(store, periods, FitClock(periods["test"][0]))
    tables = [pq.read_table(tiny_data / "tasks" / DATASET / "topk" / f"{s}.parquet").to_pandas()
              for s in ("train", "valid")]
    torch.manual_seed(0)
    model = OneLive(**TINY)
    model.fit(*tables, Context("topk", 0, "cpu", tmp_path_factory.mktemp("work"), features=view, kind="ranking"))
    return model, view


def test_each_residual_kmeans_level_lowers_the_reconstruction_error():
    x = np.random.default_rng(0).normal(size=(3000, 8)).astype(np.float32)
    km = ResidualKMeans(levels=3, size=16, iters=10, seed=0)
    errors = km.fit(x)
    assert (x ** 2).sum(1).mean() > errors[0] > errors[1] > errors[2]
    codes = km.encode(x)
    assert codes.shape == (3000, 3) and codes.max() < 16
    assert np.isclose(((x - km.decode(codes)) ** 2).sum(1).mean(), errors[-1], rtol=1e-4)


def test_an_id_is_read_at_its_window_start_so_it_is_fixed_within_a_window():
    window = 300_000
    ts = np.array([600_000, 600_001, 899_999, 900_000, 650_000])
    start = np.array([0, 0, 0, 0, 640_000])      # the last room started inside its window
    assert id_times(ts, start, window).tolist() == [600_000, 600_000, 600_000, 900_000, 640_000]


def test_ids_move_with_a_rooms_content_and_only_with_it(fitted):
    """The same rooms one id window apart: where the content read is the same the id is the same; where an id
    changed the content did; and content changes do move some ids. Static ids never move."""
    model, view = fitted
    log = view.click_log()
    window = model.params["id_window_s"] * 1000
    pick = np.flatnonzero(log["ts"] < view.periods["valid"][0] - 2 * window)[::7][:600]
    s, live, t = (log[c][pick] for c in ("streamer_id", "live_id", "ts"))
    later = t - t % window + window + 1                  # in the next window
    end = t - t % window + window - 1                    # the same window, its last millisecond
    a, b, c = (model.ids_of(view, s, live, when) for when in (t, end, later))
    assert np.array_equal(a, b), "an id is fixed within its window"
    start = view.rooms(live)["start_ts"]
    content = [read_content(view, s, live, id_times(when, start, window), False).dense for when in (t, later)]
    same = (content[0] == content[1]).all(1)
    moved = (a != c).any(1)
    assert not (same & moved).any(), "an id moved although the room's content did not"
    assert moved.any() and (~same).sum() > moved.sum() > 0
    model.params["dynamic_ids"] = False
    try:
        known = np.isin(s, model.static_streamers)
        assert known.any()
        assert np.array_equal(model.ids_of(view, s, live, t)[known], model.ids_of(view, s, live, later)[known])
    finally:
        model.params["dynamic_ids"] = True


def _logprobs(size: int):
    """A deterministic scorer: log P(next code | query, prefix) from a fixed function of both."""
    def level_logprobs(level, query, prefix, parent):
        key = query * 31 + (prefix * np.arange(1, prefix.shape[1] + 1)).sum(1) * 7 + level
        z = np.sin(key[:, None] * 1.7 + np.arange(size)[None, :] * 2.3) * 3
        return z - np.log(np.exp(z).sum(1, keepdims=True)), None
    return level_logprobs


def test_the_trie_decodes_only_ids_of_streamers_live_for_the_request():
    rng = np.random.default_rng(1)
    size, queries = 4, 6
    qi = np.sort(rng.integers(0, queries, 120))
    codes = rng.integers(0, size, (120, 3))             # 64 ids for 120 candidates: collisions too
    trie = PrefixTrie.build(qi, codes, size)
    full, full_score = beam_search(trie, np.arange(queries), _logprobs(size), None)
    assert sorted(full.tolist()) == sorted(set(trie.leaf.tolist())), "every live id once, none other"
    exact = dict(zip(full.tolist(), full_score.tolist(), strict=True))
    for width in (1, 2, 5):
        leaves, score = beam_search(trie, np.arange(queries), _logprobs(size), width)
        for leaf, sc in zip(leaves, score, strict=True):
            members = np.flatnonzero(trie.leaf == leaf)
            assert members.size and (qi[members] == trie.query(2, np.array([leaf]))[0]).all()
            assert np.isclose(sc, exact[leaf])
        q = trie.query(2, leaves)
        assert all(np.all(np.diff(score[q == k]) <= 1e-12) for k in np.unique(q)), "best first per query"
        assert np.bincount(q).max() <= width * size, "a beam keeps `width` prefixes per level"
    one, _ = beam_search(trie, np.array([2]), _logprobs(size), None)
    assert set(trie.query(2, one)) == {2}


def test_qk_norm_bounds_the_attention_logits():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 16) * 1000
    for qk_norm in (True, False):
        logits, _ = GatedAttention(16, 2, qk_norm=qk_norm, gated=True).logits(x)
        if qk_norm:   # |q̂| = |k̂| = sqrt(head_dim) with unit gains, so |q̂·k̂| / sqrt(head_dim) <= sqrt(head_dim)
            assert logits.abs().max() <= math.sqrt(8) + 1e-4
        else:
            assert logits.abs().max() > 1e3


def _batch(size: int = 8, users: int = 5, history: int = 6, n: int = 4):
    g = torch.Generator().manual_seed(0)
    hist = torch.randint(0, size, (n, history, 3), generator=g)
    hist[0, :4] = -1                                    # a short history, left-padded
    hist[1] = -1                                        # none at all
    return (hist, torch.randn(n, history, ITEM_TIME, generator=g), torch.randint(0, users, (n,), generator=g),
            torch.randn(n, BOS_TIME, generator=g), torch.randint(0, size, (n, 3), generator=g))


def test_the_kv_cache_gives_the_logits_of_a_full_recompute():
    """The context encoded once, then one token per level against the cache, equals the main decoder run over
    the whole sequence [history, BOS, c0, c1] at once (no MTP: every level from the deep decoder)."""
    torch.manual_seed(0)
    dec = OneLiveDecoder(8, 5, 16, 2, 2, 6, qk_norm=True, time_aware=True, mtp=False).eval()
    hist, hist_t, users, bos_t, target = _batch()
    with torch.no_grad():
        ctx = dec.context(hist, hist_t, users, bos_t)
        h1, state = dec.level_hidden(ctx, target[:, :1])
        h2, _ = dec.level_hidden(ctx, target[:, :2], state)
        x, valid = dec.context_tokens(hist, hist_t, users, bos_t)
        new = torch.stack([dec.codes[0](target[:, 0]) + dec.pos.weight[7],      # history 6, BOS at 6
                           dec.codes[1](target[:, 1]) + dec.pos.weight[8]], 1)
        h, _ = dec.run(torch.cat([x, new], 1), torch.cat([valid, torch.ones(4, 2, dtype=torch.bool)], 1))
    for got, want in ((ctx.h_bos, h[:, -3]), (h1, h[:, -2]), (h2, h[:, -1])):
        assert torch.allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("mtp", [True, False])
def test_mtp_and_deep_decoders_agree_in_shape_and_search_scores_match_training(mtp):
    """Both decoders give three (batch, size) logits; a prefix's search log-probability (the cache gathered per
    prefix) equals the teacher-forced one of the same target."""
    torch.manual_seed(0)
    dec = OneLiveDecoder(8, 5, 16, 2, 2, 6, qk_norm=True, time_aware=True, mtp=mtp).eval()
    hist, hist_t, users, bos_t, target = _batch()
    with torch.no_grad():
        logits = dec(hist, hist_t, users, bos_t, target)
        assert [tuple(z.shape) for z in logits] == [(4, 8)] * 3
        ctx = dec.context(hist, hist_t, users, bos_t)
        rows = torch.tensor([3, 0, 2, 1])
        h1, state = dec.level_hidden(ctx.take(rows), target[rows, :1])
        h2, _ = dec.level_hidden(ctx.take(rows), target[rows, :2], state)
        assert torch.allclose(dec.logits(1, h1), logits[1][rows], atol=1e-5)
        assert torch.allclose(dec.logits(2, h2), logits[2][rows], atol=1e-5)
    assert (dec.mtp is not None) == mtp


def test_a_tiny_end_to_end_fit_beats_pop(tiny_data, tmp_path):
    onelive = ModelSpec("OneLive", "baselines.onelive:OneLive", params=MappingProxyType(TINY))
    pop = ModelSpec("Pop", "baselines.recbole:RankingModel",
                    params=MappingProxyType({"model": "Pop", "epochs": 1, "stopping_step": 1}))
    got = {spec.name: run_one(DATASET, "topk", spec, 0, tiny_data, tmp_path, quiet=True)[0] for spec in (onelive, pop)}
    assert {r["status"] for r in got.values()} == {"ok"}, [r.get("error") for r in got.values()]
    assert got["OneLive"]["metrics"]["ndcg@10"] > got["Pop"]["metrics"]["ndcg@10"]
    log = got["OneLive"]["fit"]
    assert log["decoder"]["train_unit"] == "clicks" and log["tokenizer"]["ids_per_streamer"] > 1.0
