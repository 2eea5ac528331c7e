"""OneLive's alignment (baselines/onelive/align.py): GRPO's group advantages, the KL term, the DPO loss on a planted
preference, both methods end to end through a shared fit with PLE's fit as input (`check` with its input:
tests/test_check.py), and the top-10 outcomes the topk page shows (benchmark/top_outcomes.py)."""

from __future__ import annotations

import copy
from types import MappingProxyType

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from baselines.moment_cross.model import fused_score
from baselines.onelive.align import dpo_loss, fused_reward, group_advantages, grpo_loss, id_logp, kl_to_reference
from baselines.onelive.decoder import BOS_TIME, ITEM_TIME, OneLiveDecoder
from benchmark.check import DATASET
from benchmark.features import FeatureStore
from benchmark.io import run_folder
from benchmark.params import ModelSpec, SharedFit
from benchmark.runner import load_oracle, load_split, run_one
from benchmark.shared_fit import run_shared
from benchmark.top_outcomes import TOP, expected_outcomes, query_outcomes

TINY_ONELIVE = {"embedding_size": 16, "heads": 2, "layers": 1, "history": 10, "codebook_size": 16, "epochs": 1,
                "batch_size": 256, "tokenizer_epochs": 1, "kmeans_iters": 5, "beam_width": 8, "top_n": 10,
                "warmup_steps": 10, "lr": 0.003, "align_steps": 6, "align_requests": 8, "group_size": 4}
TINY_PLE = {"arch": "ple", "epochs": 1, "embedding_size": 8, "expert_units": [16], "tower_units": [8]}


def _decoder_and_batch(seed: int = 0, rows: int = 6, size: int = 8):
    torch.manual_seed(seed)
    net = OneLiveDecoder(size, 4, 16, 2, 1, 5, True, True, True).eval()
    hist = torch.randint(0, size, (rows, 5, 3))
    hist[:, :2] = -1
    inputs = (hist, torch.randn(rows, 5, ITEM_TIME), torch.randint(0, 4, (rows,)), torch.randn(rows, BOS_TIME))
    return net, inputs, torch.randint(0, size, (rows, 3))


def test_the_reward_is_ples_fused_score():
    rng = np.random.default_rng(0)
    scores, weights = {k: rng.random(50) for k in ("click", "long_view", "gift")}, {"click": 1.0, "long_view": 3.0,
                                                                                     "gift": 10.0}
    np.testing.assert_array_equal(fused_reward(scores, weights), fused_score(scores, weights))


def test_grpo_advantages_are_zero_mean_and_unit_spread_per_group():
    rewards = torch.rand(5, 16, generator=torch.Generator().manual_seed(0)) * torch.arange(1, 6)[:, None]
    adv = group_advantages(rewards)
    assert torch.allclose(adv.mean(1), torch.zeros(5), atol=1e-6)
    assert torch.allclose(adv.std(1, unbiased=False), torch.ones(5), atol=1e-4)
    assert torch.equal(group_advantages(torch.full((2, 4), 3.0)), torch.zeros(2, 4))  # a flat group: no signal


def test_the_kl_term_is_zero_for_the_supervised_model_against_itself_and_positive_once_it_moves():
    net, inputs, ids = _decoder_and_batch()
    ref = copy.deepcopy(net)
    logp, ref_logp = id_logp(net, inputs, ids), id_logp(ref, inputs, ids)
    assert torch.equal(kl_to_reference(logp, ref_logp), torch.zeros_like(logp))
    # at the supervised model with zero advantages the whole GRPO loss is zero
    assert float(grpo_loss(logp, logp.detach(), ref_logp, torch.zeros_like(logp), 0.2, 0.02).detach()) == 0.0
    with torch.no_grad():
        for x in net.parameters():
            x.add_(0.1 * torch.randn_like(x))
    assert (kl_to_reference(id_logp(net, inputs, ids), ref_logp) > 0).all()


def test_the_clipped_ratio_stops_the_gradient_past_the_clip():
    logp = torch.zeros(2, requires_grad=True)
    old = torch.tensor([-0.5, 0.5])  # ratios e^0.5 > 1.2 (with A > 0) and e^-0.5 < 0.8 (with A < 0): both clipped
    loss = grpo_loss(logp, old, logp.detach(), torch.tensor([1.0, -1.0]), 0.2, 0.0)
    loss.backward()
    assert torch.equal(logp.grad, torch.zeros(2))


def test_the_dpo_loss_falls_on_a_planted_preference():
    net, inputs, ids = _decoder_and_batch(seed=1)
    win, lose = ids, (ids + 1) % 8
    ref = copy.deepcopy(net).requires_grad_(False)
    ref_w, ref_l = id_logp(ref, inputs, win), id_logp(ref, inputs, lose)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        loss = dpo_loss(id_logp(net, inputs, win), id_logp(net, inputs, lose), ref_w, ref_l, 0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[0] == pytest.approx(np.log(2), abs=1e-6)   # the policy starts as the reference
    assert losses[-1] < losses[0] - 0.05
    with torch.no_grad():
        margin = (id_logp(net, inputs, win) - id_logp(net, inputs, lose)) - (ref_w - ref_l)
    assert (margin > 0).all()


@pytest.fixture(scope="module")
def aligned(tiny_data, tmp_path_factory):
    """PLE's shared fit, then OneLive+GRPO and OneLive+DPO loading it, on tiny (seed 0)."""
    runs = tmp_path_factory.mktemp("align-runs")
    ple = ModelSpec("PLE", "baselines.moment_cross:MomentCross", params=MappingProxyType(TINY_PLE))
    assert run_shared(DATASET, SharedFit("PLE", ()), ple, 0, tiny_data, runs, quiet=True) == []
    out = {}
    for method in ("grpo", "dpo"):
        spec = ModelSpec(f"OneLive+{method}", "baselines.onelive:AlignedOneLive",
                         params=MappingProxyType({**TINY_ONELIVE, "alignment": method}))
        [out[method]] = run_shared(DATASET, SharedFit(spec.name, ("topk",), input="PLE"), spec, 0, tiny_data, runs,
                                   quiet=True)
    return out


def test_grpo_and_dpo_align_through_a_shared_fit_with_the_reward_model_as_input(aligned):
    for method, rec in aligned.items():
        assert rec["status"] == "ok", rec.get("error")
        log = rec["fit"]["alignment"]
        assert log["method"] == method and log["steps"] == TINY_ONELIVE["align_steps"]
        assert rec["fit_input"] == "PLE" and 0 <= rec["metrics"]["ndcg@10"] <= 1
    assert aligned["grpo"]["fit"]["alignment"]["kl_last"] > 0   # the policy moved from the supervised model
    assert aligned["dpo"]["fit"]["alignment"]["pairs"] > 0


def test_with_no_alignment_steps_it_is_the_onelive_rows_model(aligned, tiny_data, tmp_path):
    """The supervised part of an aligned fit is OneLive's own fit with the same seed: zero steps rank exactly as
    the OneLive row does, so an aligned row's difference from OneLive is the alignment's."""
    runs = tmp_path / "runs"
    ple = ModelSpec("PLE", "baselines.moment_cross:MomentCross", params=MappingProxyType(TINY_PLE))
    run_shared(DATASET, SharedFit("PLE", ()), ple, 0, tiny_data, runs, quiet=True)
    plain = {k: v for k, v in TINY_ONELIVE.items() if not k.startswith(("align", "group"))}
    spec = ModelSpec("NoSteps", "baselines.onelive:AlignedOneLive",
                     params=MappingProxyType({**TINY_ONELIVE, "align_steps": 0}))
    [zero] = run_shared(DATASET, SharedFit("NoSteps", ("topk",), input="PLE"), spec, 0, tiny_data, runs, quiet=True)
    [sup] = run_one(DATASET, "topk", ModelSpec("OneLive", "baselines.onelive:OneLive",
                                               params=MappingProxyType(plain)), 0, tiny_data, runs, quiet=True)
    assert zero["status"] == sup["status"] == "ok" and zero["fit"]["alignment"]["steps"] == 0
    ranks = [pq.read_table(run_folder(runs, DATASET, "topk", m, shared=m == "NoSteps") / "seed0" /
                           "predictions.parquet").to_pandas() for m in ("NoSteps", "OneLive")]
    assert ranks[0].equals(ranks[1])
    assert aligned["grpo"]["metrics"]["ndcg@10"] != zero["metrics"]["ndcg@10"]   # while 6 GRPO steps move it


def test_an_aligned_model_without_its_reward_model_fails_its_own_run_and_says_how_to_list_it(tiny_data, tmp_path):
    spec = ModelSpec("Alone", "baselines.onelive:AlignedOneLive", params=MappingProxyType(TINY_ONELIVE))
    [rec] = run_shared(DATASET, SharedFit("Alone", ("topk",)), spec, 0, tiny_data, tmp_path, quiet=True)
    assert rec["status"] == "failed" and "shared_with_input" in rec["error"] and "PLE" in rec["error"]


@pytest.fixture(scope="module")
def truth(tiny_data):
    store = FeatureStore.open(tiny_data / "features" / DATASET, tiny_data / "processed" / DATASET)
    test = load_split(tiny_data / "tasks" / DATASET / "topk", "test")
    return store, load_oracle(tiny_data, DATASET), test


def test_top_outcomes_sum_the_truth_of_each_ranked_streamers_live_room(truth):
    store, oracle, test = truth
    top = np.full((len(test), 12), -1, np.int64)
    top[:, 0] = test["target_streamer_id"].to_numpy()
    got = query_outcomes(store, oracle, test, top)
    offsets, streamer, live = store.live_index.candidates(test["ts"].to_numpy())
    q = np.repeat(np.arange(len(test)), np.diff(offsets))
    room = live[streamer == top[q, 0]]   # the target streamer's room live at the query
    want = expected_outcomes(oracle, store.long_view_ms, test["user_id"].to_numpy(), room, test["ts"].to_numpy())
    for k, v in want.items():
        np.testing.assert_allclose(got[k], v, rtol=1e-12)
    assert (want["long_views"] <= want["clicks"]).all() and (want["gift_value"] >= 0).all()
    # a streamer past the first TOP counts for nothing; an empty list is worth nothing
    late = np.full_like(top, -1)
    late[:, TOP] = top[:, 0]
    assert all((v == 0).all() for v in query_outcomes(store, oracle, test, late).values())


def test_the_truths_best_ten_lists_are_worth_at_least_any_other_ten(truth):
    store, oracle, test = truth
    test = test.iloc[:200].reset_index(drop=True)
    offsets, streamer, live = store.live_index.candidates(test["ts"].to_numpy())
    q = np.repeat(np.arange(len(test)), np.diff(offsets))
    value = expected_outcomes(oracle, store.long_view_ms, test["user_id"].to_numpy()[q], live,
                              test["ts"].to_numpy()[q])["long_views"]
    order = np.lexsort((-value, q))
    pos = np.arange(order.size) - offsets[q[order]]
    best, other = np.full((len(test), TOP), -1), np.full((len(test), TOP), -1)
    keep = pos < TOP
    best[q[order][keep], pos[keep]] = streamer[order][keep]
    worst = np.lexsort((value, q))
    keep = pos < TOP
    other[q[worst][keep], pos[keep]] = streamer[worst][keep]
    got_best = query_outcomes(store, oracle, test, best)["long_views"]
    got_other = query_outcomes(store, oracle, test, other)["long_views"]
    assert (got_best >= got_other - 1e-12).all() and got_best.sum() > got_other.sum()
