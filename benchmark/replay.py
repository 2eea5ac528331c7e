"""The streaming replay: the test period in 30-second ticks, predict first, then reveal (docs/streaming.md).

At tick k the model scores the samples whose timestamp falls in [k·30 s, (k+1)·30 s) with its current
state; then its `update(revealed, ctx)` receives every label whose reveal time falls in that tick. A
label revealed at a sample's own time (its click) therefore arrives after the sample was scored, so no
model can profit from its own sample's label. Row tasks only for now; topk's replay comes with the runner.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from benchmark.streaming import TICK_MS

KEYS = ("user_id", "streamer_id", "live_id", "ts")


def revealed_frame(schedule: pd.DataFrame, rows: pd.DataFrame, labels: tuple[str, ...], flag: str) -> pd.DataFrame:
    """The schedule's revelations of `labels` for `rows`, as a model receives them: `sample_id`, the
    sample's keys, one column per label (NaN where the row reveals another label), `reveal_ts` and the
    stream's flag (`first_only` or `slow`), in reveal order."""
    s = schedule[schedule["label"].isin(labels) & schedule["sample_id"].isin(rows["sample_id"])]
    keys = rows.set_index("sample_id").loc[s["sample_id"], list(KEYS)].reset_index(drop=True)
    out = pd.concat([s[["sample_id"]].reset_index(drop=True), keys], axis=1)
    label, value = s["label"].to_numpy(), s["value"].to_numpy()
    for name in labels:
        out[name] = np.where(label == name, value, np.nan)
    out["reveal_ts"] = s["reveal_ts"].to_numpy()
    out[flag] = s[flag].to_numpy()
    return out


def replay(rows: pd.DataFrame, revealed: pd.DataFrame, predict: Callable[[pd.DataFrame], np.ndarray | pd.DataFrame],
           update: Callable[[pd.DataFrame], None]) -> tuple[np.ndarray | pd.DataFrame, dict]:
    """Scores for `rows` (in their order) from tick-by-tick predict-then-update, and the replay's counts
    (ticks with samples, update calls, revealed rows, seconds in update)."""
    order = np.argsort(rows["ts"].to_numpy(), kind="stable")
    by_time = rows.iloc[order].reset_index(drop=True)
    row_tick = by_time["ts"].to_numpy() // TICK_MS
    revealed = revealed.sort_values("reveal_ts", kind="stable", ignore_index=True)
    rev_tick = revealed["reveal_ts"].to_numpy() // TICK_MS
    ticks = np.union1d(row_tick, rev_tick)
    row_at = np.searchsorted(row_tick, ticks, side="left"), np.searchsorted(row_tick, ticks, side="right")
    rev_at = np.searchsorted(rev_tick, ticks, side="left"), np.searchsorted(rev_tick, ticks, side="right")
    outputs, stats = [], {"ticks": 0, "update_calls": 0, "revealed_rows": 0, "update_seconds": 0.0}
    for i in range(ticks.size):
        lo, hi = row_at[0][i], row_at[1][i]
        if hi > lo:
            outputs.append(predict(by_time.iloc[lo:hi].reset_index(drop=True)))
            stats["ticks"] += 1
        lo, hi = rev_at[0][i], rev_at[1][i]
        if hi > lo:
            t0 = time.perf_counter()
            update(revealed.iloc[lo:hi].reset_index(drop=True))
            stats["update_seconds"] += time.perf_counter() - t0
            stats["update_calls"] += 1
            stats["revealed_rows"] += hi - lo
    back = np.empty_like(order)
    back[order] = np.arange(order.size)
    if outputs and isinstance(outputs[0], pd.DataFrame):
        return pd.concat(outputs, ignore_index=True).iloc[back].reset_index(drop=True), stats
    scores = np.concatenate(outputs) if outputs else np.empty(0)
    return scores[back], stats
