"""Each user's time-sorted click log, stored once (CSR), served with outcomes masked until revealed.

A click is known at its timestamp; its outcome (watch time, likes, comments, gifts) only when the
session ends (`reveal_ts`). So the history of a sample at time t holds the user's clicks with ts < t,
and shows the outcome of those with reveal_ts < t only (spec §4).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from benchmark.features.cumulative import CumulativeIndex
from benchmark.features.keys import KeyCoder, pair_codes, query_order, searchsorted_many, sorted_unique, unpermute

COLUMNS = ["user_id", "sample_id", "live_id", "streamer_id", "ts", "reveal_ts",
           "watch_ms", "n_comment", "n_like", "n_gift", "gift_value"]
OUTCOMES = ["watch_ms", "n_comment", "n_like", "n_gift", "gift_value"]


def history_table(exposures: pa.Table) -> pa.Table:
    """The click log: clicks only, sorted by (user_id, ts, sample_id)."""
    clicks = exposures.filter(pa.compute.equal(exposures["click"], 1)).select(COLUMNS)
    return clicks.sort_by([("user_id", "ascending"), ("ts", "ascending"), ("sample_id", "ascending")])


class ClickHistory:
    """CSR view of the click log with vectorised, leakage-safe accessors."""

    def __init__(self, table: pa.Table, base_ts: int):
        self.cols = {c: table[c].to_numpy() for c in COLUMNS}
        users = self.cols["user_id"]
        self.coder = KeyCoder(users, base_ts)
        codes, _ = self.coder.codes(users)
        self.keys = self.coder.keys(codes, self.cols["ts"])
        self.offsets = np.searchsorted(codes, np.arange(self.coder.values.size + 1))

    def __len__(self) -> int:
        return self.keys.size

    def end_index(self, user_ids: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Global row index one past the user's last click strictly before t (a user's rows are contiguous)."""
        codes, found = self.coder.codes(user_ids)
        end = searchsorted_many(self.keys, self.coder.keys(codes, ts))
        return np.where(found, end, -1)

    def hist_len(self, user_ids: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """How many clicks the user made strictly before t (`hist_end` as a per-user count)."""
        user_ids, ts = np.asarray(user_ids, dtype=np.int64), np.asarray(ts, dtype=np.int64)
        # Answer in user order (each user's rows are then read together), put back in query order at the end.
        order = query_order(user_ids)
        codes, found = self.coder.codes(user_ids[order])
        end = np.searchsorted(self.keys, self.coder.keys(codes, ts[order]))
        return unpermute(np.where(found, end - self.offsets[codes], 0), order)

    def last(self, user_ids: np.ndarray, ts: np.ndarray, length: int) -> dict[str, np.ndarray]:
        """The last `length` clicks before t per query, left-padded (most recent in the last column).

        Returns (n, length) arrays for every log column plus `valid` (not padding) and `revealed`
        (outcome known before t). Outcome columns are -1 where not revealed or padding; ids are -1 in padding.
        """
        user_ids = np.asarray(user_ids, dtype=np.int64)
        ts = np.asarray(ts, dtype=np.int64)
        codes, found = self.coder.codes(user_ids)
        end = searchsorted_many(self.keys, self.coder.keys(codes, ts))
        start = np.where(found, np.maximum(self.offsets[codes], end - length), end)
        idx = end[:, None] - length + np.arange(length)[None, :]
        valid = idx >= start[:, None]
        idx = np.clip(idx, 0, max(len(self) - 1, 0))
        out: dict[str, np.ndarray] = {"valid": valid}
        if len(self) == 0:
            for c in COLUMNS:
                out[c] = np.full(valid.shape, -1, dtype=np.int64)
            out["revealed"] = np.zeros(valid.shape, bool)
            return out
        revealed = valid & (self.cols["reveal_ts"][idx] < ts[:, None])
        out["revealed"] = revealed
        for c in COLUMNS:
            vals = self.cols[c][idx]
            mask = revealed if c in OUTCOMES or c == "reveal_ts" else valid
            out[c] = np.where(mask, vals, -1)
        return out


    def window(self, start: int, end: int) -> dict[str, np.ndarray]:
        """Every click with start <= ts < end, in (user, ts) order, outcome columns -1 unless revealed before
        `end` (so a log cut at `end` knows exactly what was known at `end`)."""
        ts = self.cols["ts"]
        keep = (ts >= start) & (ts < end)
        revealed = self.cols["reveal_ts"][keep] < end
        return {c: (np.where(revealed, v[keep], -1) if c in OUTCOMES or c == "reveal_ts" else v[keep])
                for c, v in self.cols.items()}


class PairHistory:
    """Per (user, streamer) pair: clicks before t and outcomes revealed before t (repeat consumption)."""

    OUTCOMES = ("watch_ms", "n_gift", "gift_value")

    def __init__(self, log: ClickHistory):
        c = log.cols
        self.users = log.coder
        self.streamers = sorted_unique(c["streamer_id"])
        pair = self._pair(c["user_id"], c["streamer_id"])
        coder = KeyCoder(pair, log.coder.base_ts)
        self.clicks = CumulativeIndex(coder, pair, c["ts"])
        self.reveals = CumulativeIndex(coder, pair, c["reveal_ts"], {k: c[k] for k in self.OUTCOMES})

    def _pair(self, user_ids: np.ndarray, streamer_ids: np.ndarray) -> np.ndarray:
        """One int64 per (user, streamer); -1 when either is absent from the log (never in the vocabulary)."""
        return pair_codes(*self.users.codes(user_ids), self.streamers, streamer_ids)

    def stats(self, user_ids: np.ndarray, streamer_ids: np.ndarray, ts: np.ndarray) -> dict[str, np.ndarray]:
        """clicks, last_click_ts (-1 if none) and revealed watch_ms / n_gift / gift_value, all before t."""
        pair = self._pair(np.asarray(user_ids, dtype=np.int64), np.asarray(streamer_ids, dtype=np.int64))
        ts = np.asarray(ts, dtype=np.int64)
        hi, n, _ = self.clicks.query(pair, ts)
        _, _, sums = self.reveals.query(pair, ts)
        return {"clicks": n, "last_click_ts": self.clicks.last_known_at(hi, n), **sums}
