"""Moment&Cross part 1 (baselines/moment_cross): the label masks of Moment and the legacy stream on planted
sessions, the multi-task modules' forward and backward, and tiny fits through the harness."""

from __future__ import annotations

from types import MappingProxyType

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch

from baselines.moment_cross import MomentCross, fused_score
from baselines.moment_cross.inputs import query_rows
from baselines.moment_cross.losses import fast_slow_targets, log_loss, moment_targets, slow_loss, total_loss
from baselines.moment_cross.model import MomentCrossNet
from benchmark.check import DATASET
from benchmark.features import FeatureStore
from benchmark.features.view import FeatureView, FitClock
from benchmark.interface import Baseline
from benchmark.io import run_folder
from benchmark.params import ModelSpec, SharedFit
from benchmark.replay import revealed_frame
from benchmark.runner import run_one, split_periods
from benchmark.shared_fit import run_shared
from benchmark.streaming import fast_slow_schedule, moment_schedule


class StaticPLE(MomentCross):
    """MomentCross without `update`, so `check` runs its static and shared paths in CI time; its streaming rows
    are checked from the CLI (docs/moment-cross.md: a tiny replay costs ~30 s and check runs twelve per task)."""

    update = Baseline.update


LABELS = ("click", "long_view", "like", "comment", "gift", "watch_s", "gift_value")
S = 1000
MIN = 60 * S


def planted() -> tuple[dict, dict]:
    """Three exposures at t=0: no click (1); a click watched 2 minutes with two likes during the session (2);
    a click watched 30 s whose like comes 20 minutes later (3: the fast window misses it)."""
    ex = {"sample_id": np.array([1, 2, 3]), "user_id": np.array([7, 7, 8]), "streamer_id": np.array([5, 5, 6]),
          "live_id": np.array([50, 50, 60]), "ts": np.array([0, 0, 0]), "click": np.array([0, 1, 1]),
          "watch_ms": np.array([0, 120 * S, 30 * S]), "reveal_ts": np.array([0, 120 * S, 20 * MIN]),
          "gift_value": np.array([0.0, 0.0, 0.0])}
    events = {"kind": np.array(["like", "like", "like"]), "ts": np.array([10 * S, 50 * S, 20 * MIN]),
              "click_sample_id": np.array([2, 2, 3])}
    return ex, events


def by_sample(frame: pd.DataFrame, sample: int, label: str) -> pd.DataFrame:
    return frame[(frame["sample_id"] == sample) & frame[label].notna()]


def test_moment_learns_first_positives_and_exit_negatives_only():
    ex, events = planted()
    revealed = revealed_frame(moment_schedule(ex, events, 60 * S), ex, "first_only")
    y = moment_targets(revealed, LABELS)
    like = pd.Series(y["like"], index=revealed.index)
    two = by_sample(revealed, 2, "like")
    assert list(two["reveal_ts"]) == [10 * S, 50 * S]                    # both likes arrive, in time order
    assert like[two.index[0]] == 1.0 and np.isnan(like[two.index[1]])    # the repeat is masked
    none = by_sample(revealed, 1, "like")                                # no click: a negative at its tick's end
    assert list(none["reveal_ts"]) == [30 * S - 1] and like[none.index[0]] == 0.0
    lv = by_sample(revealed, 3, "long_view")                             # watched 30 s: a negative at exit
    assert list(lv["reveal_ts"]) == [20 * MIN] and y["long_view"][lv.index[0]] == 0.0
    lv2 = by_sample(revealed, 2, "long_view")                            # watched 2 min: a positive at 60 s
    assert list(lv2["reveal_ts"]) == [60 * S] and y["long_view"][lv2.index[0]] == 1.0


def test_slow_window_cancels_the_fast_windows_false_negative():
    ex, events = planted()
    fs = fast_slow_schedule(moment_schedule(ex, events, 60 * S), ex)
    revealed = revealed_frame(fs, ex, "slow")
    fast, missed = fast_slow_targets(revealed, LABELS)
    rows = by_sample(revealed, 3, "like")
    assert list(rows["slow"]) == [False, True]
    assert fast["like"][rows.index[0]] == 0.0 and np.isnan(fast["like"][rows.index[1]])   # L_fast learned a 0
    assert missed["like"][rows.index[1]] and missed["like"].sum() == 1                     # L_slow's one row
    # L_fast's false negative plus L_slow is exactly the log loss of the positive
    z = torch.linspace(-4, 4, 9)
    lp, lnp = torch.nn.functional.logsigmoid(z), torch.nn.functional.logsigmoid(-z)
    torch.testing.assert_close(log_loss(lp, lnp, torch.zeros(9)) + slow_loss(lp, lnp), log_loss(lp, lnp, torch.ones(9)))


def net(arch: str, factorise: bool = False) -> MomentCrossNet:
    torch.manual_seed(0)
    return MomentCrossNet([10, 5, 3], 4, np.zeros(4, np.float32), np.ones(4, np.float32), LABELS, arch, 8, [16],
                          [8], 3, 2, 1, 2, factorise)


@pytest.mark.parametrize("arch", ["mmoe", "cgc", "ple"])
@pytest.mark.parametrize("factorise", [False, True])
def test_forward_and_backward_on_a_batch(arch, factorise):
    model = net(arch, factorise)
    sparse = torch.tensor([[1, 2, 0], [9, 4, 2], [0, 0, 1]])
    dense = torch.randn(3, 4)
    out = model(sparse, dense)
    assert set(out) == set(LABELS)
    for label in LABELS[:5]:
        lp, lnp = out[label]
        assert lp.shape == (3,) and torch.all(lp <= 0)
        assert torch.allclose(lp.exp() + lnp.exp(), torch.ones(3), atol=1e-5)
    y = {k: torch.tensor([0.0, 1.0, float("nan")]) for k in LABELS}
    total_loss(out, y).backward()
    unused = [n for n, p in model.named_parameters() if p.grad is None]
    assert not unused, unused
    if factorise:   # P(like) = P(click) P(like | click) <= P(click)
        assert torch.all(out["like"][0] <= out["click"][0] + 1e-6)


def test_ple_has_two_cgc_layers_and_the_first_feeds_a_shared_gate():
    ple, cgc = net("ple").mtl, net("cgc").mtl
    assert len(ple.layers) == 2 and ple.layers[0].shared_gate is not None and ple.layers[1].shared_gate is None
    assert len(cgc.layers) == 1


def test_fused_score_is_the_weighted_product():
    s = fused_score({"click": np.array([0.5, 0.1]), "gift": np.array([0.0, 1.0])}, {"click": 2.0, "gift": 1.0})
    np.testing.assert_allclose(s, [1.5 ** 2, 1.1 ** 2 * 2.0])


def test_topk_alone_trains_each_query_room_against_rooms_live_then(tiny_data):
    periods = split_periods(tiny_data, DATASET)
    store = FeatureStore.open(tiny_data / "features" / DATASET, tiny_data / "processed" / DATASET)
    view = FeatureView(store, periods, FitClock(periods["test"][0]))
    queries = pq.read_table(tiny_data / "tasks" / DATASET / "topk" / "train.parquet").to_pandas()
    rows = query_rows(view, queries, 5, seed=0)
    pos, neg = rows[rows["click"] == 1], rows[rows["click"] == 0]
    assert pos[["user_id", "streamer_id", "live_id", "ts"]].reset_index(drop=True).equals(
        queries[["user_id", "streamer_id", "live_id", "ts"]].reset_index(drop=True))
    assert 0.9 * 5 * len(queries) < len(neg) <= 5 * len(queries)
    offsets, streamers, lives = view.candidates(neg["ts"].to_numpy())
    q = np.repeat(np.arange(len(neg)), np.diff(offsets))   # each negative's room is among those live at its time
    live_then = pd.DataFrame({"row": q, "live_id": lives}).merge(
        pd.DataFrame({"row": np.arange(len(neg)), "live_id": neg["live_id"].to_numpy()}))
    assert live_then["row"].nunique() == len(neg)
    own = neg.merge(queries[["user_id", "ts", "streamer_id"]].rename(columns={"streamer_id": "target"}))
    assert len(own) == len(neg) and not (own["streamer_id"] == own["target"]).any()   # never the query's own room
    assert query_rows(view, queries, 5, seed=0).equals(rows)


TINY = {"epochs": 2, "embedding_size": 8, "expert_units": [16], "tower_units": [8], "batch_size": 1024}


def test_a_tiny_shared_fit_beats_global_mean_and_repeats_itself(tiny_data, tmp_path):
    """One PLE fit on every label serves the four pointwise tasks and ranks topk by the fused score, better than
    GlobalMean on each primary metric; the same seed gives the same scores; its moment replay of ctr runs and
    differs from the static row."""
    spec = ModelSpec("PLE", "baselines.moment_cross:MomentCross", params=MappingProxyType({**TINY, "arch": "ple"}),
                     device="cpu")
    tasks = ("ctr", "multi_behavior", "watch_time", "gift_price", "topk")
    recs = run_shared(DATASET, SharedFit("PLE", tasks), spec, 0, tiny_data, tmp_path / "a", quiet=True)
    assert [r["status"] for r in recs] == ["ok"] * 5, [r.get("error") for r in recs]
    primary = {"ctr": "gauc", "multi_behavior": "mean_gauc", "watch_time": "xauc", "gift_price": "normalized_gini",
               "topk": "ndcg@10"}
    mean = ModelSpec("GlobalMean", "baselines.simple:GlobalMean")
    for r in recs:
        base = run_one(DATASET, r["task"], mean, 0, tiny_data, tmp_path / "gm", quiet=True)[0]
        assert r["metrics"][primary[r["task"]]] > base["metrics"][primary[r["task"]]] + 0.02, r["task"]
    again = run_shared(DATASET, SharedFit("PLE", ("ctr",), None, ("moment",)), spec, 0, tiny_data, tmp_path / "b",
                       quiet=True)
    assert [r["model"] for r in again] == ["PLE", "PLE@moment"] and all(r["status"] == "ok" for r in again)

    def scores(root, row):
        return pq.read_table(run_folder(root, DATASET, "ctr", row, shared=True) / "seed0" / "predictions.parquet")

    assert scores(tmp_path / "a", "PLE").equals(scores(tmp_path / "b", "PLE"))
    online = scores(tmp_path / "b", "PLE@moment")
    assert not online.equals(scores(tmp_path / "b", "PLE"))
    assert again[1]["replay"]["update_calls"] > 0
