"""When each label becomes known while the test period is replayed (the streaming protocol, docs/streaming.md).

A schedule is a long table, one row per revelation: `sample_id`, `label`, `value`, `reveal_ts` and the
stream's flag (`first_only` for `moment`, `slow` for `fast_slow`). A session is one click. The replay
(`benchmark.replay`) hands a model, after each 30-second tick, the revelations whose `reveal_ts` fell
inside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from benchmark.params import STREAMS

TICK_MS = 30_000          # Moment's real-time stream
FAST_MS = 5 * 60_000      # the legacy stream's fast window
SLOW_MS = 60 * 60_000     # ... and its slow window
FLAGS = {"moment": "first_only", "fast_slow": "slow"}  # the column each stream marks its rows with
BEHAVIOURS = ("like", "comment", "gift")
BINARY = ("click", "long_view", *BEHAVIOURS)
LABELS = (*BINARY, "watch_s", "gift_value")
KEYS = ("sample_id", "user_id", "streamer_id", "live_id", "ts")
EXPOSURE_COLUMNS = (*KEYS, "click", "watch_ms", "reveal_ts", "gift_value")


def reveal_inputs(processed: Path, period: tuple[int, int]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """What a schedule is built from: the exposures whose time falls in `period` ([start, end) epoch ms) and
    every in-room event, as numpy columns, from data/processed/<dataset>."""
    ex = pq.read_table(Path(processed) / "exposures.parquet", columns=list(EXPOSURE_COLUMNS))
    ex = ex.filter(pc.and_(pc.greater_equal(ex["ts"], pa.scalar(period[0], pa.int64())),
                           pc.less(ex["ts"], pa.scalar(period[1], pa.int64()))))
    ev = pq.read_table(Path(processed) / "events.parquet", columns=["kind", "ts", "click_sample_id"])
    return ({c: ex[c].to_numpy() for c in EXPOSURE_COLUMNS},
            {"kind": ev["kind"].to_numpy(zero_copy_only=False), "ts": ev["ts"].to_numpy(),
             "click_sample_id": ev["click_sample_id"].to_numpy()})


def tick_end(ts: np.ndarray) -> np.ndarray:
    """The last millisecond of the 30-second tick holding each timestamp (ticks start at the epoch, so at
    midnights): a negative revealed then reaches `update` with its tick's clicks, after the tick was scored."""
    return (np.asarray(ts, np.int64) // TICK_MS + 1) * TICK_MS - 1


def _rows(sample_id: np.ndarray, label: str, value, reveal_ts: np.ndarray, first_only) -> pd.DataFrame:
    n = len(sample_id)
    return pd.DataFrame({"sample_id": np.asarray(sample_id, np.int64), "label": np.full(n, label, object),
                         "value": np.broadcast_to(np.asarray(value, np.float64), (n,)),
                         "reveal_ts": np.asarray(reveal_ts, np.int64),
                         "first_only": np.broadcast_to(np.asarray(first_only, bool), (n,))})


def moment_schedule(ex: Mapping[str, np.ndarray], events: Mapping[str, np.ndarray],
                    long_view_ms: int) -> pd.DataFrame:
    """Every revelation under `moment`.

    ex: exposures (`sample_id, ts, click, watch_ms, reveal_ts, gift_value`; `reveal_ts` = the session's end,
    when its whole outcome is known). events: `kind, ts, click_sample_id` of in-room events.
    - a click is a positive at its timestamp; an exposure without a click is a negative, for every binary
      label, at the end of its tick;
    - long_view is a positive at click + long_view_ms when the watch reaches it, else a negative at the end;
    - like, comment, gift: a positive per event, at the event's own time when after the click, at the
      session's end when the release snapped it to the click; the first per behaviour and session is
      `first_only`; a behaviour never done is a negative at the end;
    - watch_s and gift_value at the session's end.
    """
    sid, ts, end = (np.asarray(ex[c], np.int64) for c in ("sample_id", "ts", "reveal_ts"))
    click = np.asarray(ex["click"]) == 1
    watch = np.asarray(ex["watch_ms"], np.int64)
    neg = ~click
    parts = [_rows(sid[neg], label, 0.0, tick_end(ts[neg]), False) for label in BINARY]
    c_sid, c_ts, c_end, c_watch = sid[click], ts[click], end[click], watch[click]
    parts.append(_rows(c_sid, "click", 1.0, c_ts, True))
    long = c_watch >= long_view_ms
    parts.append(_rows(c_sid[long], "long_view", 1.0, c_ts[long] + long_view_ms, True))
    parts.append(_rows(c_sid[~long], "long_view", 0.0, c_end[~long], False))
    order = np.argsort(c_sid)
    ev_sid = np.asarray(events["click_sample_id"], np.int64)
    pos = np.searchsorted(c_sid[order], ev_sid).clip(0, max(c_sid.size - 1, 0))
    attributed = c_sid[order][pos] == ev_sid if c_sid.size else np.zeros(ev_sid.size, bool)
    at = order[pos[attributed]]  # the session (index into the clicks) of each attributed event
    kind = np.asarray(events["kind"]).astype(str)[attributed]
    ev_ts = np.asarray(events["ts"], np.int64)[attributed]
    reveal = np.where(ev_ts > c_ts[at], ev_ts, c_end[at])
    for b in BEHAVIOURS:
        mine = kind == b
        s, r = c_sid[at[mine]], reveal[mine]
        o = np.lexsort((r, s))
        first = np.ones(o.size, bool)
        first[1:] = s[o][1:] != s[o][:-1]
        parts.append(_rows(s[o], b, 1.0, r[o], first))
        none = ~np.isin(c_sid, s)
        parts.append(_rows(c_sid[none], b, 0.0, c_end[none], False))
    parts.append(_rows(c_sid, "watch_s", c_watch / 1000.0, c_end, False))
    parts.append(_rows(c_sid, "gift_value", np.asarray(ex["gift_value"], np.float64)[click], c_end, False))
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["reveal_ts", "sample_id", "label"], kind="stable", ignore_index=True)


def fast_slow_schedule(moment: pd.DataFrame, ex: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Every delivery under `fast_slow`, from the moment schedule's reveal times.

    At exposure + 5 min the fast window delivers every binary label (1 when its first positive was revealed
    by then, else 0) and every value label revealed by then; at exposure + 1 h the slow window delivers the
    positives and value labels revealed between 5 min and 1 h, marked `slow`; later reveals never arrive.
    """
    ts = pd.Series(np.asarray(ex["ts"], np.int64), index=np.asarray(ex["sample_id"], np.int64))
    m = moment.assign(delay=moment["reveal_ts"].to_numpy() - ts.loc[moment["sample_id"]].to_numpy())
    binary = m[m["label"].isin(BINARY)]
    first_pos = binary[binary["value"] > 0].groupby(["sample_id", "label"])["delay"].min()
    labelled = binary.groupby(["sample_id", "label"]).size().index
    delay = first_pos.reindex(labelled).to_numpy()  # NaN: never positive
    sid = labelled.get_level_values(0).to_numpy()
    lab = labelled.get_level_values(1).to_numpy()
    fast = pd.DataFrame({"sample_id": sid, "label": lab, "value": (delay <= FAST_MS).astype(np.float64),
                         "reveal_ts": ts.loc[sid].to_numpy() + FAST_MS, "slow": False})
    late = (delay > FAST_MS) & (delay <= SLOW_MS)
    slow = pd.DataFrame({"sample_id": sid[late], "label": lab[late], "value": 1.0,
                         "reveal_ts": ts.loc[sid[late]].to_numpy() + SLOW_MS, "slow": True})
    values = m[~m["label"].isin(BINARY)]
    v_fast = values[values["delay"] <= FAST_MS]
    v_slow = values[(values["delay"] > FAST_MS) & (values["delay"] <= SLOW_MS)]
    parts = [fast, slow,
             v_fast.assign(reveal_ts=v_fast["reveal_ts"] - v_fast["delay"] + FAST_MS, slow=False),
             v_slow.assign(reveal_ts=v_slow["reveal_ts"] - v_slow["delay"] + SLOW_MS, slow=True)]
    cols = ["sample_id", "label", "value", "reveal_ts", "slow"]
    out = pd.concat([p[cols] for p in parts], ignore_index=True)
    out["reveal_ts"] = out["reveal_ts"].astype(np.int64)
    return out.sort_values(["reveal_ts", "sample_id", "label"], kind="stable", ignore_index=True)


def schedule(stream: str, ex: Mapping[str, np.ndarray], events: Mapping[str, np.ndarray],
             long_view_ms: int) -> pd.DataFrame:
    """Every revelation under `stream` (`moment` or `fast_slow`)."""
    if stream not in STREAMS:
        raise ValueError(f"unknown stream '{stream}' (known: {', '.join(STREAMS)})")
    moment = moment_schedule(ex, events, long_view_ms)
    return moment if stream == "moment" else fast_slow_schedule(moment, ex)
