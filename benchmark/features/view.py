"""The sealed, clocked view of the feature store: all a model is handed (`ctx.features`).

The harness builds one view per phase and never lets a model change its clock:
- while fitting (`FitClock`) it answers for any time up to the start of the test period;
- while predicting (`RowsClock`) it answers only for the harness's own rows and candidates, at their
  own times or earlier: every (entity, t') a model asks about must be a user, streamer or room of a row or
  candidate it was handed at time t, with t' <= t (the entity's past as of that time: a dynamic model reads a
  room's content at the start of its id window), and a platform-wide question ('all' stats) a time no later
  than the latest handed one; never a later timestamp or an entity not handed over.
It holds no file path, no room end time or duration and no bulk table of the future; every accessor
serves what was known strictly before t, outcomes only once revealed (the store's rules, spec §4).
What a view cannot stop (a model digging into Python objects or reading files) `kuailive-bench check`
catches by prefix invariance (docs/submitting.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from benchmark.data.schema import TZ_OFFSET_MS
from benchmark.errors import BenchmarkError
from benchmark.features.keys import sorted_unique
from benchmark.features.sequences import Sequences, query_arrays
from benchmark.features.store import FeatureStore

ID_BITS = 31  # entity ids are packed with a 32-bit time offset into one int64 key


class SealError(BenchmarkError):
    """A model asked the view for something it may not see at this point of the run."""


def local_time(ts: int) -> str:
    """An epoch-ms time as 'YYYY-MM-DD HH:MM:SS.mmm +08' (Asia/Shanghai)."""
    import datetime as dt

    local = dt.datetime.fromtimestamp((int(ts) + TZ_OFFSET_MS) / 1000, dt.UTC)
    return f"{local:%Y-%m-%d %H:%M:%S}.{int(ts) % 1000:03d} +08"


@dataclass(frozen=True)
class FitClock:
    """While fitting: any time up to `until` (the start of the test period) and nothing after it."""

    until: int

    def check_times(self, what: str, ts: np.ndarray) -> None:
        ts = np.asarray(ts, dtype=np.int64)
        bad = np.flatnonzero(ts > self.until)
        if bad.size:
            raise SealError(f"{what}: while fitting, the feature view answers only for times up to the start "
                            f"of the test period ({local_time(self.until)}); asked for t = {int(ts[bad[0]])} "
                            f"({local_time(ts[bad[0]])}, {bad.size:,} such queries)")

    def check_pairs(self, what: str, field: str, ids: np.ndarray, ts: np.ndarray) -> None:
        self.check_times(what, ts)

    def check_ids(self, what: str, field: str, ids: np.ndarray) -> None:
        """Ids need no permission while fitting (rooms that start later are answered as unknown)."""


class RowsClock:
    """While predicting: only the harness's own entities at their own times (or earlier), sample ids and times."""

    EARLIER_MS = 1 << 31   # how far before the first row an entity's past may be asked about (24.8 days)

    def __init__(self, ts: np.ndarray, pairs: dict[str, tuple[np.ndarray, np.ndarray]],
                 sample_ids: np.ndarray | None = None):
        """ts: the rows' times; pairs: field -> (ids, their times); sample_ids: exposures handed over."""
        ts = np.asarray(ts, dtype=np.int64)
        self.base = int(ts.min()) - self.EARLIER_MS if ts.size else 0
        self.times = sorted_unique(ts)
        self.pairs = {f: sorted_unique(self._keys(ids, t)) for f, (ids, t) in pairs.items()}
        self.ids = {f: sorted_unique(np.asarray(ids, dtype=np.int64)) for f, (ids, _) in pairs.items()}
        self.sample_ids = sorted_unique(np.asarray(sample_ids if sample_ids is not None else [], dtype=np.int64))

    @classmethod
    def of_rows(cls, user_ids: np.ndarray, streamer_ids: np.ndarray, live_ids: np.ndarray, ts: np.ndarray,
                sample_ids: np.ndarray) -> RowsClock:
        """Pointwise tasks: each row's user, streamer and room at the row's time, and its sample id."""
        return cls(ts, {"user_id": (user_ids, ts), "streamer_id": (streamer_ids, ts), "live_id": (live_ids, ts)},
                   sample_ids)

    @classmethod
    def of_queries(cls, user_ids: np.ndarray, ts: np.ndarray, query_index: np.ndarray, streamer_ids: np.ndarray,
                   live_ids: np.ndarray) -> RowsClock:
        """topk: each query's user at its time, and each live candidate (streamer, room) at its query's time."""
        ts = np.asarray(ts, dtype=np.int64)
        cand_ts = ts[query_index]
        return cls(ts, {"user_id": (user_ids, ts), "streamer_id": (streamer_ids, cand_ts),
                        "live_id": (live_ids, cand_ts)})

    def _keys(self, ids: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """(id << 32) | (t - base); -1 where the pair cannot be packed (never an allowed key)."""
        ids, off = np.asarray(ids, dtype=np.int64), np.asarray(ts, dtype=np.int64) - self.base
        ok = (ids >= 0) & (ids < 1 << ID_BITS) & (off >= 0) & (off < 1 << 32)
        return np.where(ok, (ids << 32) | np.where(ok, off, 0), -1)

    @staticmethod
    def _missing(allowed: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """Positions of the keys that are not allowed."""
        keys = np.asarray(keys, dtype=np.int64)
        if allowed.size == 0:
            return np.arange(keys.size)
        pos = np.minimum(np.searchsorted(allowed, keys), allowed.size - 1)
        return np.flatnonzero((keys < 0) | (allowed[pos] != keys))

    def _refuse(self, what: str, asked: str, n: int) -> None:
        raise SealError(f"{what}: while predicting, the feature view answers only for the rows and candidates "
                        f"the harness handed over, at their own times (an entity's past: earlier); asked for "
                        f"{asked}, which is not one of them ({n:,} such queries)")

    def check_times(self, what: str, ts: np.ndarray) -> None:
        """Each t' must be at or before a handed time (the past of the platform as a whole)."""
        ts = np.asarray(ts, dtype=np.int64)
        bad = np.flatnonzero(ts > self.times[-1]) if self.times.size else np.arange(ts.size)
        if bad.size:
            self._refuse(what, f"t = {int(ts[bad[0]])} ({local_time(ts[bad[0]])})", bad.size)

    def check_pairs(self, what: str, field: str, ids: np.ndarray, ts: np.ndarray) -> None:
        """Each (id, t') must be an entity handed over at some time t >= t'."""
        ids, ts = np.asarray(ids, dtype=np.int64), np.asarray(ts, dtype=np.int64)
        allowed, keys = self.pairs[field], self._keys(ids, ts)
        ok = np.zeros(keys.size, dtype=bool)
        if allowed.size:
            pos = np.minimum(np.searchsorted(allowed, keys), allowed.size - 1)   # the first handed key >= (id, t')
            ok = (keys >= 0) & (allowed[pos] >= keys) & ((allowed[pos] >> 32) == ids)
        bad = np.flatnonzero(~ok)
        if bad.size:
            i = bad[0]
            self._refuse(what, f"{field} {int(ids[i])} at t = {int(ts[i])} ({local_time(ts[i])})", bad.size)

    def check_ids(self, what: str, field: str, ids: np.ndarray) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        bad = self._missing(self.ids[field], ids)
        if bad.size:
            self._refuse(what, f"{field} {int(ids[bad[0]])}", bad.size)

    def check_samples(self, what: str, sample_ids: np.ndarray) -> None:
        bad = self._missing(self.sample_ids, sample_ids)
        if bad.size:
            self._refuse(what, f"sample_id {int(sample_ids[bad[0]])}", bad.size)


class FeatureView:
    """The feature store's leakage-safe accessors behind a clock (see the module docstring)."""

    __slots__ = ("__store", "__clock", "periods", "long_view_ms", "windows_s")

    def __init__(self, store: FeatureStore, periods: dict[str, tuple[int, int]], clock: FitClock | RowsClock):
        self.__store, self.__clock = store, clock
        self.periods = {k: (int(a), int(b)) for k, (a, b) in periods.items()}  # split name -> [start, end) ms
        self.long_view_ms = int(store.long_view_ms)
        self.windows_s = list(store.windows_s)

    @property
    def fitting(self) -> bool:
        """Whether this is the fit-phase view (free times up to the test start) or a predict-phase one."""
        return isinstance(self.__clock, FitClock)

    # --- encoders (fitted on train; no time) ----------------------------------------------------------
    def vocab(self, field: str):
        """The train-fitted vocabulary of a field (user_id, streamer_id, live_id, category, live_type)."""
        return self.__store.vocab(field)

    def encode(self, field: str, values: np.ndarray) -> np.ndarray:
        """Train-fitted index per value, 0 = unseen in train."""
        return self.__store.encode(field, values)

    # --- per-sample and per-(entity, t) features ---------------------------------------------------------
    def samples(self, sample_ids: np.ndarray, columns: list[str] | None = None) -> pa.Table:
        """Precomputed features of the given exposures (all strictly before each one's time).

        Fitting: train and valid exposures only. Predicting: the rows handed over."""
        sample_ids = np.asarray(sample_ids, dtype=np.int64)
        if isinstance(self.__clock, RowsClock):
            self.__clock.check_samples("samples()", sample_ids)
        table = self.__store.samples(sample_ids)
        if isinstance(self.__clock, FitClock):
            bad = np.flatnonzero(table["split"].to_numpy() > 1)
            if bad.size:
                raise SealError(f"samples(): while fitting, the feature view serves train and valid exposures "
                                f"only; sample_id {int(sample_ids[bad[0]])} is a test exposure "
                                f"({bad.size:,} such ids)")
        return table.select(columns) if columns else table

    def history(self, user_ids: np.ndarray, ts: np.ndarray, length: int) -> dict[str, np.ndarray]:
        """The user's last `length` clicks strictly before t, outcomes masked until revealed."""
        self.__clock.check_pairs("history()", "user_id", user_ids, ts)
        return self.__store.history(user_ids, ts, length)

    def pair_stats(self, user_ids: np.ndarray, streamer_ids: np.ndarray, ts: np.ndarray) -> dict[str, np.ndarray]:
        """Repeat consumption of (user, streamer) strictly before t."""
        self.__clock.check_pairs("pair_stats()", "user_id", user_ids, ts)
        self.__clock.check_pairs("pair_stats()", "streamer_id", streamer_ids, ts)
        return self.__store.pair_stats(user_ids, streamer_ids, ts)

    def sequences(self, user_ids: np.ndarray, ts: np.ndarray, max_len: int | None = None,
                  kinds: Sequence[str] | None = None, streamer_ids: np.ndarray | None = None) -> Sequences:
        """The user's last `max_len` behaviour events (of `kinds`; with that streamer when streamer_ids is
        given) known strictly before t, as ragged CSR sequences; a click's watch is -1 until its session ends."""
        user_ids, ts, streamer_ids = query_arrays(user_ids, ts, streamer_ids)
        self.__clock.check_pairs("sequences()", "user_id", user_ids, ts)
        if streamer_ids is not None:
            self.__clock.check_pairs("sequences()", "streamer_id", streamer_ids, ts)
        return self.__store.sequences(user_ids, ts, max_len, kinds, streamer_ids)

    def entity_stats(self, field: str, values: np.ndarray | None, ts: np.ndarray) -> dict[str, np.ndarray]:
        """Expanding statistics of a user, streamer, room or of everything ('all') strictly before t."""
        ts = np.asarray(ts, dtype=np.int64)
        if field == "all":
            self.__clock.check_times("entity_stats('all')", ts)
        elif field in ("user_id", "streamer_id", "live_id"):
            self.__clock.check_pairs(f"entity_stats('{field}')", field, values, ts)
        return self.__store.entity_stats(field, values, ts)

    def moment(self, live_ids: np.ndarray, ts: np.ndarray) -> dict[str, np.ndarray]:
        """Room moment context (entries, revealed comments/likes/gifts) in the trailing windows before t."""
        self.__clock.check_pairs("moment()", "live_id", live_ids, ts)
        return self.__store.moment(live_ids, ts)

    def room_age_s(self, live_ids: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Seconds since the room started at t (NaN when unknown)."""
        self.__clock.check_pairs("room_age_s()", "live_id", live_ids, ts)
        r = self.rooms(live_ids)
        return np.where(r["known"], (np.asarray(ts) - r["start_ts"]) / 1000.0, np.nan)

    # --- rooms and profiles ------------------------------------------------------------------------------
    def rooms(self, live_ids: np.ndarray) -> dict[str, np.ndarray]:
        """streamer_id, live_type, category, title_row, start_ts, known: never an end time or duration.

        Fitting: a room that starts after the test period begins is unknown."""
        self.__clock.check_ids("rooms()", "live_id", live_ids)
        clock = self.__clock
        return self.__store.rooms(live_ids, started_by=clock.until if isinstance(clock, FitClock) else None)

    def title_embedding(self, live_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Title vector of each room's first date, zeros where missing or unknown, and the missing flag."""
        return self.__store.title_rows(self.rooms(live_ids)["title_row"])

    def user_profile(self, user_ids: np.ndarray) -> pa.Table:
        """User profile codes (a 2025-05-25 snapshot: sees the future, documented and ablated)."""
        self.__clock.check_ids("user_profile()", "user_id", user_ids)
        return self.__store.user_profile(user_ids)

    def streamer_profile(self, streamer_ids: np.ndarray) -> pa.Table:
        """Streamer profile codes (a 2025-05-25 snapshot: sees the future, documented and ablated)."""
        self.__clock.check_ids("streamer_profile()", "streamer_id", streamer_ids)
        return self.__store.streamer_profile(streamer_ids)

    # --- fit only: the past in bulk ----------------------------------------------------------------------
    def _fit_clock(self, what: str) -> FitClock:
        if not isinstance(self.__clock, FitClock):
            raise SealError(f"{what}: only while fitting (it reads the past in bulk, not the rows handed over)")
        return self.__clock

    def click_log(self, start: int | None = None, end: int | None = None) -> dict[str, np.ndarray]:
        """Every click with start <= ts < end (end defaults to the test start), sorted by (user, ts), with
        outcome columns -1 unless revealed before `end`. Fitting only."""
        clock = self._fit_clock("click_log()")
        end = clock.until if end is None else int(end)
        clock.check_times("click_log()", np.array([end]))
        return self.__store.click_history.window(-(1 << 62) if start is None else int(start), end)

    def event_log(self, start: int | None = None, end: int | None = None,
                  kinds: Sequence[str] | None = None) -> Sequences:
        """Every behaviour event known in [start, end) (end defaults to the test start), one sequence per user
        (`user_ids`), click watch -1 unless its session ended before `end`: for pre-training. Fitting only."""
        clock = self._fit_clock("event_log()")
        end = clock.until if end is None else int(end)
        clock.check_times("event_log()", np.array([end]))
        return self.__store.event_log(-(1 << 62) if start is None else int(start), end, kinds)

    def candidates(self, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CSR (offsets, streamer_id, live_id) of the streamers live at each t, for validation queries.
        Fitting only: while predicting the harness hands each query's candidates over."""
        clock = self._fit_clock("candidates()")
        ts = np.asarray(ts, dtype=np.int64)
        clock.check_times("candidates()", ts)
        return self.__store.live_index.candidates(ts)

    def known_streamers(self) -> np.ndarray:
        """Sorted ids of every streamer with a room started by the test start (an item vocabulary). Fitting only."""
        clock = self._fit_clock("known_streamers()")
        li = self.__store.live_index
        return sorted_unique(li.streamer_id[li.start <= clock.until])

