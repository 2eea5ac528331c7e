"""The feature store: built once per dataset, opened by every model through `ctx.features`.

It serves features already masked (spec §4): a sample at time t sees only what was known strictly
before t, outcomes only once revealed, and encoders fitted on train. Models never re-derive this.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from benchmark.data.schema import DAY_MS, TZ_OFFSET_MS
from benchmark.errors import BenchmarkError
from benchmark.features.cumulative import CumulativeIndex
from benchmark.features.encoders import Vocab
from benchmark.features.history import ClickHistory, PairHistory, history_table
from benchmark.features.keys import KeyCoder, searchsorted_many, sorted_unique
from benchmark.features.live_index import LiveIndex
from benchmark.features.moment import MomentContext
from benchmark.features.sequences import EventLog, Sequences, build_log, check_max_len, kinds_key, select_kinds
from benchmark.io import atomic_dir, log
from benchmark.params import FeatureParams

VOCAB_FIELDS = ("user_id", "streamer_id", "live_id", "category", "live_type")
PROFILE_SNAPSHOT_NOTE = ("user and streamer profiles are a snapshot of 2025-05-25 and see the future "
                         "relative to earlier samples (kuailive-format.md); the leaderboard sizes this leak")


def time_features(ts: np.ndarray) -> dict[str, np.ndarray]:
    """Hour of day, day of week (0 = Monday) and evening peak flag (18:00-24:00), all in Asia/Shanghai."""
    local = np.asarray(ts, dtype=np.int64) + TZ_OFFSET_MS
    hour = ((local % DAY_MS) // 3_600_000).astype(np.int8)
    dow = (((local // DAY_MS) + 3) % 7).astype(np.int8)  # 1970-01-01 was a Thursday
    return {"hour": hour, "dow": dow, "peak": (hour >= 18).astype(np.int8)}


def _read(path: Path, columns: list[str] | None = None) -> pa.Table:
    if not path.exists():
        raise BenchmarkError(f"{path}: not found (run the earlier pipeline stages first)")
    return pq.read_table(path, columns=columns)


class FeatureStore:
    """Leakage-safe accessors over one dataset's processed data and its train-fitted encoders."""

    def __init__(self, features_dir: Path, processed_dir: Path):
        self.features_dir, self.processed_dir = Path(features_dir), Path(processed_dir)
        self.meta = json.loads((self.features_dir / "store.json").read_text())
        self.base_ts = int(self.meta["base_ts"])
        self.windows_s = list(self.meta["moment_windows_s"])
        self.long_view_ms = int(self.meta["long_view_seconds"]) * 1000
        self._cache: dict[str, object] = {}

    @classmethod
    def open(cls, features_dir: Path | str, processed_dir: Path | str | None = None) -> FeatureStore:
        """Open a built store; the processed folder defaults to the one it was built from."""
        features_dir = Path(features_dir)
        if not (features_dir / "store.json").exists():
            raise BenchmarkError(f"{features_dir}: no feature store here (run `kuailive-bench features`)")
        meta = json.loads((features_dir / "store.json").read_text())
        return cls(features_dir, Path(processed_dir or meta["processed_dir"]))

    def _get(self, name: str, make):
        if name not in self._cache:
            self._cache[name] = make()
        return self._cache[name]

    # --- encoders -------------------------------------------------------------------------------
    def vocab(self, field: str) -> Vocab:
        """The train-fitted vocabulary of a field (user_id, streamer_id, live_id, category, live_type)."""
        if field not in VOCAB_FIELDS:
            raise BenchmarkError(f"no vocabulary for '{field}'; known: {', '.join(VOCAB_FIELDS)}")

        def make() -> Vocab:
            v = Vocab(np.array([]))
            v.values = np.load(self.features_dir / "vocab" / f"{field}.npy", allow_pickle=False)
            return v

        return self._get(f"vocab:{field}", make)

    def encode(self, field: str, values: np.ndarray) -> np.ndarray:
        """Train-fitted index per value, 0 = unseen in train."""
        return self.vocab(field).encode(values)

    # --- per-sample features ----------------------------------------------------------------------
    def samples(self, sample_ids: np.ndarray | None = None, columns: list[str] | None = None) -> pa.Table:
        """Precomputed per-exposure features (history length, room moment context, room age, time)."""
        table = self._get("samples", lambda: _read(self.features_dir / "samples.parquet"))
        if sample_ids is not None:
            sids = table["sample_id"].to_numpy()
            pos = np.searchsorted(sids, np.asarray(sample_ids, dtype=np.int64))
            pos = np.minimum(pos, max(sids.size - 1, 0))
            if sids.size == 0 or not np.array_equal(sids[pos], np.asarray(sample_ids, dtype=np.int64)):
                raise BenchmarkError("samples(): some sample_ids are not in the feature store")
            table = table.take(pa.array(pos))
        return table.select(columns) if columns else table

    # --- history ------------------------------------------------------------------------------------
    @property
    def click_history(self) -> ClickHistory:
        """The CSR click log (each user's clicks sorted by time)."""
        return self._get("history", lambda: ClickHistory(_read(self.features_dir / "history.parquet"),
                                                         self.base_ts))

    def history(self, user_ids: np.ndarray, ts: np.ndarray, length: int) -> dict[str, np.ndarray]:
        """Last `length` clicks strictly before t, outcomes masked until revealed (see ClickHistory.last)."""
        return self.click_history.last(user_ids, ts, length)

    def pair_stats(self, user_ids: np.ndarray, streamer_ids: np.ndarray, ts: np.ndarray) -> dict[str, np.ndarray]:
        """Repeat-consumption statistics of (user, streamer) pairs strictly before t."""
        return self._get("pairs", lambda: PairHistory(self.click_history)).stats(user_ids, streamer_ids, ts)

    # --- behaviour sequences ---------------------------------------------------------------------------
    def _event_log(self, kinds: tuple[str, ...]) -> EventLog:
        """The event log of some kinds (built from the processed folder on first use, one per kinds tuple)."""
        log = self._get("events:log", lambda: build_log(self.processed_dir, self.long_view_ms))
        return self._get(f"events:{','.join(kinds)}", lambda: EventLog(select_kinds(log, kinds), self.base_ts))

    def sequences(self, user_ids: np.ndarray, ts: np.ndarray, max_len: int | None = None,
                  kinds: Sequence[str] | None = None, streamer_ids: np.ndarray | None = None) -> Sequences:
        """Per (user, t): the last `max_len` events (all when None) known strictly before t, oldest first, of
        the given kinds (all when None), with that streamer only when streamer_ids is given; a click's watch
        (`value`) is -1 until its session ends (benchmark.features.sequences)."""
        kinds, max_len = kinds_key(kinds), check_max_len(max_len)  # refused before the log is built
        return self._event_log(kinds).query(user_ids, ts, max_len, streamer_ids)

    def event_log(self, start: int, end: int, kinds: Sequence[str] | None = None) -> Sequences:
        """Every event known in [start, end), one sequence per user (`user_ids`), in (user, ts, kind,
        sample_id) order, click watch -1 unless its session ended before `end`: for pre-training."""
        return self._event_log(kinds_key(kinds)).window(int(start), int(end))

    def entity_stats(self, field: str, values: np.ndarray | None, ts: np.ndarray) -> dict[str, np.ndarray]:
        """Expanding statistics of an entity strictly before t, for label-derived features.

        field: 'streamer_id', 'user_id', 'live_id' or 'all' (values ignored). Exposures and clicks count
        at their timestamp; session outcomes (watch_ms, long_view, like, comment, gift, gift_value)
        count from their reveal time, with `revealed` = sessions whose outcome is known.
        """
        if field not in ("streamer_id", "user_id", "live_id", "all"):
            raise BenchmarkError(f"entity_stats: field must be streamer_id, user_id, live_id or all, not '{field}'")
        ts = np.asarray(ts, dtype=np.int64)
        exposures, outcomes = self._get(f"stats:{field}", lambda: self._entity_indexes(field))
        values = np.zeros(ts.size, np.int64) if field == "all" else np.asarray(values, dtype=np.int64)
        _, n_exp, s_exp = exposures.query(values, ts)
        _, n_rev, s_rev = outcomes.query(values, ts)
        return {"exposures": n_exp, "clicks": s_exp["click"], "revealed": n_rev, **s_rev}

    def _entity_indexes(self, field: str) -> tuple[CumulativeIndex, CumulativeIndex]:
        cols = ["ts", "click", "reveal_ts", "watch_ms", "n_like", "n_comment", "n_gift", "gift_value"]
        ex = _read(self.processed_dir / "exposures.parquet", cols + ([] if field == "all" else [field]))
        c = {k: ex[k].to_numpy() for k in ex.column_names}
        ent = np.zeros(ex.num_rows, np.int64) if field == "all" else c[field]
        coder = KeyCoder(ent, self.base_ts)
        exposures = CumulativeIndex(coder, ent, c["ts"], {"click": c["click"].astype(np.int64)})
        k = c["click"] == 1
        outcome = {"watch_ms": c["watch_ms"][k], "long_view": c["watch_ms"][k] >= self.long_view_ms,
                   "like": c["n_like"][k] > 0, "comment": c["n_comment"][k] > 0, "gift": c["n_gift"][k] > 0,
                   "gift_value": c["gift_value"][k]}
        outcome = {name: v.astype(np.int64) for name, v in outcome.items()}
        return exposures, CumulativeIndex(coder, ent[k], c["reveal_ts"][k], outcome)

    def train_clicks(self, user_ids: np.ndarray) -> np.ndarray:
        """Clicks each user made in the train split (for activity breakdowns)."""
        def make() -> tuple[np.ndarray, np.ndarray]:
            s = self.samples(columns=["sample_id", "split"])
            train_ids = s["sample_id"].to_numpy()[s["split"].to_numpy() == 0]
            log = self.click_history.cols
            u = log["user_id"][np.isin(log["sample_id"], train_ids)]
            return np.unique(u, return_counts=True)

        users, counts = self._get("train_clicks", make)
        user_ids = np.asarray(user_ids, dtype=np.int64)
        pos = np.minimum(searchsorted_many(users, user_ids), max(users.size - 1, 0))
        return np.where((users.size > 0) & (users[pos] == user_ids), counts[pos], 0) if users.size else \
            np.zeros(user_ids.size, np.int64)

    # --- room ---------------------------------------------------------------------------------------
    @property
    def _rooms(self) -> dict[str, np.ndarray]:
        def make() -> dict[str, np.ndarray]:
            t = _read(self.processed_dir / "rooms.parquet")
            d = {c: t[c].to_numpy(zero_copy_only=False) for c in t.column_names}
            d["category"] = d["category"].astype(str)
            return d

        return self._get("rooms", make)

    def rooms(self, live_ids: np.ndarray, started_by: int | None = None) -> dict[str, np.ndarray]:
        """Static room features: streamer_id, live_type, category, title_row, start_ts, known.

        Never the end time or duration: they are future information. A room that starts after
        `started_by` (when given) is unknown, as it was at that time.
        """
        r = self._rooms
        live_ids = np.asarray(live_ids, dtype=np.int64)
        pos = searchsorted_many(r["live_id"], live_ids)
        pos_c = np.minimum(pos, max(r["live_id"].size - 1, 0))
        known = (pos < r["live_id"].size) & (r["live_id"][pos_c] == live_ids)
        if started_by is not None:
            known &= r["start_ts"][pos_c] <= started_by
        out = {"known": known}
        for c, fill in (("streamer_id", -1), ("live_type", -1), ("title_row", -1), ("start_ts", -1)):
            out[c] = np.where(known, r[c][pos_c], fill)
        out["category"] = np.where(known, r["category"][pos_c], "")
        return out

    def room_age_s(self, live_ids: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Seconds since the room started at t (NaN when the room is unknown)."""
        r = self.rooms(live_ids)
        return np.where(r["known"], (np.asarray(ts) - r["start_ts"]) / 1000.0, np.nan)

    @property
    def titles(self) -> np.ndarray:
        """The (n_titles, 128) float32 title embedding matrix."""
        return self._get("titles", lambda: np.load(self.processed_dir / "titles.npy"))

    def title_embedding(self, live_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Title vector of each room's first date, zeros where missing, and the missing flag."""
        return self.title_rows(self.rooms(live_ids)["title_row"])

    def title_rows(self, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Title vectors of title-embedding rows, zeros where the row is -1, and the missing flag."""
        emb = self.titles
        missing = row < 0
        out = emb[np.maximum(row, 0)] if emb.shape[0] else np.zeros((row.size, 128), np.float32)
        out[missing] = 0.0
        return out, missing

    def moment(self, live_ids: np.ndarray, ts: np.ndarray) -> dict[str, np.ndarray]:
        """Room moment context for any (room, t) pairs, e.g. topk candidates at the query time."""
        def make() -> MomentContext:
            ex = _read(self.processed_dir / "exposures.parquet", ["live_id", "ts", "click"])
            clicks = ex.filter(pc.equal(ex["click"], 1))
            return MomentContext(clicks, _read(self.processed_dir / "events.parquet"), self.base_ts, self.windows_s)

        return self._get("moment", make).compute(live_ids, ts)

    @property
    def live_index(self) -> LiveIndex:
        """The interval index of rooms: `live_index.candidates(ts)` gives the streamers live at t."""
        def make() -> LiveIndex:
            cols = ["live_id", "streamer_id", "start_ts", "end_ts"]
            # the four columns alone unless the full room table is loaded already (its category is slow to decode)
            r = self._cache.get("rooms") or {c: a.to_numpy() for c, a in zip(
                cols, _read(self.processed_dir / "rooms.parquet", cols).columns, strict=True)}
            return LiveIndex(r["live_id"], r["streamer_id"], r["start_ts"], r["end_ts"])

        return self._get("live_index", make)

    # --- profiles -----------------------------------------------------------------------------------
    def _profile(self, kind: str, ids: np.ndarray, include: bool) -> pa.Table:
        key = "user_id" if kind == "users" else "streamer_id"
        table = self._get(kind, lambda: _read(self.processed_dir / f"{kind}.parquet").sort_by(key))
        all_ids = table[key].to_numpy()
        ids = np.asarray(ids, dtype=np.int64)
        pos = np.minimum(searchsorted_many(all_ids, ids), max(all_ids.size - 1, 0))
        known = (all_ids.size > 0) & (all_ids[pos] == ids)
        out = table.take(pa.array(pos)) if all_ids.size else table
        cols = {c: out[c] for c in out.column_names if c != key} if include else {}
        return pa.table({key: ids, "known": known, **cols})

    def user_profile(self, user_ids: np.ndarray) -> pa.Table:
        """User profile codes (a 2025-05-25 snapshot: sees the future, documented and ablated)."""
        return self._profile("users", user_ids, True)

    def streamer_profile(self, streamer_ids: np.ndarray) -> pa.Table:
        """Streamer profile codes (a 2025-05-25 snapshot: sees the future, documented and ablated)."""
        return self._profile("streamers", streamer_ids, True)


def build_features(processed: Path, split: Path, out: Path,
                   windows_s: Sequence[int] = FeatureParams.moment_windows_s,
                   long_view_seconds: int = FeatureParams.long_view_seconds, quiet: bool = False) -> dict:
    """Build the store: click log, per-sample masked features, train-fitted vocabularies."""
    processed, split = Path(processed), Path(split)
    ex = _read(processed / "exposures.parquet")
    events = _read(processed / "events.parquet")
    assign = _read(split / "split.parquet")
    in_split = np.isin(ex["sample_id"].to_numpy(), assign["sample_id"].to_numpy())
    if not np.array_equal(assign["sample_id"].to_numpy(), ex["sample_id"].to_numpy()[in_split]):
        raise BenchmarkError(f"{split}/split.parquet does not match {processed}/exposures.parquet (rerun split)")
    ts_all = ex["ts"].to_numpy()
    base_ts = int(ts_all.min()) - DAY_MS if ts_all.size else 0
    log(quiet, "features: click history")
    hist = history_table(ex)
    log(quiet, "features: room moment context")
    ex = ex.filter(pa.array(in_split))
    sid, uid, lid, ts = (ex[c].to_numpy() for c in ("sample_id", "user_id", "live_id", "ts"))
    moment = MomentContext(hist, events, base_ts, list(windows_s))
    cols: dict[str, np.ndarray] = {"sample_id": sid, "split": assign["split"].to_numpy()}
    cols["hist_len"] = ClickHistory(hist, base_ts).hist_len(uid, ts).astype(np.int32)
    cols.update(moment.compute(lid, ts))
    rooms = _read(processed / "rooms.parquet", ["live_id", "start_ts"])
    r_live, r_start = rooms["live_id"].to_numpy(), rooms["start_ts"].to_numpy()
    pos = np.minimum(searchsorted_many(r_live, lid), max(r_live.size - 1, 0))
    known = (r_live.size > 0) & (r_live[pos] == lid)
    cols["room_known"] = known.astype(np.int8)
    cols["room_age_s"] = np.where(known, (ts - r_start[pos]) / 1000.0, np.nan).astype(np.float32)
    cols.update(time_features(ts))
    log(quiet, "features: vocabularies fitted on train")
    train = cols["split"] == 0
    rooms_all = _read(processed / "rooms.parquet", ["live_id", "category", "live_type"])
    train_rooms = pc.is_in(rooms_all["live_id"], pa.array(sorted_unique(lid[train])))
    rt = rooms_all.filter(train_rooms)
    vocab_values = {
        "user_id": uid[train], "streamer_id": ex["streamer_id"].to_numpy()[train], "live_id": lid[train],
        "category": rt["category"].to_numpy(zero_copy_only=False).astype(str),
        "live_type": rt["live_type"].to_numpy(),
    }
    vocab = {field: sorted_unique(values) for field, values in vocab_values.items()}
    with atomic_dir(Path(out)) as tmp:
        pq.write_table(hist, tmp / "history.parquet")
        pq.write_table(pa.table(cols), tmp / "samples.parquet")
        (tmp / "vocab").mkdir()
        for field, values in vocab.items():
            np.save(tmp / "vocab" / f"{field}.npy", values, allow_pickle=False)
        meta = {"base_ts": base_ts, "moment_windows_s": list(windows_s), "long_view_seconds": int(long_view_seconds),
                "processed_dir": str(processed),
                "samples": int(sid.size), "history_rows": hist.num_rows,
                "vocab_sizes": {f: int(v.size) for f, v in vocab.items()},
                "profiles": PROFILE_SNAPSHOT_NOTE}
        (tmp / "store.json").write_text(json.dumps(meta, indent=1))
    log(quiet, f"features: {sid.size:,} samples, {hist.num_rows:,} clicks in the log")
    return meta
