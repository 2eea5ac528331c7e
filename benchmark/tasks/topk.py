"""topk: rank every streamer live at t for a user's first new entry of the day; target = its streamer.

Queries are clicks, at most one per user per day: the day's first click that is not a re-entry into a
room the user already entered. A query whose target has no room live at t by the room table is
dropped and counted, never patched into the candidates (spec §5).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmark import metrics as M
from benchmark.split import SPLITS, day_index
from benchmark.tasks.base import Task, select
from benchmark.tasks.scoring import Evaluation, MetricPlan

RANK_KS = (10, 50)


def _first_per_group(order_keys: tuple[np.ndarray, ...], rows: np.ndarray) -> np.ndarray:
    """Of `rows` (in time order), the first row of each group defined by the keys (lexsort order)."""
    order = np.lexsort(order_keys)  # stable: ties keep time order
    r = rows[order]
    keys = [k[order] for k in order_keys]
    first = np.ones(r.size, bool)
    if r.size:
        first[1:] = np.logical_or.reduce([k[1:] != k[:-1] for k in keys])
    return np.sort(r[first])


def build(ex: dict[str, np.ndarray], params, store):
    """Query rows per split plus `repeat` (the user clicked that streamer before t)."""
    clicks = np.flatnonzero(ex["click"] == 1)
    u, lv = ex["user_id"][clicks], ex["live_id"][clicks]
    new_entries = _first_per_group((lv, u), clicks)
    day = day_index(ex["ts"][new_entries])
    queries = _first_per_group((day, ex["user_id"][new_entries]), new_entries)
    live = store.live_index.is_live(ex["streamer_id"][queries], ex["ts"][queries])
    q = params.queries
    rng = np.random.default_rng(q.query_seed)
    cap = q.max_queries
    tables, stats = {}, {"dropped_target_not_live": {}, "capped_from": {}, "repeat_share": {}}
    for i, name in enumerate(SPLITS):
        in_split = ex["split"][queries] == i
        stats["dropped_target_not_live"][name] = int((in_split & ~live).sum())
        rows = queries[in_split & live]
        stats["capped_from"][name] = int(rows.size)
        if name != "train" and rows.size > cap:
            rows = np.sort(rng.choice(rows, size=cap, replace=False))
        mask = np.zeros(ex["sample_id"].size, bool)
        mask[rows] = True
        repeat = np.zeros(ex["sample_id"].size, np.int8)
        repeat[rows] = store.pair_stats(ex["user_id"][rows], ex["streamer_id"][rows], ex["ts"][rows])["clicks"] > 0
        tables[name] = select(ex, mask, {"target_streamer_id": ex["streamer_id"], "repeat": repeat})
        stats["repeat_share"][name] = float(repeat[rows].mean()) if rows.size else None
    test_ts = tables["test"]["ts"].to_numpy()
    counts = store.live_index.count(test_ts)  # candidate-set sizes without building the sets
    stats["test_candidates"] = {"mean": float(counts.mean()) if counts.size else None,
                                "max": int(counts.max()) if counts.size else None}
    stats["sampled_view"] = {"negatives": q.sampled_negatives, "seed": q.query_seed}
    return tables, stats


def evaluate(queries: pd.DataFrame, ranks: np.ndarray, top10: np.ndarray | None = None,
             n_items: int | None = None) -> Evaluation:
    """Metrics from each query's target rank, overall and split into repeat vs new targets."""
    ranks = np.asarray(ranks, dtype=np.float64)
    users = queries["user_id"].to_numpy()
    repeat = queries["repeat"].to_numpy().astype(bool)
    m: dict[str, float] = {}
    for name, mask in (("", np.ones(ranks.size, bool)), ("_repeat", repeat), ("_new", ~repeat)):
        r = ranks[mask]
        if r.size == 0:
            continue
        m[f"ndcg@10{name}"] = M.ndcg_at_k(r, 10)
        for k in RANK_KS:
            m[f"recall@{k}{name}"] = M.recall_at_k(r, k)
        m[f"mrr{name}"] = M.mrr(r)
    if top10 is not None and n_items:
        m["coverage@10"] = M.coverage_at_k(top10, n_items)
    u, means, counts = M.per_user_mean(M.ndcg_gains(ranks, 10), users)
    return Evaluation(m, {"ndcg@10": pd.DataFrame({"user_id": u, "value": means, "weight": counts})})


def sampled_view_metrics(ranks: np.ndarray) -> dict[str, float]:
    """The dataset paper's sampled view (target + sampled live negatives), keyed `sampled/<metric>`:
    not comparable number for number with the paper, whose split is leave-one-out."""
    r = np.asarray(ranks, dtype=np.float64)
    out = {"sampled/ndcg@10": M.ndcg_at_k(r, 10), "sampled/mrr": M.mrr(r)}
    out.update({f"sampled/recall@{k}": M.recall_at_k(r, k) for k in RANK_KS})
    return out


TASK = Task("topk", "query", ("target_streamer_id",), "ranking", "ndcg@10",
            ("recall@10", "recall@50", "mrr", "coverage@10"), build, evaluate,
            tests=(MetricPlan("ndcg@10", "per_user"),),
            board_stats=("dropped_target_not_live", "capped_from", "repeat_share", "test_candidates", "sampled_view"),
            fixed_reference="RepeatConsumption")
