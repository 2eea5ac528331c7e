"""The user behaviour event log, one row per event of every kind, and its ragged (CSR) queries.

Built lazily from data/processed/<dataset>/exposures.parquet and events.parquet (no file of its own).
Each row is stamped with the time it becomes known under the feature store's rule (docs/features.md,
"The rule"), the one every other accessor and `kuailive-bench check`'s perturbation follow:
- click: known at its ts; its value (watch_ms) is shown only once its session's outcome is revealed
  (the exposure's `reveal_ts` < t), -1 before;
- long_view: a click whose watch reaches long_view_ms, known with that watch (the click's `reveal_ts`);
- like, comment, gift: one row per event, known at events.parquet's `reveal_ts`: max(event ts, click ts +
  watch) for an event attributed to a click (the release snaps most onto the entry), its ts when
  unattributed. gift value = gift_price.
A query at t sees the rows known strictly before t (an event known at exactly t is not before t).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from benchmark.errors import BenchmarkError
from benchmark.features.keys import KeyCoder, pair_codes, searchsorted_many, sorted_unique

KINDS = ("click", "long_view", "like", "comment", "gift")
KIND_CODE = {k: np.int8(i) for i, k in enumerate(KINDS)}
COLUMNS = ("kind", "ts", "streamer_id", "live_id", "sample_id", "value")  # what a query returns
LOG_COLUMNS = ("user_id", *COLUMNS, "shown_ts")  # shown_ts: when `value` is shown (a click's reveal_ts)


@dataclass(frozen=True, eq=False)
class Sequences:
    """n ragged sequences: sequence i is rows offsets[i]:offsets[i+1] of every column, oldest first.

    columns: kind (int8, codes into KINDS), ts (when the event became known), streamer_id, live_id,
    sample_id (the click's; -1 unattributed), value (-1 where not known at the query's t).
    user_ids: the user of each sequence (event_log only; None for queries, whose users the caller has).
    """

    offsets: np.ndarray
    columns: dict[str, np.ndarray]
    user_ids: np.ndarray | None = field(default=None)

    def __len__(self) -> int:
        return int(self.offsets.size) - 1

    @property
    def lengths(self) -> np.ndarray:
        """Events per sequence (int64, n)."""
        return np.diff(self.offsets)

    @property
    def nbytes(self) -> int:
        """Bytes held by the offsets, columns and user ids."""
        arrays = [self.offsets, *self.columns.values()] + ([self.user_ids] if self.user_ids is not None else [])
        return int(sum(a.nbytes for a in arrays))

    def to_padded(self, column: str | np.ndarray, length: int, pad: int = -1) -> np.ndarray:
        """Dense (n, length) array of a column (a name, or a flat array aligned with the rows, e.g. encoded
        ids): each sequence's last `length` events, left-padded with `pad`, most recent in the last column
        (the layout of `FeatureStore.history`)."""
        if int(length) < 1:
            raise BenchmarkError(f"to_padded: length must be at least 1, not {length}")
        values = self.columns[column] if isinstance(column, str) else np.asarray(column)
        if values.shape != (int(self.offsets[-1]),):
            raise BenchmarkError(f"to_padded: {values.shape} values for {int(self.offsets[-1]):,} events")
        take = np.minimum(self.lengths, int(length))
        out = np.full((len(self), int(length)), pad, dtype=np.result_type(values.dtype, np.min_scalar_type(pad)))
        row = np.repeat(np.arange(len(self)), take)
        first = np.cumsum(take) - take  # where each row's taken events start in the flat selection
        j = np.arange(int(take.sum())) - np.repeat(first, take)  # 0.. within each row
        src = np.repeat(self.offsets[1:] - take, take) + j
        out[row, int(length) - np.repeat(take, take) + j] = values[src]
        return out


def kinds_key(kinds: str | Iterable[str] | None) -> tuple[str, ...]:
    """The canonical kinds tuple (KINDS order, no repeats), all kinds for None; unknown kinds are an error."""
    if kinds is None:
        return KINDS
    asked = [kinds] if isinstance(kinds, str) else list(kinds)
    unknown = sorted({str(k) for k in asked} - set(KINDS))
    if unknown or not asked:
        raise BenchmarkError(f"sequences: unknown kinds {unknown or '(none given)'}; known: {', '.join(KINDS)}")
    return tuple(k for k in KINDS if k in asked)


def check_max_len(max_len: int | None) -> int | None:
    """max_len as an int >= 1, or None (all events)."""
    if max_len is None:
        return None
    if isinstance(max_len, bool) or not isinstance(max_len, int | np.integer) or max_len < 1:
        raise BenchmarkError(f"sequences: max_len must be an integer of at least 1 or None, not {max_len!r}")
    return int(max_len)


def query_arrays(user_ids, ts, streamer_ids=None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """A query's ids and times as flat int64 arrays of one length, or one error saying which differs."""
    user_ids, ts = np.asarray(user_ids, np.int64).ravel(), np.asarray(ts, np.int64).ravel()
    if user_ids.size != ts.size:
        raise BenchmarkError(f"sequences: {user_ids.size:,} user ids but {ts.size:,} times")
    if streamer_ids is not None:
        streamer_ids = np.asarray(streamer_ids, np.int64).ravel()
        if streamer_ids.size != ts.size:
            raise BenchmarkError(f"sequences: {streamer_ids.size:,} streamer ids but {ts.size:,} times")
    return user_ids, ts, streamer_ids


# --- building the log --------------------------------------------------------------------------------------
def _clicks(processed: Path) -> dict[str, np.ndarray]:
    """The clicks of exposures.parquet (in sample_id order), read in batches so only clicks are held."""
    cols = ["sample_id", "user_id", "live_id", "streamer_id", "ts", "click", "watch_ms", "reveal_ts"]
    parts: dict[str, list[np.ndarray]] = {k: [] for k in cols if k != "click"}
    for batch in pq.ParquetFile(Path(processed) / "exposures.parquet").iter_batches(1 << 20, columns=cols):
        keep = batch.column("click").to_numpy() == 1
        for k, part in parts.items():
            part.append(np.asarray(batch.column(k).to_numpy()[keep], np.int64))
    return {k: np.concatenate(v) if v else np.zeros(0, np.int64) for k, v in parts.items()}


def _rows(user, kind, ts, streamer, live, sample, value, shown) -> dict[str, np.ndarray]:
    """Log columns from arrays or scalars (broadcast to the rows)."""
    user = np.asarray(user, np.int64)
    cols = {"kind": kind, "ts": ts, "streamer_id": streamer, "live_id": live, "sample_id": sample,
            "value": value, "shown_ts": shown}
    return {"user_id": user, **{k: np.broadcast_to(np.asarray(v, np.int8 if k == "kind" else np.int64), user.shape)
                                for k, v in cols.items()}}


def click_rows(c: dict[str, np.ndarray], long_view_ms: int) -> list[dict[str, np.ndarray]]:
    """A click row per click (watch shown at its reveal_ts) and a long_view row per long enough watch."""
    clicks = _rows(c["user_id"], KIND_CODE["click"], c["ts"], c["streamer_id"], c["live_id"], c["sample_id"],
                   c["watch_ms"], c["reveal_ts"])
    long = c["watch_ms"] >= long_view_ms
    at = c["reveal_ts"][long]
    longs = _rows(c["user_id"][long], KIND_CODE["long_view"], at, c["streamer_id"][long], c["live_id"][long],
                  c["sample_id"][long], -1, at)
    return [clicks, longs]


def event_rows(processed: Path, c: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A row per like, comment and gift, known at its reveal time (see the module docstring)."""
    cols = ["kind", "user_id", "live_id", "streamer_id", "ts", "gift_price", "click_sample_id", "reveal_ts"]
    ev = pq.read_table(Path(processed) / "events.parquet", columns=cols)
    e = {k: ev[k].to_numpy(zero_copy_only=False) for k in cols}
    kind_name = np.asarray(e["kind"]).astype(str)
    kind = np.full(kind_name.size, -1, np.int8)
    for name in ("like", "comment", "gift"):
        kind[kind_name == name] = KIND_CODE[name]
    sid, known = np.asarray(e["click_sample_id"], np.int64), np.asarray(e["reveal_ts"], np.int64)
    pos = np.minimum(searchsorted_many(c["sample_id"], sid), max(c["sample_id"].size - 1, 0))
    attributed = (sid >= 0) & (c["sample_id"][pos] == sid) if c["sample_id"].size else np.zeros(sid.size, bool)
    value = np.where(kind == KIND_CODE["gift"], np.asarray(e["gift_price"], np.int64), -1)
    rows = _rows(e["user_id"], kind, known, e["streamer_id"], e["live_id"], np.where(attributed, sid, -1),
                 value, known)
    return {k: v[kind >= 0] for k, v in rows.items()}


def sort_log(cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Rows in (user_id, ts, kind, sample_id) order; a stable sort, so remaining ties (two gifts of one
    session snapped to its end) keep the order of events.parquet, itself deterministic."""
    order = np.lexsort((cols["sample_id"], cols["kind"], cols["ts"], cols["user_id"]))
    return {k: np.ascontiguousarray(v[order]) for k, v in cols.items()}


def build_log(processed: Path, long_view_ms: int) -> dict[str, np.ndarray]:
    """The whole event log (LOG_COLUMNS), every kind, sorted by (user_id, ts, kind, sample_id)."""
    c = _clicks(processed)
    parts = [*click_rows(c, long_view_ms), event_rows(processed, c)]
    return sort_log({k: np.concatenate([p[k] for p in parts]) for k in LOG_COLUMNS})


def select_kinds(log: dict[str, np.ndarray], kinds: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The rows of some kinds only (order kept); the log itself when every kind is asked for."""
    if kinds == KINDS:
        return log
    keep = np.isin(log["kind"], [KIND_CODE[k] for k in kinds])
    return {k: v[keep] for k, v in log.items()}


# --- queries ---------------------------------------------------------------------------------------------
class RaggedIndex:
    """The rows of a time-sorted log grouped by an entity (user, or (user, streamer) pair), by known time
    within each: "rows before t" is one np.searchsorted over composite (entity, time) keys."""

    def __init__(self, entity: np.ndarray, ts: np.ndarray, base_ts: int):
        entity, ts = np.asarray(entity, np.int64), np.asarray(ts, np.int64)
        # stable: the log is time-sorted within each user, so it stays time-sorted within each entity
        self.rows = np.argsort(entity, kind="stable") if np.any(entity[1:] < entity[:-1]) else None
        if self.rows is not None:
            entity, ts = entity[self.rows], ts[self.rows]
        cuts = np.flatnonzero(entity[1:] != entity[:-1]) + 1
        self.starts = np.concatenate([[0], cuts, [entity.size]]).astype(np.int64) if entity.size else \
            np.zeros(1, np.int64)  # rows of entity code i: starts[i]:starts[i + 1]
        self.coder = KeyCoder(entity[self.starts[:-1]], base_ts)
        self.codes = np.repeat(np.arange(self.starts.size - 1, dtype=np.int64), np.diff(self.starts))
        self.keys = self.coder.keys(self.codes, ts)

    def ranges(self, entity: np.ndarray, ts: np.ndarray, max_len: int | None) -> tuple[np.ndarray, np.ndarray]:
        """[lo, hi) positions of each query's last `max_len` rows known strictly before t (empty if unknown)."""
        codes, found = self.coder.codes(entity)
        hi = searchsorted_many(self.keys, self.coder.keys(codes, ts))
        lo = self.starts[codes] if max_len is None else np.maximum(self.starts[codes], hi - max_len)
        return np.where(found, lo, 0), np.where(found, hi, 0)

    def rows_of(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """CSR offsets of the ranges and the log rows they hold, concatenated."""
        lengths = (hi - lo).astype(np.int64)
        offsets = np.zeros(lengths.size + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        pos = np.repeat(lo - offsets[:-1], lengths) + np.arange(offsets[-1], dtype=np.int64)
        return offsets, (pos if self.rows is None else self.rows[pos])


class EventLog:
    """One kinds selection of the event log, with its per-user index and (lazily) its per-pair index."""

    def __init__(self, log: dict[str, np.ndarray], base_ts: int):
        self.cols = log
        ts = log["ts"]
        self.base_ts = int(min(base_ts, int(ts.min()))) if ts.size else int(base_ts)
        self.users = RaggedIndex(log["user_id"], ts, self.base_ts)
        if self.users.rows is not None:
            raise BenchmarkError("EventLog: the log must be sorted by user (sort_log)")
        self.streamers = sorted_unique(log["streamer_id"])
        self._pairs: RaggedIndex | None = None

    def __len__(self) -> int:
        return int(self.cols["ts"].size)

    def pair_ids(self, user_codes: np.ndarray, user_found: np.ndarray, streamer_ids: np.ndarray) -> np.ndarray:
        """One int64 per (user, streamer); -1 when either is absent from this log."""
        return pair_codes(user_codes, user_found, self.streamers, streamer_ids)

    @property
    def pairs(self) -> RaggedIndex:
        """The (user, streamer) index, built on first use (the log is user-sorted: its codes are the index's)."""
        if self._pairs is None:
            pair = self.pair_ids(self.users.codes, True, self.cols["streamer_id"])
            self._pairs = RaggedIndex(pair, self.cols["ts"], self.base_ts)
        return self._pairs

    def query(self, user_ids: np.ndarray, ts: np.ndarray, max_len: int | None = None,
              streamer_ids: np.ndarray | None = None) -> Sequences:
        """Per query, the last `max_len` events known strictly before t of the user (with that streamer
        when streamer_ids is given), oldest first; values -1 where not shown before t."""
        user_ids, ts, streamer_ids = query_arrays(user_ids, ts, streamer_ids)
        if streamer_ids is None:
            index, entity = self.users, user_ids
        else:
            index, entity = self.pairs, self.pair_ids(*self.users.coder.codes(user_ids), streamer_ids)
        offsets, rows = index.rows_of(*index.ranges(entity, ts, max_len))
        at = np.repeat(ts, np.diff(offsets))
        return Sequences(offsets, self._columns(rows, at))

    def window(self, start: int, end: int) -> Sequences:
        """Every event known in [start, end), one sequence per user (user_ids set), values as known at end."""
        ts = self.cols["ts"]
        rows = np.flatnonzero((ts >= start) & (ts < end))
        users = self.cols["user_id"][rows]
        cuts = np.flatnonzero(users[1:] != users[:-1]) + 1
        offsets = np.concatenate([[0], cuts, [rows.size]]).astype(np.int64) if rows.size else np.zeros(1, np.int64)
        return Sequences(offsets, self._columns(rows, np.full(rows.size, end, np.int64)), users[offsets[:-1]])

    def _columns(self, rows: np.ndarray, at: np.ndarray) -> dict[str, np.ndarray]:
        """The query columns of some log rows, value -1 unless shown strictly before `at` (per row)."""
        out = {k: self.cols[k][rows] for k in COLUMNS}
        out["value"] = np.where(self.cols["shown_ts"][rows] < at, out["value"], -1)
        return out
