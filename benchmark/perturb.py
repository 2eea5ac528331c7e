"""Rewrite a raw release with everything known at or after a cut time perturbed (for `check`).

Prefix invariance: a model's score for a sample at time t may depend only on what was known before t.
So if every outcome known at or after a cut T is scrambled and future rows are added and removed, a
model's scores for samples at or before T must not move. What changes (`perturb_release`):
- exposures exactly at T: negatives become clicks; clicks keep their key but get a new watch time and new
  events, or (`repoint`) move to another room live at T that the user never entered (a new topk target);
- after T: a fifth of the exposures removed, a tenth of the rest flipped (click <-> negative), a tenth
  copied to a later time;
- every session whose outcome is revealed at or after T (still running at T, or starting at or after T):
  watch time redrawn (its reveal stays at or after T) and its comments, likes and gifts redrawn;
- rooms live after T: end time moved (still after T).
Before T nothing changes, so every sample's features at or before T are identical by construction.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from benchmark.data.ingest import attribute
from benchmark.data.schema import FOLDER, RAW_FILES

EVENT_FILES = ("comment.csv", "like.csv", "gift.csv")
EVENT_RATE = {"comment.csv": 0.05, "like.csv": 0.05, "gift.csv": 0.03}


def _read(folder: Path, name: str) -> dict[str, np.ndarray]:
    raw = RAW_FILES[name]
    types = {c: pa.int64() if k in ("int", "flag") else pa.string() for c, k in raw.columns}
    t = pacsv.read_csv(folder / name, convert_options=pacsv.ConvertOptions(column_types=types))
    return {c: t[c].to_numpy(zero_copy_only=False).copy() for c in raw.column_names}


def _write(folder: Path, name: str, cols: dict[str, np.ndarray]) -> None:
    table = pa.table({c: cols[c] for c in RAW_FILES[name].column_names})
    pacsv.write_csv(table, folder / name, pacsv.WriteOptions(quoting_style="none"))


def _take(cols: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    return {c: v[idx] for c, v in cols.items()}


def _cat(*parts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {c: np.concatenate([p[c] for p in parts]) for c in parts[0]}


def _repoint(clicks: dict[str, np.ndarray], at_cut: np.ndarray, rooms: dict[str, np.ndarray], cut: int,
             rng: np.random.Generator) -> None:
    """Move each click at the cut to a room live at the cut, of another streamer, the user never entered."""
    live = (rooms["start_timestamp"] <= cut) & (cut < rooms["end_timestamp"])
    r_live, r_streamer = rooms["live_id"][live], rooms["streamer_id"][live]
    for i in np.flatnonzero(at_cut):  # a handful of clicks share one millisecond
        entered = clicks["live_id"][clicks["user_id"] == clicks["user_id"][i]]
        ok = np.flatnonzero((r_streamer != clicks["streamer_id"][i]) & ~np.isin(r_live, entered))
        if ok.size:
            j = ok[rng.integers(ok.size)]
            clicks["live_id"][i], clicks["streamer_id"][i] = r_live[j], r_streamer[j]


def perturb_release(src: Path, dst: Path, cut: int, repoint: bool = False, seed: int = 0) -> Path:
    """Write dst/KuaiLive/ = src/KuaiLive/ with everything known at or after `cut` perturbed; returns dst."""
    src, dst = Path(src) / FOLDER, Path(dst) / FOLDER
    dst.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, cut % (1 << 32)])
    clicks, negs = _read(src, "click.csv"), _read(src, "negative.csv")
    events = {name: _read(src, name) for name in EVENT_FILES}
    rooms = _read(src, "room.csv")
    data_end = int(max(clicks["timestamp"].max(initial=cut), negs["timestamp"].max(initial=cut)))
    watch_pool = clicks["watch_live_time"]
    price_pool = events["gift.csv"]["gift_price"]

    # events known before the cut stay; every other is redrawn below
    c_reveal = clicks["timestamp"] + np.maximum(clicks["watch_live_time"], 0)
    for name, ev in events.items():
        idx = attribute(clicks["user_id"], clicks["live_id"], clicks["timestamp"],
                        ev["user_id"], ev["live_id"], ev["timestamp"])
        reveal = np.where(idx >= 0, np.maximum(ev["timestamp"], c_reveal[np.maximum(idx, 0)]), ev["timestamp"])
        events[name] = _take(ev, reveal < cut)

    # exposures at the cut: negatives become clicks, clicks stay (or move to another room)
    neg_at, neg_after = negs["timestamp"] == cut, negs["timestamp"] > cut
    click_at, click_after = clicks["timestamp"] == cut, clicks["timestamp"] > cut
    if repoint:
        _repoint(clicks, click_at, rooms, cut, rng)
    # after the cut: remove a fifth, flip a tenth, copy a tenth to a later time
    keep_c = ~click_after | (rng.random(click_after.size) >= 0.2)
    keep_n = ~neg_after | (rng.random(neg_after.size) >= 0.2)
    flip_c = click_after & keep_c & (rng.random(click_after.size) < 0.1)
    flip_n = (neg_after & keep_n & (rng.random(neg_after.size) < 0.1)) | neg_at
    new_clicks = _cat(_take(clicks, keep_c & ~flip_c), _with_watch(_take(negs, flip_n), watch_pool, rng))
    new_negs = _cat(_take(negs, keep_n & ~flip_n), _take(clicks, flip_c))
    new_clicks = _cat(new_clicks, _later_copies(new_clicks, cut, data_end, rng))
    new_negs = _cat(new_negs, _later_copies(new_negs, cut, data_end, rng))

    # sessions whose outcome is revealed at or after the cut: new watch time (reveal stays >= cut), new events
    ts, watch = new_clicks["timestamp"], new_clicks["watch_live_time"]
    running = (ts < cut) & (ts + np.maximum(watch, 0) >= cut)
    future = ts >= cut
    drawn = rng.choice(watch_pool, ts.size) if watch_pool.size else np.zeros(ts.size, np.int64)
    watch = np.where(future, drawn, watch)
    watch = np.where(running, (cut - ts) + drawn, watch)
    new_clicks["watch_live_time"] = watch
    unique_key = _unique_keys(new_clicks)
    for name in EVENT_FILES:
        s = np.flatnonzero((running | future) & unique_key & (rng.random(ts.size) < EVENT_RATE[name]))
        add = {"user_id": new_clicks["user_id"][s], "live_id": new_clicks["live_id"][s],
               "streamer_id": new_clicks["streamer_id"][s], "timestamp": ts[s]}
        if name == "gift.csv":
            add["gift_price"] = rng.choice(price_pool, s.size) if price_pool.size else np.ones(s.size, np.int64)
        events[name] = _cat(events[name], add)

    # rooms live after the cut end at another time after it
    later = rooms["end_timestamp"] > cut
    uniq, inv = np.unique(rooms["live_id"], return_inverse=True)
    scale = rng.uniform(0.5, 1.5, uniq.size)[inv]
    rooms["end_timestamp"] = np.where(later, cut + 1 + ((rooms["end_timestamp"] - cut) * scale).astype(np.int64),
                                      rooms["end_timestamp"])

    _write(dst, "click.csv", new_clicks)
    _write(dst, "negative.csv", new_negs)
    for name in EVENT_FILES:
        _write(dst, name, events[name])
    _write(dst, "room.csv", rooms)
    for name in ("user.csv", "streamer.csv", "title_embeddings.npy"):
        shutil.copyfile(src / name, dst / name)
    return dst.parent


def _with_watch(negs: dict[str, np.ndarray], pool: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Negatives turned into clicks (their watch time is redrawn with every future session's)."""
    out = dict(negs)
    out["watch_live_time"] = rng.choice(pool, negs["user_id"].size) if pool.size else np.zeros_like(negs["user_id"])
    return out


def _later_copies(rows: dict[str, np.ndarray], cut: int, data_end: int, rng: np.random.Generator
                  ) -> dict[str, np.ndarray]:
    """A tenth of the rows after the cut, copied to a later time (up to ten minutes, within the data)."""
    after = np.flatnonzero((rows["timestamp"] > cut) & (rng.random(rows["timestamp"].size) < 0.1))
    out = _take(rows, after)
    out["timestamp"] = np.minimum(out["timestamp"] + rng.integers(1, 600_000, after.size), data_end)
    return out


def _unique_keys(clicks: dict[str, np.ndarray]) -> np.ndarray:
    """Clicks whose (user, room, ts) no other click shares: a drawn event is attributed to exactly them."""
    key = np.stack([clicks["user_id"], clicks["live_id"], clicks["timestamp"]], axis=1)
    _, inv, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    return counts[inv.reshape(-1)] == 1
