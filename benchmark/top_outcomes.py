"""What a topk row's top 10 is worth on KuaiLive-Sim: the oracle's expected clicks, long views and gift value
of the ten streamers a row ranks first for each query, read from the row's stored predictions.

Ranking metrics count only the streamer the user went on to click; a model aligned to a multi-objective
reward (OneLive+GRPO) means to recommend rooms that hold viewers and earn gifts. Each recommended room is scored
by the simulator's truth at the request: P(click | shown), P(click | shown) · P(watch ≥ the long-view threshold
| click) and P(click | shown) · E[gift value | click], summed over the top 10 and averaged over queries
(docs/leaderboard.md). Sim only: the real release has no truth.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from benchmark.features import FeatureStore

TOP = 10
OUTCOMES = ("clicks", "long_views", "gift_value")


def expected_outcomes(oracle, long_view_ms: int, users: np.ndarray, lives: np.ndarray, ts: np.ndarray
                      ) -> dict[str, np.ndarray]:
    """The truth's expected clicks, long views and gift value of showing each room to each user at ts."""
    truth = oracle.truth
    [(_, c)] = oracle.variants(users, lives, ts)
    click = truth.click_prob(c)
    return {"clicks": click, "long_views": click * truth.p_watch_at_least(c, long_view_ms),
            "gift_value": click * truth.expected_gift_value(c)}


def query_outcomes(store: FeatureStore, oracle, queries: pd.DataFrame, top: np.ndarray) -> dict[str, np.ndarray]:
    """Per query (user_id, ts), the sum over its first TOP ranked streamers (top: (n, ≥ TOP), -1 padded) of
    the expected outcomes of the room each has live at the query's time."""
    ts = queries["ts"].to_numpy(np.int64)
    top = np.asarray(top, np.int64)[:, :TOP]
    offsets, streamer, live = store.live_index.candidates(ts)
    q = np.repeat(np.arange(ts.size), np.diff(offsets))
    span = int(max(streamer.max(initial=0), top.max(initial=0))) + 1
    order = np.argsort(q * span + streamer, kind="stable")
    keys = (q * span + streamer)[order]
    want = np.repeat(np.arange(ts.size), top.shape[1]) * span + top.reshape(-1)
    at = np.minimum(np.searchsorted(keys, want), max(keys.size - 1, 0))
    found = (top.reshape(-1) >= 0) & (keys.size > 0) & (keys[at] == want)
    rows = order[at[found]]
    owner = np.repeat(np.arange(ts.size), top.shape[1])[found]
    values = expected_outcomes(oracle, store.long_view_ms, queries["user_id"].to_numpy()[owner], live[rows],
                               ts[owner])
    return {k: np.bincount(owner, v, ts.size) for k, v in values.items()}


def run_outcomes(store: FeatureStore, oracle, test: pd.DataFrame, folder: Path) -> dict[str, float]:
    """Mean over a run's test queries of its top 10's expected outcomes (its predictions.parquet)."""
    preds = pq.read_table(Path(folder) / "predictions.parquet", columns=["sample_id", "top"])
    sid = preds["sample_id"].to_numpy()
    pos = np.searchsorted(test["sample_id"].to_numpy(), sid)
    top = np.stack(preds["top"].to_numpy(zero_copy_only=False))
    per_query = query_outcomes(store, oracle, test.iloc[pos].reset_index(drop=True), top)
    return {k: float(v.mean()) for k, v in per_query.items()}


def board_outcomes(runs_root: Path, data_root: Path, dataset: str, rows: tuple[str, ...], shared: tuple[str, ...],
                   seeds: tuple[int, ...]) -> dict[str, list[dict]]:
    """Every topk row's successful runs' top-10 outcomes ({row: [{seed, clicks, long_views, gift_value}]});
    empty on the real release (no oracle)."""
    from benchmark.compare import run_dirs
    from benchmark.runner import load_oracle, load_split

    if not (Path(data_root) / "raw" / dataset / "oracle").exists():
        return {}
    store = FeatureStore.open(Path(data_root) / "features" / dataset, Path(data_root) / "processed" / dataset)
    oracle = load_oracle(data_root, dataset)
    test = load_split(Path(data_root) / "tasks" / dataset / "topk", "test")
    out: dict[str, list[dict]] = {}
    for row in rows:
        found = [(s, d) for s, d in run_dirs(runs_root, dataset, "topk", row, seeds, shared)
                 if (d / "predictions.parquet").exists()]
        if found:
            out[row] = [{"seed": s, **run_outcomes(store, oracle, test, d)} for s, d in found]
    return out
