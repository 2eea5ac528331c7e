"""Interval index over rooms: which streamers are live at time t (start <= t < end), served on demand.

Rooms are bucketed by the hours they span; a query looks only at its hour's bucket and filters it
exactly, so candidate sets are never materialised per query ahead of time (spec §5, topk).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from benchmark.features.keys import sorted_unique

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
        # rooms are increasing already: a stable sort by bucket is the (bucket, room) order (radix on 16 bits)
        order = np.argsort(bucket.astype(np.uint16) if self.n_buckets <= 1 << 16 else bucket, kind="stable")
        self.bucket_rooms = rooms[order]
        self.bucket_offsets = np.searchsorted(bucket[order], np.arange(self.n_buckets + 1))

    def _bucket(self, ts: np.ndarray) -> np.ndarray:
        return (np.asarray(ts, dtype=np.int64) - self.base) // self.bucket_ms

    def count(self, ts: np.ndarray) -> np.ndarray:
        """Number of distinct live streamers per query time: len(candidates) without building them.

        Each streamer's rooms are merged into disjoint live spans, so the streamers live at t are the
        spans with start <= t minus those with end <= t: two binary searches per query.
        """
        if not hasattr(self, "_spans"):
            self._spans = self._streamer_spans()
        starts, ends = self._spans
        ts = np.asarray(ts, dtype=np.int64)
        return (np.searchsorted(starts, ts, side="right") - np.searchsorted(ends, ts, side="right")).astype(np.intp)

    def _streamers(self) -> np.ndarray:
        """Sorted distinct streamer ids (cached)."""
        if not hasattr(self, "_uniq_streamers"):
            self._uniq_streamers = sorted_unique(self.streamer_id)
        return self._uniq_streamers

    def _by_streamer_start(self) -> np.ndarray:
        """Room positions in (streamer, start) order: one argsort of packed (streamer code, start) keys.

        Rooms tied on both keep no particular order (every caller is indifferent to it); a lexsort
        serves where the keys do not pack into 63 bits.
        """
        if not hasattr(self, "_streamer_order"):
            uniq = self._streamers()
            rel = self.start - self.base
            if self.start.size == 0 or uniq.size >= 1 << 21 or int(rel.max()) >= 1 << 42:
                self._streamer_order = np.lexsort((self.start, self.streamer_id))
            else:
                self._streamer_order = np.argsort((np.searchsorted(uniq, self.streamer_id).astype(np.int64) << 42)
                                                  | rel)
        return self._streamer_order

    def _streamer_spans(self) -> tuple[np.ndarray, np.ndarray]:
        """Sorted starts and sorted ends of the union of each streamer's (non-empty) rooms.

        Like `is_live`, packs (streamer, time) into one int64: < 2^21 streamers, times < 2^42 ms past the base.
        """
        order = self._by_streamer_start()
        order = order[self.end[order] > self.start[order]]
        s, st, en = self.streamer_id[order], self.start[order], self.end[order]
        if s.size == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        new_streamer = np.r_[True, s[1:] != s[:-1]]
        # a room opens a new span unless it starts before the running max end of its streamer's earlier rooms
        codes = np.cumsum(new_streamer) - 1
        shift = np.int64(1) << 42
        run_end = np.maximum.accumulate(codes * shift + (en - self.base)) - codes * shift + self.base
        opens = new_streamer.copy()
        opens[1:] |= st[1:] >= run_end[:-1]
        first = np.nonzero(opens)[0]
        last = np.r_[first[1:], s.size] - 1
        return np.sort(st[first]), np.sort(run_end[last])

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
            order = self._by_streamer_start()
            s, st, en = self.streamer_id[order], self.start[order], self.end[order]
            uniq = self._streamers()
            codes = np.searchsorted(uniq, s)
            # keys (streamer code, start) and the running max of end within each streamer's segment
            keys = (codes << 42) | (st - self.base)
            max_end = np.maximum.accumulate((codes << 42) | np.maximum(en - self.base, 0)) - (codes << 42)
            self._by_streamer = (uniq, keys, max_end + self.base)
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
