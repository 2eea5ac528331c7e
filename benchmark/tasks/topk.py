"""topk: rank every streamer live at t for a user's first new entry of the day; target = its streamer.

Queries are clicks, at most one per user per day: the day's first click that is not a re-entry into a
room the user already entered. A query whose target has no room live at t by the room table is
dropped and counted, never patched into the candidates (spec §5).
"""

from __future__ import annotations

import numpy as np

from benchmark.split import SPLITS, day_index
from benchmark.tasks.base import Task, select


def _first_per_group(order_keys: tuple[np.ndarray, ...], rows: np.ndarray) -> np.ndarray:
    """Of `rows` (in time order), the first row of each group defined by the keys (lexsort order)."""
    order = np.lexsort(order_keys)  # stable: ties keep time order
    r = rows[order]
    keys = [k[order] for k in order_keys]
    first = np.ones(r.size, bool)
    if r.size:
        first[1:] = np.logical_or.reduce([k[1:] != k[:-1] for k in keys])
    return np.sort(r[first])


def build(ex: dict[str, np.ndarray], params: dict, store):
    """Query rows per split plus `repeat` (the user clicked that streamer before t)."""
    clicks = np.flatnonzero(ex["click"] == 1)
    u, lv = ex["user_id"][clicks], ex["live_id"][clicks]
    new_entries = _first_per_group((lv, u), clicks)
    day = day_index(ex["ts"][new_entries])
    queries = _first_per_group((day, ex["user_id"][new_entries]), new_entries)
    live = store.live_index.is_live(ex["streamer_id"][queries], ex["ts"][queries])
    rng = np.random.default_rng(int(params.get("query_seed", 0)))
    cap = int(params.get("max_queries", 10_000))
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
    stats["sampled_view"] = {"negatives": int(params.get("sampled_negatives", 10_000)),
                             "seed": int(params.get("query_seed", 0))}
    return tables, stats


TASK = Task("topk", "query", ("target_streamer_id",), "ndcg@10",
            ("recall@10", "recall@50", "mrr", "coverage@10"), build)
