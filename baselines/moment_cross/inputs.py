"""What Moment&Cross reads for a sample (user, streamer, room, time), all through the sealed feature view.

Sparse fields, each embedded: user, streamer, room type and category, hour, day of week, and the room's moment
context (entries, comments, likes, gifts, gift value in each trailing window and since it started) bucketed
by log2. Dense features, embedded by one linear layer: the same moment context as log counts, the room's age,
the user's and streamer's expanding engagement rates, repeat consumption and, optionally, the profile
snapshot. Everything is known strictly before the sample's time (the profiles are the documented exception).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from baselines.moment_cross.cross import SeqInputs, read_sequences
from baselines.tabular import MOMENT_QUANTITIES, expanding_rates, numeric_profile, repeat_features
from benchmark.features.moment import moment_column
from benchmark.features.store import time_features

MOMENT_BUCKETS = 16   # log2 buckets of a moment count: 0, 1, 2-3, 4-7, ... (the last one open)
ID_FIELDS = ("user_id", "streamer_id", "live_type", "category")


@dataclass(frozen=True)
class CrossSpec:
    """Which of Cross's sequences a model reads (none: the base alone), and how long."""

    names: tuple[str, ...] = ()
    length: int = 20     # short, aidhard, mixed: the latest events
    pool: int = 50       # long, livelong: the latest events the search picks from


@dataclass
class Inputs:
    """One batch of samples: sparse codes (n, fields), dense features (n, d) and, with Cross, the sequences."""

    sparse: np.ndarray
    dense: np.ndarray
    seq: SeqInputs | None = None

    def take(self, rows: np.ndarray) -> Inputs:
        return Inputs(self.sparse[rows], self.dense[rows], None if self.seq is None else self.seq.take(rows))


def field_sizes(view) -> list[int]:
    """How many codes each sparse field has, in the order `read_inputs` writes them."""
    ids = [len(view.vocab(f)) for f in ID_FIELDS]
    moment = [MOMENT_BUCKETS] * (len(MOMENT_QUANTITIES) * (len(view.windows_s) + 1))
    return [*ids, 24, 7, *moment]


def read_inputs(view, users: np.ndarray, streamers: np.ndarray, live: np.ndarray, ts: np.ndarray,
                use_profiles: bool, cross: CrossSpec = CrossSpec()) -> Inputs:
    """The sparse codes, dense features and Cross's sequences of samples given as aligned arrays."""
    room = view.rooms(live)
    moment = view.moment(live, ts)
    counts = np.stack([np.asarray(moment[moment_column(q, w)], np.float64) for q in MOMENT_QUANTITIES
                       for w in (*view.windows_s, None)], axis=1).clip(0)
    buckets = np.minimum(np.floor(np.log2(1.0 + counts)), MOMENT_BUCKETS - 1).astype(np.int64)
    hours = time_features(ts)
    sparse = np.column_stack([view.encode("user_id", users), view.encode("streamer_id", streamers),
                              view.encode("live_type", room["live_type"]), view.encode("category", room["category"]),
                              hours["hour"].astype(np.int64), hours["dow"].astype(np.int64), buckets])
    age_s = np.where(room["known"], (np.asarray(ts) - room["start_ts"]) / 1000.0, 0.0)   # view.room_age_s's rule
    dense = [*np.log1p(counts).T, np.log1p(age_s.clip(0)), hours["peak"].astype(np.float64)]
    for field, ids, prefix in (("streamer_id", streamers, "s"), ("user_id", users, "u")):
        rates = expanding_rates(view, field, ids, ts, prefix)
        dense += [np.log1p(rates.pop(f"{prefix}_exposures")), *rates.values()]
    pair = repeat_features(view, users, streamers, ts)
    dense += [np.log1p(pair["pair_clicks"]), pair["pair_log_hours_since"], np.log1p(pair["pair_gifts"]),
              pair["pair_log_watch"]]
    if use_profiles:
        dense += numeric_profile(view.user_profile(users)) + numeric_profile(view.streamer_profile(streamers))
    seq = read_sequences(view, users, streamers, ts, cross.names, cross.length, cross.pool) if cross.names else None
    return Inputs(sparse.astype(np.int64), np.stack(dense, axis=1).astype(np.float32), seq)


def rows_inputs(view, rows, use_profiles: bool, cross: CrossSpec = CrossSpec()) -> Inputs:
    """`read_inputs` of a table with user_id, streamer_id, live_id and ts."""
    return read_inputs(view, *(rows[c].to_numpy() for c in ("user_id", "streamer_id", "live_id", "ts")),
                       use_profiles=use_profiles, cross=cross)


def query_rows(view, queries: pd.DataFrame, negatives: int, seed: int) -> pd.DataFrame:
    """topk fitted alone (its tables hold queries, no behaviour labels): each query's clicked room (click 1) and
    `negatives` rooms drawn uniformly from those live at its time (click 0; a draw of the target is dropped)."""
    ts = queries["ts"].to_numpy()
    offsets, streamers, lives = view.candidates(ts)
    size = np.diff(offsets)
    q = np.repeat(np.arange(len(queries)), negatives)
    pick = offsets[q] + (np.random.default_rng(seed).random(q.size) * size[q]).astype(np.int64)
    keep = streamers[pick] != queries["streamer_id"].to_numpy()[q]
    q, pick = q[keep], pick[keep]
    return pd.DataFrame({"user_id": np.concatenate([queries["user_id"].to_numpy(), queries["user_id"].to_numpy()[q]]),
                         "streamer_id": np.concatenate([queries["streamer_id"].to_numpy(), streamers[pick]]),
                         "live_id": np.concatenate([queries["live_id"].to_numpy(), lives[pick]]),
                         "ts": np.concatenate([ts, ts[q]]),
                         "click": np.concatenate([np.ones(len(queries)), np.zeros(q.size)])})
