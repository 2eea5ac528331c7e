"""Composite (entity, time) keys, so per-entity "strictly before t" counts are one np.searchsorted."""

from __future__ import annotations

import numpy as np

from benchmark.errors import BenchmarkError

TIME_BITS = 37  # 2^37 ms ≈ 4.3 years of time offset per entity; leaves 2^26 entity codes
SORT_MIN = 1 << 16  # below this many queries plain np.searchsorted is as fast


def searchsorted_many(a: np.ndarray, v: np.ndarray, side: str = "left") -> np.ndarray:
    """np.searchsorted(a, v) visiting the queries in sorted order: the same result, but on millions of
    random queries about 10x faster (cache-friendly)."""
    v = np.asarray(v)
    if v.size < SORT_MIN or not np.any(v[1:] < v[:-1]):  # few or already sorted
        return np.searchsorted(a, v, side=side)
    order = np.argsort(v)  # unstable is twice as fast and any permutation gives the same answer
    out = np.empty(v.shape, dtype=np.intp)
    out[order] = np.searchsorted(a, v[order], side=side)
    return out


def query_order(values: np.ndarray) -> np.ndarray:
    """A permutation that sorts many queries (answered in it, each entity's rows are read together; put
    back with `unpermute`), or the identity where there are too few for sorting to pay."""
    values = np.asarray(values)
    return np.argsort(values) if values.size >= SORT_MIN else np.arange(values.size)


def unpermute(values: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Answers computed for queries taken in `order` (a permutation), put back in query order."""
    out = np.empty_like(values)
    out[order] = values
    return out


def pair_codes(user_codes: np.ndarray, user_found: np.ndarray | bool, streamers: np.ndarray,
               streamer_ids: np.ndarray) -> np.ndarray:
    """One int64 per (user, streamer): user code x len(streamers) + the streamer's position in the sorted
    `streamers`; -1 where the user (not `user_found`) or the streamer is absent."""
    n = streamers.size
    streamer_ids = np.asarray(streamer_ids, np.int64)
    spos = searchsorted_many(streamers, streamer_ids)
    sfound = (spos < n) & (streamers[np.minimum(spos, max(n - 1, 0))] == streamer_ids) if n else False
    return np.where(user_found & sfound, user_codes * n + spos, -1)


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """np.unique(values) (sorted distinct values, flattened), for integers by a sort and a neighbour
    compare: the same array, but ~20x faster than numpy 2's hash-based unique on millions of ints."""
    v = np.asarray(values).ravel()
    if v.dtype.kind not in "biu":  # floats (NaN rules) and strings: numpy's own
        return np.unique(v)
    s = np.sort(v)
    keep = np.empty(s.size, bool)
    keep[:1] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


class KeyCoder:
    """Maps (entity value, ts) pairs to sortable int64 keys over a fixed vocabulary of entity values."""

    def __init__(self, values: np.ndarray, base_ts: int):
        self.values = sorted_unique(np.asarray(values, dtype=np.int64))
        if self.values.size >= 1 << (63 - TIME_BITS):
            raise BenchmarkError(f"too many distinct entities for composite keys: {self.values.size:,}")
        self.base_ts = int(base_ts)

    def codes(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(code, found) per value; unknown values get code 0 and found=False."""
        values = np.asarray(values, dtype=np.int64)
        pos = searchsorted_many(self.values, values)
        pos_c = np.minimum(pos, max(self.values.size - 1, 0))
        found = (pos < self.values.size) & (self.values[pos_c] == values) if self.values.size else np.zeros(
            values.shape, bool)
        return np.where(found, pos_c, 0).astype(np.int64), found

    def keys(self, codes: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Sortable keys; times are clipped into the representable range (before base -> base)."""
        off = np.clip(np.asarray(ts, dtype=np.int64) - self.base_ts, 0, (1 << TIME_BITS) - 1)
        return (np.asarray(codes, dtype=np.int64) << TIME_BITS) | off
