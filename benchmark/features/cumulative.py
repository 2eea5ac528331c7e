"""Per-entity running sums over time: "how many / how much before t" for any (entity, t) in O(log n).

One mechanism serves every expanding statistic of the store (room moment context, repeat
consumption, streamer and user click-through): rows are keyed by (entity, time) and prefix-summed,
and a query is two binary searches. Time is whatever the caller says is "known at": an event's
timestamp for entries and exposures, its reveal time for session outcomes.
"""

from __future__ import annotations

import numpy as np

from benchmark.features.keys import SORT_MIN, TIME_BITS, KeyCoder, unpermute


class CumulativeIndex:
    """Rows (entity, known_at, values...) sorted by key, with prefix sums of each value column."""

    def __init__(self, coder: KeyCoder, entity: np.ndarray, known_at: np.ndarray,
                 values: dict[str, np.ndarray] | None = None):
        self.coder = coder
        codes, found = coder.codes(entity)
        keys = coder.keys(codes, known_at)[found]
        order = np.argsort(keys, kind="stable")
        self.keys = keys[order]
        self.known_at = np.asarray(known_at, dtype=np.int64)[found][order]
        self.prefix = {k: np.concatenate([[0], np.cumsum(np.asarray(v)[found][order])])
                       for k, v in (values or {}).items()}

    def query(self, entity: np.ndarray, ts: np.ndarray, since: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """(row positions hi, counts, sums) of rows with known_at in [since, ts), since = -inf if None.

        `hi - 1` is the position of the latest such row (valid where count > 0).
        """
        codes, found = self.coder.codes(entity)
        return self.query_codes(codes, found, ts, [since])[0]

    def query_codes(self, codes: np.ndarray, found: np.ndarray, ts: np.ndarray,
                    sinces: list[np.ndarray | None]) -> list[tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]]:
        """`query` for already coded entities and several window starts at once (one per `sinces`).

        Answered in key order, where every binary search and prefix look-up walks memory forwards, then
        put back in query order.
        """
        codes, ts = np.asarray(codes, dtype=np.int64), np.asarray(ts, dtype=np.int64)
        if codes.size < SORT_MIN:
            return self.query_sorted(codes, found, ts, sinces)
        order = np.argsort(self.coder.keys(codes, ts))
        answers = self.query_sorted(codes[order], found[order], ts[order],
                                    [None if s is None else np.asarray(s)[order] for s in sinces])
        return [(unpermute(hi, order), unpermute(count, order), {k: unpermute(v, order) for k, v in sums.items()})
                for hi, count, sums in answers]

    def query_sorted(self, codes: np.ndarray, found: np.ndarray, ts: np.ndarray, sinces: list[np.ndarray | None]
                     ) -> list[tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]]:
        """`query_codes` for queries already in (or near) key order, answered in that same order."""
        hi = np.searchsorted(self.keys, self.coder.keys(codes, ts))
        out = []
        for since in sinces:
            if since is None:
                lo = self._entity_starts()[codes]
            else:
                lo = np.minimum(np.searchsorted(self.keys, self.coder.keys(codes, since)), hi)
            count = np.where(found, hi - lo, 0)
            sums = {k: np.where(found, p[hi] - p[lo], 0) for k, p in self.prefix.items()}
            out.append((hi, count, sums))
        return out

    def _entity_starts(self) -> np.ndarray:
        """First row of each entity code (so "since the entity's first row" needs no search per query)."""
        if getattr(self, "_starts", None) is None:
            n = self.coder.values.size
            self._starts = np.searchsorted(self.keys, np.arange(max(n, 1), dtype=np.int64) << TIME_BITS)
        return self._starts

    def last_known_at(self, hi: np.ndarray, count: np.ndarray) -> np.ndarray:
        """Time of the latest row before t per query (-1 where there is none)."""
        out = np.full(hi.shape, -1, dtype=np.int64)
        has = count > 0
        out[has] = self.known_at[hi[has] - 1]
        return out
