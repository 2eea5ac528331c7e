"""Room moment context: what was happening in a room in the trailing windows strictly before t.

Entries (clicks) count at their timestamp; comments, likes, gifts and gift value count when revealed,
that is when the viewing session they belong to ends (spec §4), never at their snapped timestamp.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from benchmark.features.cumulative import CumulativeIndex
from benchmark.features.keys import KeyCoder, query_order, unpermute

KINDS = ("comment", "like", "gift")


def moment_column(quantity: str, window_s: int | None) -> str:
    """The feature column of a room-moment count: quantity ('entries', 'comments', 'likes', 'gifts',
    'gift_value') over the trailing window_s seconds, or since the room started (None)."""
    return f"{quantity}_{'all' if window_s is None else f'{int(window_s)}s'}"


class MomentContext:
    """Per-room entry and reveal streams; counts for any (room, t) pair in O(log n)."""

    def __init__(self, clicks: pa.Table, events: pa.Table, base_ts: int, windows_s: list[int]):
        self.windows_ms = [int(w) * 1000 for w in windows_s]
        live = clicks["live_id"].to_numpy()
        ev_live = events["live_id"].to_numpy()
        coder = KeyCoder(np.concatenate([live, ev_live]), base_ts)
        self.entries = CumulativeIndex(coder, live, clicks["ts"].to_numpy())
        kind = events["kind"].to_numpy(zero_copy_only=False).astype(str)
        reveal, price = events["reveal_ts"].to_numpy(), events["gift_price"].to_numpy()
        self.reveals = {k: CumulativeIndex(coder, ev_live[kind == k], reveal[kind == k],
                                           {"value": price[kind == k]} if k == "gift" else None) for k in KINDS}

    def spans(self) -> list[int | None]:
        """The windows in seconds, then None (since the room started)."""
        return [w // 1000 for w in self.windows_ms] + [None]

    def columns(self) -> list[str]:
        """Names of the columns `compute` returns, in order."""
        names = [moment_column("entries", s) for s in self.spans()]
        names += [moment_column(f"{k}s", s) for k in KINDS for s in self.spans()]
        return names + [moment_column("gift_value", s) for s in self.spans()]

    def compute(self, live_ids: np.ndarray, ts: np.ndarray) -> dict[str, np.ndarray]:
        """Counts per (room, t) in each trailing window [t - w, t) and since the room started [.., t)."""
        live_ids = np.asarray(live_ids, dtype=np.int64)
        ts = np.asarray(ts, dtype=np.int64)
        # Answer in room order (each room's rows are then read together), put back in query order at the end.
        order = query_order(live_ids)
        t = ts[order]
        since = [t - w for w in self.windows_ms] + [None]
        codes, found = self.entries.coder.codes(live_ids[order])
        out: dict[str, np.ndarray] = {}
        for s, (_, count, _) in zip(self.spans(), self.entries.query_sorted(codes, found, t, since), strict=True):
            out[moment_column("entries", s)] = unpermute(count.astype(np.int32), order)
        gift_value = {}
        for k in KINDS:
            for s, (_, count, sums) in zip(self.spans(), self.reveals[k].query_sorted(codes, found, t, since),
                                           strict=True):
                out[moment_column(f"{k}s", s)] = unpermute(count.astype(np.int32), order)
                if k == "gift":
                    gift_value[s] = unpermute(sums["value"].astype(np.int64), order)
        out.update({moment_column("gift_value", s): v for s, v in gift_value.items()})
        return out
