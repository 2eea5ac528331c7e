"""The streaming replay: the test period in 30-second ticks, predict first, then reveal (docs/streaming.md).

At tick k the model scores the samples whose timestamp falls in [k·30 s, (k+1)·30 s) with its current
state; then its `update(revealed, ctx)` receives every label whose reveal time falls in that tick. A
label revealed at a sample's own time (its click) therefore arrives after the sample was scored, so no
model can profit from its own sample's label.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from benchmark.streaming import FLAGS, KEYS, LABELS, TICK_MS, reveal_inputs, schedule


def revealed_frame(revelations: pd.DataFrame, ex: dict[str, np.ndarray], flag: str) -> pd.DataFrame:
    """A schedule as a model receives it: one row per (sample, reveal time, flag) with the sample's keys
    (`sample_id, user_id, streamer_id, live_id, ts`), one column per label (NaN where this row reveals
    another), `reveal_ts` and the flag, in reveal order. A label revealed more than once at the same time
    (two likes snapped to a session's end) takes one more row per repeat, so every positive arrives.
    `ex`: the exposures' columns (`reveal_inputs`)."""
    sid, rts = revelations["sample_id"].to_numpy(), revelations["reveal_ts"].to_numpy()
    f = revelations[flag].to_numpy(bool)
    label, value = revelations["label"].to_numpy(), revelations["value"].to_numpy()
    code = pd.factorize(label)[0]
    order = np.lexsort((code, f, sid, rts))
    sid, rts, f, code, label, value = sid[order], rts[order], f[order], code[order], label[order], value[order]
    starts = np.ones(sid.size, bool)
    starts[1:] = (sid[1:] != sid[:-1]) | (rts[1:] != rts[:-1]) | (f[1:] != f[:-1]) | (code[1:] != code[:-1])
    at = np.arange(sid.size)
    repeat = at - np.maximum.accumulate(np.where(starts, at, 0))  # 0 for a label's first revelation here
    order = np.lexsort((repeat, f, sid, rts))
    sid, rts, f, repeat, label, value = sid[order], rts[order], f[order], repeat[order], label[order], value[order]
    new = np.ones(sid.size, bool)
    new[1:] = (sid[1:] != sid[:-1]) | (rts[1:] != rts[:-1]) | (f[1:] != f[:-1]) | (repeat[1:] != repeat[:-1])
    group, first = np.cumsum(new) - 1, np.flatnonzero(new)
    by_sample = np.argsort(ex["sample_id"], kind="stable")
    pos = by_sample[np.searchsorted(ex["sample_id"], sid[first], sorter=by_sample)]
    out = pd.DataFrame({k: np.asarray(ex[k])[pos] for k in KEYS})
    for name in LABELS:
        column = np.full(first.size, np.nan)
        mine = label == name
        column[group[mine]] = value[mine]
        out[name] = column
    out["reveal_ts"] = rts[first]
    out[flag] = f[first]
    return out


def period_stream(processed: Path, period: tuple[int, int], stream: str, long_view_ms: int) -> pd.DataFrame:
    """Every revealed row of the exposures in `period` under `stream`, as `update` receives them."""
    ex, events = reveal_inputs(processed, period)
    return revealed_frame(schedule(stream, ex, events, long_view_ms), ex, FLAGS[stream])


def replay(ts: np.ndarray, revealed: pd.DataFrame, predict: Callable[[np.ndarray], None],
           update: Callable[[pd.DataFrame], None], desc: str = "replay", quiet: bool = True) -> dict:
    """Tick by tick: `predict(positions)` for the samples (positions into `ts`) of the tick, then
    `update(rows)` with the revealed rows of the tick. Returns the replay's counts (ticks with samples,
    update calls, revealed rows, seconds in update)."""
    order = np.argsort(np.asarray(ts, np.int64), kind="stable")
    row_tick = np.asarray(ts, np.int64)[order] // TICK_MS
    revealed = revealed.sort_values("reveal_ts", kind="stable", ignore_index=True)
    rev_tick = revealed["reveal_ts"].to_numpy() // TICK_MS
    ticks = np.union1d(row_tick, rev_tick)
    row_lo, row_hi = np.searchsorted(row_tick, ticks, "left"), np.searchsorted(row_tick, ticks, "right")
    rev_lo, rev_hi = np.searchsorted(rev_tick, ticks, "left"), np.searchsorted(rev_tick, ticks, "right")
    stats = {"ticks": 0, "update_calls": 0, "revealed_rows": 0, "update_seconds": 0.0}
    for i in tqdm(range(ticks.size), desc=desc, unit="tick", disable=quiet, leave=False, mininterval=2):
        if row_hi[i] > row_lo[i]:
            predict(order[row_lo[i]:row_hi[i]])
            stats["ticks"] += 1
        if rev_hi[i] > rev_lo[i]:
            t0 = time.perf_counter()
            update(revealed.iloc[rev_lo[i]:rev_hi[i]].reset_index(drop=True))
            stats["update_seconds"] += time.perf_counter() - t0
            stats["update_calls"] += 1
            stats["revealed_rows"] += int(rev_hi[i] - rev_lo[i])
    return stats


def gather(parts: list[tuple[np.ndarray, np.ndarray | pd.DataFrame]], n: int) -> np.ndarray | pd.DataFrame:
    """Per-tick outputs (positions, scores) back in the rows' order: one array, or one DataFrame when the
    task scores several labels."""
    if not parts:
        return np.empty(0)
    positions = np.concatenate([p for p, _ in parts])
    back = np.empty(n, np.int64)
    back[positions] = np.arange(positions.size)
    if isinstance(parts[0][1], pd.DataFrame):
        return pd.concat([o for _, o in parts], ignore_index=True).iloc[back].reset_index(drop=True)
    return np.concatenate([np.asarray(o) for _, o in parts])[back]
