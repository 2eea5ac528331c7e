"""The exact reader of the KuaiLive release (real or simulated): raw CSVs in, typed parquet out.

Reads KuaiLive.zip, a KuaiLive/ folder or a folder holding either, with the types of
benchmark.data.schema, and writes docs/data-layout.md's processed files in one atomic step.
Decisions (room table wins on streamer mismatch, attribution, first-date titles) are in docs/reader.md.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from benchmark.data.ranges import encode_dates, encode_ranges
from benchmark.data.schema import (
    CLICK,
    COMMENT,
    EMBEDDING_DIM,
    EMBEDDINGS_FILE,
    FOLDER,
    GIFT,
    LEGACY_COLUMNS,
    LEGACY_FILE_NAMES,
    LIKE,
    NEGATIVE,
    RAW_FILES,
    ROOM,
    STREAMER,
    USER,
    RawFile,
)
from benchmark.errors import BenchmarkError, DataError
from benchmark.io import atomic_dir, log

ZIP_NAME = "KuaiLive.zip"
EVENT_KINDS = ("comment", "gift", "like")  # alphabetical: the tie order of events.parquet
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError)
_BLOCK = 16 << 20


# --- where the files come from ---------------------------------------------------------------------
class _Source:
    """The release's files inside a zip archive or a folder, under current or legacy names."""

    def __init__(self, path: Path):
        self.path = path
        self.zip: zipfile.ZipFile | None = None
        self.legacy: list[str] = []
        if path.is_dir():
            self.kind = "folder"
            self.files = {p.name: p for p in path.iterdir() if p.is_file()}
            return
        self.kind = "zip"
        try:
            self.zip = zipfile.ZipFile(path)
            infos = [i for i in self.zip.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX")]
        except (*_ZIP_ERRORS, OSError) as e:
            raise DataError(str(path), f"not a readable zip archive (truncated or corrupt download?): {e}") from None
        self.files = {}
        for info in sorted(infos, key=lambda i: (Path(i.filename).parent.name != FOLDER, i.filename)):
            self.files.setdefault(Path(info.filename).name, info.filename)

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()

    def resolve(self, name: str) -> str:
        """The actual file name holding the release file `name` (current spelling preferred)."""
        if name in self.files:
            return name
        for old, new in LEGACY_FILE_NAMES.items():
            if new == name and old in self.files:
                self.legacy.append(old)
                return old
        olds = [old for old, new in LEGACY_FILE_NAMES.items() if new == name]
        also = f" (nor its legacy name {olds[0]})" if olds else ""
        raise DataError(self.where(name), f"missing file{also} in {self.path}")

    def where(self, name: str) -> str:
        """How messages name a file: the path, or zip:member."""
        if self.kind == "zip":
            return f"{self.path}:{self.files.get(name, f'{FOLDER}/{name}')}"
        return str(self.path / name)

    def open(self, name: str) -> BinaryIO | str:
        """A stream for pyarrow (a path string for folders, so pyarrow reads it natively)."""
        if self.zip is None:
            return str(self.files[name])
        return self.zip.open(self.files[name])

    def header(self, name: str) -> list[str]:
        try:
            stream = self.open(name)
            with open(stream, "rb") if isinstance(stream, str) else stream as f:
                line = f.readline(1 << 16)
        except _ZIP_ERRORS as e:
            raise DataError(str(self.path), f"corrupt zip archive while reading {self.files[name]}: {e}") from None
        text = line.decode("utf-8-sig", errors="replace").strip("\r\n")
        if not text.strip():
            raise DataError(self.where(name), "empty file: no header line")
        return [h.strip().strip('"').strip() for h in text.split(",")]


def _find_source(source: Path) -> Path:
    """KuaiLive.zip, a KuaiLive/ folder, or a folder holding either (or the files themselves)."""
    if not source.exists():
        raise DataError(str(source), "not found (give KuaiLive.zip, a KuaiLive/ folder, or a folder holding one)")
    if source.is_file():
        return source
    known = set(RAW_FILES) | set(LEGACY_FILE_NAMES)
    if any((source / n).is_file() for n in known):
        return source
    if (source / FOLDER).is_dir():
        return source / FOLDER
    if (source / ZIP_NAME).is_file():
        return source / ZIP_NAME
    raise DataError(str(source), f"holds neither {ZIP_NAME}, nor a {FOLDER}/ folder, nor the release's CSV files")


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


# --- reading one CSV -------------------------------------------------------------------------------
def _arrow_type(kind: str) -> pa.DataType:
    return pa.int64() if kind in ("int", "flag") else pa.string()


def _read_csv(src: _Source, raw: RawFile) -> pa.Table:
    """One release CSV with explicit types, columns renamed to the current spelling, ints checked non-empty."""
    name = src.resolve(raw.name)
    where = src.where(name)
    header = src.header(name)
    current = [LEGACY_COLUMNS.get(h, h) for h in header]
    for h in header:
        if h in LEGACY_COLUMNS:
            src.legacy.append(f"{name}:{h}")
    dup = sorted({c for c in current if current.count(c) > 1})
    if dup:
        raise DataError(where, "column appears twice in the header", column=dup[0])
    missing = [c for c in raw.column_names if c not in current]
    if missing:
        extra = [h for h, c in zip(header, current, strict=True) if c not in raw.column_names]
        hint = f"; the header has {extra} instead (renamed?)" if extra else ""
        raise DataError(where, f"column missing from the header{hint}; expected {', '.join(raw.column_names)}",
                        column=missing[0])
    spelled = {c: h for h, c in zip(header, current, strict=True)}
    types = {spelled[c]: _arrow_type(k) for c, k in raw.columns}
    read_opts = pacsv.ReadOptions(column_names=header, skip_rows=1, block_size=_BLOCK)
    convert = pacsv.ConvertOptions(column_types=types, include_columns=[spelled[c] for c in raw.column_names],
                                   strings_can_be_null=False)
    try:
        table = pacsv.read_csv(src.open(name), read_options=read_opts, convert_options=convert)
    except pa.ArrowInvalid as e:
        if "Empty CSV file" in str(e):  # header only, no final newline: zero rows
            table = pa.table({c: pa.array([], _arrow_type(k)) for c, k in raw.columns})
        else:
            raise _locate(src, name, raw, header, e) from None
    except _ZIP_ERRORS as e:
        raise DataError(str(src.path), f"corrupt zip archive while reading {src.files[name]}: {e}") from None
    table = table.rename_columns(raw.column_names)
    for col, kind in raw.columns:
        if kind == "int" and table[col].null_count:
            row = pc.index(pc.is_null(table[col]), True).as_py() + 1
            raise DataError(where, f"empty value where an integer is required (line {row + 1} of the file)",
                            column=col, row=row)
    return table


def _locate(src: _Source, name: str, raw: RawFile, header: list[str], err: Exception) -> DataError:
    """Turn pyarrow's error into a DataError naming file, column and 1-based data row (re-scanning to find it)."""
    where, msg = src.where(name), str(err)
    if "CSV parse error" in msg:
        detail = re.sub(r"^.*CSV parse error: (Row #\d+: )?", "", msg)
        line = _parse_error_line(src, name, header)
        if line is None:
            return DataError(where, f"unreadable row: {detail}")
        return DataError(where, f"unreadable row (line {line} of the file): {detail}", row=line - 1)
    m = re.search(r"In CSV column #(\d+): (.*)", msg)
    if m is None or int(m[1]) >= len(header):
        return DataError(where, f"unreadable: {msg}")
    col_file = header[int(m[1])]
    column = LEGACY_COLUMNS.get(col_file, col_file)
    kind = dict(raw.columns).get(column, "str")
    detail = m[2].replace("CSV conversion error to int64: invalid value", "not an integer:")
    row = _first_bad_value(src, name, header, col_file, kind)
    if row is None:
        return DataError(where, detail, column=column)
    return DataError(where, f"{detail} (line {row + 1} of the file)", column=column, row=row)


def _parse_error_line(src: _Source, name: str, header: list[str]) -> int | None:
    """Line number (header = line 1) of the first row the CSV parser rejects: a single-threaded re-read."""
    opts = pacsv.ReadOptions(column_names=header, skip_rows=1, use_threads=False, block_size=_BLOCK)
    convert = pacsv.ConvertOptions(column_types={h: pa.binary() for h in header})
    try:
        pacsv.read_csv(src.open(name), read_options=opts, convert_options=convert)
    except pa.ArrowInvalid as e:
        m = re.search(r"Row #(\d+)", str(e))
        return int(m[1]) if m else None
    return None


def _first_bad_value(src: _Source, name: str, header: list[str], col_file: str, kind: str) -> int | None:
    """1-based data row of the first value of `col_file` that does not convert to its kind."""
    opts = pacsv.ReadOptions(column_names=header, skip_rows=1, block_size=_BLOCK)
    convert = pacsv.ConvertOptions(column_types={col_file: pa.binary()}, include_columns=[col_file],
                                   strings_can_be_null=False)
    try:
        col = pacsv.read_csv(src.open(name), read_options=opts, convert_options=convert)[col_file]
    except (pa.ArrowInvalid, *_ZIP_ERRORS):
        return None
    if kind in ("int", "flag"):
        bad = pc.invert(pc.match_substring_regex(col, r"^\s*([+-]?\d{1,18})?\s*$"))
    else:
        enc = pc.dictionary_encode(col.combine_chunks())
        ok = np.array([_is_utf8(v) for v in enc.dictionary.to_pylist()], dtype=bool)
        bad = pa.array(~ok[enc.indices.to_numpy()])
    idx = pc.index(bad, True).as_py()
    return None if idx < 0 else idx + 1


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _write(table: pa.Table, path: Path) -> None:
    """Parquet with dictionary encoding only for string columns (it costs time and gains nothing on ids)."""
    strings = [f.name for f in table.schema if pa.types.is_string(f.type)]
    pq.write_table(table, path, use_dictionary=strings or False)


def _np(table: pa.Table, col: str) -> np.ndarray:
    return table[col].to_numpy()


def _sort_indices(columns: dict[str, np.ndarray]) -> np.ndarray:
    """Stable ascending sort on several keys, first key first (Arrow's multi-key sort: faster than lexsort)."""
    table = pa.table(columns)
    return pc.sort_indices(table, sort_keys=[(c, "ascending") for c in columns]).to_numpy()


def _unique(x: np.ndarray) -> np.ndarray:
    """Sorted distinct values (np.sort based: much faster than np.unique's hash path on millions of ids)."""
    s = np.sort(x)
    return s[np.r_[True, s[1:] != s[:-1]]] if s.size else s


# --- rooms -----------------------------------------------------------------------------------------
def build_rooms(room: pa.Table, n_titles: int | None, where: str) -> tuple[pa.Table, dict]:
    """Deduplicate room.csv on live_id: first p_date's streamer/type/category/title, min start, max end."""
    live, p_date = _np(room, "live_id"), _np(room, "p_date")
    order = _sort_indices({"live_id": live, "p_date": p_date})  # stable: equal (live_id, p_date) keep file order
    live_s = live[order]
    starts = np.flatnonzero(np.r_[True, live_s[1:] != live_s[:-1]]) if live.size else np.zeros(0, np.int64)
    first = order[starts]
    names = _np(room, "live_name_id")
    distinct_titles = _unique(names[names >= 0])
    if n_titles is not None and distinct_titles.size != n_titles:
        raise DataError(where, f"{n_titles} title embeddings but room.csv has {distinct_titles.size} distinct "
                               f"non-negative live_name_id values (row i must belong to the i-th smallest id)")
    first_name = names[first]
    title_row = pc.index_in(pa.array(first_name), value_set=pa.array(distinct_titles))
    title_row = title_row.fill_null(-1).to_numpy()

    def per_room(col: str, fn: np.ufunc) -> np.ndarray:
        return fn.reduceat(_np(room, col)[order], starts) if starts.size else np.zeros(0, np.int64)

    sid = _np(room, "streamer_id")
    n_rows = np.diff(np.r_[starts, live.size]).astype(np.int32)
    table = pa.table({
        "live_id": live_s[starts], "streamer_id": sid[first], "live_type": _np(room, "live_type")[first],
        "start_ts": per_room("start_timestamp", np.minimum), "end_ts": per_room("end_timestamp", np.maximum),
        "category": room["live_content_category"].take(pa.array(first)),
        "title_row": title_row.astype(np.int32), "n_rows": n_rows,
    })
    stats = {
        "rooms_distinct": int(starts.size), "room_rows": int(live.size),
        "rooms_multi_date": int((n_rows > 1).sum()),
        "rooms_title_changed": int((per_room("live_name_id", np.minimum)
                                    != per_room("live_name_id", np.maximum)).sum()),
        "rooms_streamer_changed": int((per_room("streamer_id", np.minimum)
                                       != per_room("streamer_id", np.maximum)).sum()),
        "rooms_without_title": int((title_row < 0).sum()), "titles_distinct": int(distinct_titles.size),
    }
    return table, stats


def _room_streamer(rooms: pa.Table, live_id: np.ndarray, own: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Streamer per row: the room table's when the room is known, else the row's own; (sid, known, n mismatch)."""
    pos = pc.index_in(pa.array(live_id), value_set=rooms["live_id"])  # a hash join: no random binary search
    known = pos.is_valid().to_numpy(zero_copy_only=False)
    room_sid = _np(rooms, "streamer_id")
    sid = own.copy()
    sid[known] = room_sid[pos.drop_null().to_numpy()]
    return sid, known, int((sid != own).sum())


# --- exposures and events --------------------------------------------------------------------------
def attribute(c_user: np.ndarray, c_live: np.ndarray, c_ts: np.ndarray,
              e_user: np.ndarray, e_live: np.ndarray, e_ts: np.ndarray) -> np.ndarray:
    """Index of the latest click of the same (user, live_id) at or before each event's ts, -1 when none.

    Clicks and events are sorted together on the composite key (user_id, live_id, ts, click before event);
    each event then takes the last click before it in that order (a running maximum of click positions)
    if that click is in the same (user, live_id) group. Among clicks tied on all three, the last one
    in the given order wins.
    """
    n_c, n_e = c_user.size, e_user.size
    if n_c == 0 or n_e == 0:
        return np.full(n_e, -1, np.int64)
    order = _sort_indices({"user_id": np.concatenate([c_user, e_user]), "live_id": np.concatenate([c_live, e_live]),
                           "ts": np.concatenate([c_ts, e_ts]),
                           "is_event": np.r_[np.zeros(n_c, np.int8), np.ones(n_e, np.int8)]})
    user_s, live_s = np.concatenate([c_user, e_user])[order], np.concatenate([c_live, e_live])[order]
    group = np.cumsum(np.r_[True, (user_s[1:] != user_s[:-1]) | (live_s[1:] != live_s[:-1])])
    is_click = order < n_c
    last_click = np.maximum.accumulate(np.where(is_click, np.arange(order.size), -1))
    ev_pos = np.flatnonzero(~is_click)
    prior = last_click[ev_pos]
    prior_c = np.maximum(prior, 0)
    ok = (prior >= 0) & (group[prior_c] == group[ev_pos])
    out = np.empty(n_e, np.int64)
    out[order[ev_pos] - n_c] = np.where(ok, order[prior_c], -1)
    return out


def build_exposures(clicks: pa.Table, negatives: pa.Table, rooms: pa.Table) -> tuple[dict[str, np.ndarray], dict]:
    """Clicks ∪ negatives in sample_id order (ts, user_id, live_id, click before negative)."""
    stats: dict = {"streamer_mismatch_by_file": {}, "without_room": {}}
    parts = {}
    for label, t in (("click.csv", clicks), ("negative.csv", negatives)):
        sid, known, mismatch = _room_streamer(rooms, _np(t, "live_id"), _np(t, "streamer_id"))
        stats["streamer_mismatch_by_file"][label] = mismatch
        stats["without_room"][label] = int((~known).sum())
        parts[label] = sid
    cat = {c: np.concatenate([_np(clicks, src), _np(negatives, src)])
           for c, src in (("user_id", "user_id"), ("live_id", "live_id"), ("ts", "timestamp"))}
    cat["streamer_id"] = np.concatenate([parts["click.csv"], parts["negative.csv"]])
    n_c, n = clicks.num_rows, clicks.num_rows + negatives.num_rows
    cat["click"] = np.r_[np.ones(n_c, np.int8), np.zeros(n - n_c, np.int8)]
    cat["watch_ms"] = np.r_[_np(clicks, "watch_live_time"), np.zeros(n - n_c, np.int64)]
    # Stable on (ts, user_id, live_id) with clicks concatenated first: ties put the click first.
    order = _sort_indices({c: cat[c] for c in ("ts", "user_id", "live_id")})
    ex = {"sample_id": np.arange(n, dtype=np.int64)}
    for c in ("user_id", "live_id", "streamer_id", "ts", "click", "watch_ms"):
        ex[c] = cat.pop(c)[order]
    ex["reveal_ts"] = ex["ts"] + np.maximum(ex["watch_ms"], 0)
    stats["negative_watch"] = int((ex["watch_ms"] < 0).sum())
    return ex, stats


def build_events(tables: dict[str, pa.Table], rooms: pa.Table, ex: dict[str, np.ndarray]) -> tuple[pa.Table, dict]:
    """Comment/like/gift rows with the click they belong to; adds per-click counts and value to `ex`."""
    kinds = [k for k in EVENT_KINDS]
    n_per = [tables[k].num_rows for k in kinds]
    kind_code = np.repeat(np.arange(len(kinds), dtype=np.int8), n_per)
    user = np.concatenate([_np(tables[k], "user_id") for k in kinds])
    live = np.concatenate([_np(tables[k], "live_id") for k in kinds])
    ts = np.concatenate([_np(tables[k], "timestamp") for k in kinds])
    own = np.concatenate([_np(tables[k], "streamer_id") for k in kinds])
    price = np.concatenate([_np(tables[k], "gift_price") if k == "gift" else np.zeros(tables[k].num_rows, np.int64)
                            for k in kinds])
    order = np.lexsort((live, user, ts))  # stable, kinds concatenated alphabetically: kind breaks ties
    user, live, ts, own, price, kind_code = (a[order] for a in (user, live, ts, own, price, kind_code))
    sid, known, mismatch = _room_streamer(rooms, live, own)

    click_pos = np.flatnonzero(ex["click"] == 1)
    idx = attribute(ex["user_id"][click_pos], ex["live_id"][click_pos], ex["ts"][click_pos], user, live, ts)
    ok = idx >= 0
    click_row = click_pos[np.maximum(idx, 0)]
    sample = np.where(ok, click_row, -1)  # sample_id == row position in exposures
    reveal = np.where(ok, np.maximum(ts, ex["reveal_ts"][click_row]), ts)
    # a session's outcome (its counts below) is whole only once its last event is known, which can be after
    # the session's own end (un-snapped events): its reveal time moves there
    np.maximum.at(ex["reveal_ts"], sample[ok], ts[ok])

    n = ex["sample_id"].size
    for i, k in enumerate(kinds):
        sel = ok & (kind_code == i)
        ex[f"n_{k}"] = np.bincount(sample[sel], minlength=n).astype(np.int32)
    value = np.zeros(n, np.int64)
    gift_ok = ok & (kind_code == kinds.index("gift"))
    np.add.at(value, sample[gift_ok], price[gift_ok])
    ex["gift_value"] = value

    table = pa.table({
        "kind": pa.array(np.array(kinds, dtype=object)[kind_code], pa.string()), "user_id": user, "live_id": live,
        "streamer_id": sid, "ts": ts, "gift_price": price, "click_sample_id": sample, "reveal_ts": reveal,
    })
    unattributed = {k: int((~ok & (kind_code == i)).sum()) for i, k in enumerate(kinds)}
    unattributed["total"] = int((~ok).sum())
    stats = {"unattributed": unattributed, "events_streamer_mismatch": mismatch,
             "events_without_room": int((~known).sum())}
    return table, stats


# --- profiles --------------------------------------------------------------------------------------
def build_profile(table: pa.Table, raw: RawFile, where: str) -> tuple[pa.Table, dict]:
    """One row per id (first occurrence, sorted): ranges -> int16 codes, dates -> int32 days, flags -> int8."""
    key = raw.columns[0][0]
    ids = _np(table, key)
    uniq, first = np.unique(ids, return_index=True)
    table = table.take(pa.array(first))
    cols: dict[str, pa.Array | np.ndarray] = {key: uniq}
    stats: dict = {"duplicates": int(ids.size - uniq.size), "malformed_ranges": {}, "missing_ranges": {},
                   "malformed_dates": {}, "missing_flags": {}, "range_bins": {}}
    for col, kind in raw.columns[1:]:
        values = table[col]
        if kind == "range":
            codes, bins, bad = encode_ranges(values)
            cols[col] = codes
            stats["range_bins"][col], stats["malformed_ranges"][col] = bins, bad
            stats["missing_ranges"][col] = int((codes == 0).sum()) - bad  # "UNKNOWN", empty: not recorded
        elif kind == "date":
            cols[col], stats["malformed_dates"][col] = encode_dates(values)
        elif kind == "flag":
            v = values.to_numpy(zero_copy_only=False)
            v = np.where(np.isnan(v), -1, v).astype(np.int64) if v.dtype.kind == "f" else v
            out_of_range = (v < -128) | (v > 127)
            if out_of_range.any():
                row = int(first[np.argmax(out_of_range)]) + 1
                raise DataError(where, f"flag value {int(v[np.argmax(out_of_range)])} does not fit a flag",
                                column=col, row=row)
            cols[col] = v.astype(np.int8)
            stats["missing_flags"][col] = int(values.null_count)
        else:
            cols[col] = values
    return pa.table(cols), stats


# --- title embeddings ------------------------------------------------------------------------------
def _load_embeddings(src: _Source) -> tuple[np.ndarray, str]:
    name = src.resolve(EMBEDDINGS_FILE)
    where = src.where(name)
    try:
        if src.zip is None:
            emb = np.load(src.files[name], mmap_mode="r", allow_pickle=False)
        else:
            with src.zip.open(src.files[name]) as f:
                emb = np.lib.format.read_array(f, allow_pickle=False)
    except _ZIP_ERRORS as e:
        raise DataError(str(src.path), f"corrupt zip archive while reading {src.files[name]}: {e}") from None
    except (ValueError, OSError) as e:
        raise DataError(where, f"not a readable .npy array: {e}") from None
    if emb.ndim != 2 or emb.shape[1] != EMBEDDING_DIM:
        raise DataError(where, f"expected a (n_titles, {EMBEDDING_DIM}) array, found shape {emb.shape}")
    if emb.dtype.kind != "f":
        raise DataError(where, f"expected floating-point embeddings, found dtype {emb.dtype}")
    return emb, where


# --- the stage -------------------------------------------------------------------------------------
def ingest(source: Path, out: Path, md5: str | None = None, quiet: bool = False) -> dict:
    """Read the release at `source` into data/processed/<dataset>/ (`out`) and return the ingest report."""
    source, out = Path(source), Path(out)
    path = _find_source(source)
    if md5 is not None:
        if path.is_dir():
            raise BenchmarkError(f"{path}: an md5 was given but the source is an unpacked folder; "
                                 f"the checksum applies to {ZIP_NAME}")
        log(quiet, f"ingest: checking md5 of {path}")
        got = _md5(path)
        if got.lower() != md5.strip().lower():
            raise BenchmarkError(f"{path}: md5 mismatch: expected {md5.strip().lower()}, got {got} "
                                 "(re-download it with `kuailive-bench fetch`)")
    src = _Source(path)
    try:
        with atomic_dir(out) as tmp:
            report = _ingest(src, tmp, quiet)
            report["source"] = {"path": str(path), "kind": src.kind, "md5": md5.strip().lower() if md5 else None}
            report["source_md5"] = report["source"]["md5"]
            report["schema"] = {"spelling": "legacy" if src.legacy else "current", "legacy_names": sorted(src.legacy)}
            (tmp / "ingest_report.json").write_text(json.dumps(report, indent=1))
    finally:
        src.close()
    log(quiet, f"ingest: wrote {out}")
    return report


def _ingest(src: _Source, tmp: Path, quiet: bool) -> dict:
    steps = ["title_embeddings.npy", "room.csv", "click.csv", "negative.csv", "exposures", "comment.csv",
             "like.csv", "gift.csv", "events", "user.csv", "streamer.csv"]
    bar = tqdm(total=len(steps), desc="ingest", unit="step", disable=quiet)

    def step(name: str) -> None:
        bar.set_postfix_str(name)

    def done() -> None:
        bar.update(1)

    report: dict = {"rows": {}}
    try:
        step("title_embeddings.npy")
        emb, emb_where = _load_embeddings(src)
        report["title_embeddings"] = {"rows": int(emb.shape[0]), "dim": int(emb.shape[1]), "dtype": str(emb.dtype)}
        done()

        step("room.csv")
        room = _read_csv(src, ROOM)
        report["rows"]["room.csv"] = room.num_rows
        rooms, room_stats = build_rooms(room, emb.shape[0], emb_where)
        del room
        report.update(room_stats)
        _write(rooms, tmp / "rooms.parquet")
        np.save(tmp / "titles.npy", np.asarray(emb, dtype=np.float32))
        del emb
        done()

        raw_tables = {}
        for raw in (CLICK, NEGATIVE):
            step(raw.name)
            raw_tables[raw.name] = _read_csv(src, raw)
            report["rows"][raw.name] = raw_tables[raw.name].num_rows
            done()
        step("exposures")
        ex, ex_stats = build_exposures(raw_tables.pop("click.csv"), raw_tables.pop("negative.csv"), rooms)
        report["streamer_mismatch"] = ex_stats["streamer_mismatch_by_file"]["click.csv"]
        report["clicks_without_room"] = ex_stats["without_room"]["click.csv"]
        report["negatives_without_room"] = ex_stats["without_room"]["negative.csv"]
        report["negative_watch"] = ex_stats["negative_watch"]
        done()

        events = {}
        for raw, kind in ((COMMENT, "comment"), (LIKE, "like"), (GIFT, "gift")):
            step(raw.name)
            events[kind] = _read_csv(src, raw)
            report["rows"][raw.name] = events[kind].num_rows
            done()
        step("events")
        ev_table, ev_stats = build_events(events, rooms, ex)
        del events
        report.update(ev_stats)
        mismatch = dict(ex_stats["streamer_mismatch_by_file"])
        mismatch["events"] = ev_stats["events_streamer_mismatch"]
        report["streamer_mismatch_by_file"] = mismatch
        _write(ev_table, tmp / "events.parquet")
        del ev_table
        columns = ["sample_id", "user_id", "live_id", "streamer_id", "ts", "click", "watch_ms", "reveal_ts",
                   "n_comment", "n_like", "n_gift", "gift_value"]
        _write(pa.table({c: ex.pop(c) for c in columns}), tmp / "exposures.parquet")
        report["exposures"] = {"rows": report["rows"]["click.csv"] + report["rows"]["negative.csv"],
                               "clicks": report["rows"]["click.csv"]}
        done()

        profile_stats = {}
        for raw, out_name in ((USER, "users.parquet"), (STREAMER, "streamers.parquet")):
            step(raw.name)
            table = _read_csv(src, raw)
            report["rows"][raw.name] = table.num_rows
            profile, profile_stats[raw.name] = build_profile(table, raw, src.where(src.resolve(raw.name)))
            _write(profile, tmp / out_name)
            done()
        by_col = {f"{f}:{c}": n for f, s in profile_stats.items() for c, n in s["malformed_ranges"].items()}
        report["malformed_ranges"] = {"total": sum(by_col.values()), "by_column": by_col}
        missing = {f"{f}:{c}": n for f, s in profile_stats.items() for c, n in s["missing_ranges"].items()}
        report["missing_ranges"] = {"total": sum(missing.values()), "by_column": missing}
        dates = {f"{f}:{c}": n for f, s in profile_stats.items() for c, n in s["malformed_dates"].items()}
        report["malformed_dates"] = {"total": sum(dates.values()), "by_column": dates}
        report["missing_flags"] = sum(n for s in profile_stats.values() for n in s["missing_flags"].values())
        report["profile_duplicates"] = {f: s["duplicates"] for f, s in profile_stats.items()}
        report["range_bins"] = {f"{f}:{c}": b for f, s in profile_stats.items() for c, b in s["range_bins"].items()}
    finally:
        bar.close()
    report["rows"] = {name: report["rows"][name] for name in RAW_FILES}
    return report
