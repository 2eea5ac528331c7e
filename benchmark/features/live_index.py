"""Interval index over rooms: which streamers are live at time t (start <= t < end), served on demand.

Rooms are bucketed by the hours they span; a query looks only at its hour's bucket and filters it
exactly, so candidate sets are never materialised per query ahead of time (spec §5, topk).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

BUCKET_MS = 3600 * 1000


class LiveIndex:
    """Rooms bucketed by hour; `candidates` returns the live streamers for a batch of query times."""

    def __init__(self, live_id: np.ndarray, streamer_id: np.ndarray, start: np.ndarray, end: np.ndarray,
                 bucket_ms: int = BUCKET_MS):
        self.live_id = np.asarray(live_id, dtype=np.int64)
        self.streamer_id = np.asarray(streamer_id, dtype=np.int64)
        self.start = np.asarray(start, dtype=np.int64)
        self.end = np.asarray(end, dtype=np.int64)
        self.bucket_ms = int(bucket_ms)
        self.base = int(self.start.min()) if self.start.size else 0
        b0 = (self.start - self.base) // self.bucket_ms
        b1 = (np.maximum(self.end, self.start + 1) - 1 - self.base) // self.bucket_ms
        self.n_buckets = int(b1.max()) + 1 if b1.size else 0
        span = (b1 - b0 + 1).astype(np.int64)
        rooms = np.repeat(np.arange(self.live_id.size, dtype=np.int64), span)
        first = np.repeat(np.cumsum(span) - span, span)
        bucket = np.repeat(b0, span) + (np.arange(rooms.size) - first)
        order = np.lexsort((rooms, bucket))
        self.bucket_rooms = rooms[order]
        self.bucket_offsets = np.searchsorted(bucket[order], np.arange(self.n_buckets + 1))

    def _bucket(self, ts: np.ndarray) -> np.ndarray:
        return (np.asarray(ts, dtype=np.int64) - self.base) // self.bucket_ms

    def count(self, ts: np.ndarray) -> np.ndarray:
        """Number of distinct live streamers per query time."""
        offsets, _, _ = self.candidates(ts)
        return np.diff(offsets)

    def candidates(self, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CSR (offsets, streamer_id, live_id) of the streamers live at each ts, sorted by streamer.

        A streamer with several rooms live at once appears once, with the room that started last.
        """
        ts = np.asarray(ts, dtype=np.int64)
        b = self._bucket(ts)
        ok = (b >= 0) & (b < self.n_buckets)
        bc = np.clip(b, 0, max(self.n_buckets - 1, 0))
        lo = np.where(ok, self.bucket_offsets[bc], 0)
        n = np.where(ok, self.bucket_offsets[bc + 1] - lo, 0)
        q = np.repeat(np.arange(ts.size), n)
        pos = np.repeat(lo - (np.cumsum(n) - n), n) + np.arange(q.size)
        room = self.bucket_rooms[pos]
        live = (self.start[room] <= ts[q]) & (ts[q] < self.end[room])
        q, room = q[live], room[live]
        # dedupe streamers per query, keeping the latest-starting room
        order = np.lexsort((-self.start[room], self.streamer_id[room], q))
        q, room = q[order], room[order]
        s = self.streamer_id[room]
        keep = np.ones(q.size, bool)
        keep[1:] = (q[1:] != q[:-1]) | (s[1:] != s[:-1])
        q, room = q[keep], room[keep]
        offsets = np.searchsorted(q, np.arange(ts.size + 1))
        return offsets, self.streamer_id[room], self.live_id[room]

    def iter_candidates(self, ts: np.ndarray, chunk: int = 256) -> Iterator[tuple[slice, tuple]]:
        """Candidates for consecutive chunks of queries, to bound memory at full scale."""
        for i in range(0, len(ts), chunk):
            yield slice(i, min(i + chunk, len(ts))), self.candidates(ts[i:i + chunk])

    def is_live(self, streamer_ids: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Whether each streamer has a room live at the paired time (any number of queries, O(log n) each)."""
        if not hasattr(self, "_by_streamer"):
            order = np.lexsort((self.start, self.streamer_id))
            s, st, en = self.streamer_id[order], self.start[order], self.end[order]
            codes = np.searchsorted(np.unique(s), s)
            # keys (streamer code, start) and the running max of end within each streamer's segment
            keys = (codes << 42) | (st - self.base)
            max_end = np.maximum.accumulate((codes << 42) | np.maximum(en - self.base, 0)) - (codes << 42)
            self._by_streamer = (np.unique(s), keys, max_end + self.base)
        uniq, keys, max_end = self._by_streamer
        streamer_ids = np.asarray(streamer_ids, dtype=np.int64)
        ts = np.asarray(ts, dtype=np.int64)
        code = np.searchsorted(uniq, streamer_ids)
        found = (code < uniq.size) & (uniq[np.minimum(code, max(uniq.size - 1, 0))] == streamer_ids)
        rel = np.clip(ts - self.base, -1, (1 << 42) - 1)
        last = np.searchsorted(keys, (code << 42) | np.maximum(rel, 0), side="right") - 1
        first = np.searchsorted(keys, code << 42, side="left")
        ok = found & (rel >= 0) & (last >= first)
        out = np.zeros(ts.size, bool)
        out[ok] = max_end[last[ok]] > ts[ok]
        return out
