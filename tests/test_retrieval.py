"""topk for retrieval models: a model may name its top candidates per query (`Retrieved`); the rest rank
below all of them, tied as the metric ties; what a model names is checked (live, distinct, enough)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from benchmark.errors import ModelError
from benchmark.interface import Candidates, Context, Retrieved
from benchmark.io import run_folder
from benchmark.metrics import target_rank
from benchmark.params import ModelSpec
from benchmark.runner import MIN_RETRIEVED, retrieved_scores, run_one
from tests.planted_models import TopkOnly

DATASET = "sim-tiny-s0"


def _score(users: np.ndarray, streamers: np.ndarray) -> np.ndarray:
    """A fixed pseudo-random score per (user, streamer), without ties."""
    x = (users.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ streamers.astype(np.uint64)
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(29))) * np.uint64(0xBF58476D1CE4E5B9)
    return (x >> np.uint64(11)).astype(np.float64) / 2.0**53


class ScoresAll(TopkOnly):
    def score_candidates(self, queries: pd.DataFrame, candidates: Candidates, ctx: Context) -> np.ndarray:
        return _score(queries["user_id"].to_numpy()[candidates.query_index], candidates.streamer_id)


class NamesTop(ScoresAll):
    """The same scores, but only its top min(100, n) candidates per query are named."""

    def score_candidates(self, queries: pd.DataFrame, candidates: Candidates, ctx: Context) -> Retrieved:
        q = candidates.query_index
        s = super().score_candidates(queries, candidates, ctx)
        order = np.lexsort((-s, q))
        pos = np.arange(order.size) - candidates.offsets[q[order]]
        keep = order[pos < MIN_RETRIEVED]
        return Retrieved(q[keep], candidates.streamer_id[keep], s[keep])


def _cands(sizes: list[int]) -> Candidates:
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    streamer = np.concatenate([np.arange(100, 100 + n) for n in sizes])
    return Candidates(offsets, streamer, streamer * 10)


def test_unnamed_candidates_tie_below_every_named_one():
    cand = _cands([150, 40])
    named_q = np.concatenate([np.zeros(100, int), np.ones(40, int)])
    named_s = np.concatenate([np.arange(100, 200), np.arange(100, 140)])
    score = np.linspace(1.0, 2.0, named_q.size)
    flat, counts = retrieved_scores(Retrieved(named_q, named_s, score), cand)
    assert counts.tolist() == [100, 40] and np.isfinite(flat).all()
    rest = flat[100:150]
    assert np.all(rest == rest[0]) and rest[0] < flat[:100].min()
    # a target the model did not name: below the 100 named, mid-way through the 50 tied with it
    ranks = target_rank(np.array([rest[0]]), flat[:150], np.array([0, 150]))
    assert ranks[0] == 100 + 1 + 0.5 * 49


@pytest.mark.parametrize("q, s, message", [
    ([0] * 99, list(range(100, 199)), "names 99 of its 150 live candidates"),
    ([0] * 100, [7] + list(range(101, 200)), "names streamer 7, which is not live"),
    ([0] * 101, [100] + list(range(100, 200)), "the same streamer twice"),
    ([0, 2], [100, 101], r"must lie in \[0, 1\)"),
    ([0] * 100 + [1], list(range(100, 200)) + [-1], "streamer_id -1 is not a streamer id"),
])
def test_what_a_retrieval_model_names_is_checked(q, s, message):
    cand = _cands([150, 150]) if max(q) == 1 else _cands([150])
    with pytest.raises(ModelError, match=message):
        retrieved_scores(Retrieved(np.array(q), np.array(s), np.ones(len(q))), cand)


def test_ids_must_be_integers():
    with pytest.raises(ModelError, match="must be integers"):
        retrieved_scores(Retrieved(np.zeros(3), np.arange(100, 103), np.ones(3)), _cands([3]))


def test_scores_must_be_finite():
    with pytest.raises(ModelError, match="NaN or infinite"):
        retrieved_scores(Retrieved(np.zeros(3, int), np.arange(100, 103), np.array([1.0, np.nan, 2.0])),
                         _cands([3]))


def test_a_retrieval_row_ranks_as_a_full_scorer_where_it_named_the_target(tiny_data, tmp_path):
    recs = {name: run_one(DATASET, "topk", ModelSpec(name, f"tests.test_retrieval:{name}"), 0, tiny_data,
                          tmp_path, quiet=True)[0] for name in ("ScoresAll", "NamesTop")}
    assert all(r["status"] == "ok" for r in recs.values()), [r.get("error") for r in recs.values()]
    full, top = (pq.read_table(run_folder(tmp_path, DATASET, "topk", n) / "seed0" / "predictions.parquet")
                 .to_pandas() for n in ("ScoresAll", "NamesTop"))
    named = full["target_rank"] <= MIN_RETRIEVED
    assert (~named).sum() > 0  # tiny has queries with more than 100 live candidates
    assert np.array_equal(full["target_rank"][named], top["target_rank"][named])
    assert (top["target_rank"][~named] > MIN_RETRIEVED).all()
    retrieval = recs["NamesTop"]["retrieval"]
    assert retrieval["queries"] == recs["NamesTop"]["n_test"] and retrieval["named_min"] >= 1
    assert "retrieval" not in recs["ScoresAll"]
