"""The one fixed temporal split: train / valid / test by absolute Asia/Shanghai day.

Every task derives its samples from this assignment, so no task can split differently. The manifest
records boundaries, row counts, content hashes and a statistics card per split (spec §3).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmark.data.schema import DAY_MS, TZ_OFFSET_MS
from benchmark.errors import BenchmarkError
from benchmark.io import atomic_dir, log
from benchmark.params import FeatureParams, SplitParams

SPLITS = ("train", "valid", "test")
SPLIT_CODE = {name: i for i, name in enumerate(SPLITS)}


def day_index(ts_ms: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 in Asia/Shanghai (fixed +08:00, no DST since 1991)."""
    return (np.asarray(ts_ms, dtype=np.int64) + TZ_OFFSET_MS) // DAY_MS


def _day_of(date: str | dt.date) -> int:
    d = date if isinstance(date, dt.date) else dt.date.fromisoformat(str(date))
    return (d - dt.date(1970, 1, 1)).days


def boundaries_ms(split: SplitParams | Mapping) -> dict[str, tuple[int, int]]:
    """Each split's [start, end) in epoch ms, from inclusive day ranges in params; checks order and overlap."""
    split_params = vars(split) if isinstance(split, SplitParams) else split
    if split_params.get("timezone", SplitParams.timezone) != "Asia/Shanghai":
        raise BenchmarkError("params.yaml: split.timezone must be Asia/Shanghai (KuaiLive's day boundaries)")
    out = {}
    for name in SPLITS:
        try:
            first, last = split_params[name]
        except (KeyError, TypeError, ValueError):
            raise BenchmarkError(f"params.yaml: split.{name} must be [first_day, last_day]") from None
        lo, hi = _day_of(first), _day_of(last) + 1
        if hi <= lo:
            raise BenchmarkError(f"params.yaml: split.{name} ends before it starts ({first} .. {last})")
        out[name] = (lo * DAY_MS - TZ_OFFSET_MS, hi * DAY_MS - TZ_OFFSET_MS)
    if not (out["train"][1] <= out["valid"][0] and out["valid"][1] <= out["test"][0]):
        raise BenchmarkError("params.yaml: split ranges must be in order train < valid < test and not overlap")
    return out


def assign(ts_ms: np.ndarray, bounds: dict[str, tuple[int, int]]) -> np.ndarray:
    """Split code per timestamp (0 train, 1 valid, 2 test, -1 outside every range)."""
    ts = np.asarray(ts_ms, dtype=np.int64)
    code = np.full(ts.shape, -1, dtype=np.int8)
    for name, (lo, hi) in bounds.items():
        code[(ts >= lo) & (ts < hi)] = SPLIT_CODE[name]
    return code


ID_COLUMNS = ("user_id", "streamer_id", "live_id")


def array_hash(*arrays: np.ndarray) -> str:
    """sha256 over the raw bytes of the given arrays (content hash independent of file encoding)."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str(a.dtype).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def dense_codes(ex: dict[str, np.ndarray], cols: tuple[str, ...] = ID_COLUMNS) -> dict[str, np.ndarray]:
    """Dense 0..k-1 codes of each id column: one sort per column, then every count is a bincount."""
    return {c: np.unique(ex[c], return_inverse=True)[1].ravel() for c in cols}


def _card(ex: dict[str, np.ndarray], codes: dict[str, np.ndarray], mask: np.ndarray, train: np.ndarray,
          long_view_ms: int) -> dict:
    """Statistics card of one split: sizes, label prevalence per task, share unseen in train."""
    click = ex["click"][mask] == 1
    n = int(mask.sum())
    n_click = int(click.sum())

    def rate(x: np.ndarray, denom: int) -> float | None:
        return float(x.sum() / denom) if denom else None

    watch_s = ex["watch_ms"][mask][click] / 1000.0
    gift = ex["gift_value"][mask][click]
    present = {c: np.bincount(codes[c][mask], minlength=codes[c].max(initial=-1) + 1) > 0 for c in ID_COLUMNS}
    card = {
        "exposures": n,
        "clicks": n_click,
        "users": int(present["user_id"].sum()),
        "streamers": int(present["streamer_id"].sum()),
        "rooms": int(present["live_id"].sum()),
        "prevalence": {
            "ctr.click": rate(click, n),
            "multi_behavior.long_view": rate(ex["watch_ms"][mask] >= long_view_ms, n),
            "multi_behavior.like": rate(ex["n_like"][mask] > 0, n),
            "multi_behavior.comment": rate(ex["n_comment"][mask] > 0, n),
            "multi_behavior.gift": rate(ex["n_gift"][mask] > 0, n),
            "watch_time.mean_s": float(watch_s.mean()) if n_click else None,
            "watch_time.median_s": float(np.median(watch_s)) if n_click else None,
            "gift_price.share_positive": rate(gift > 0, n_click),
            "gift_price.mean": float(gift.mean()) if n_click else None,
        },
    }
    unseen = {}
    for col in ID_COLUMNS:
        in_train = np.bincount(codes[col][train], minlength=present[col].size) > 0
        distinct = int(present[col].sum())
        unseen[col.removesuffix("_id").replace("live", "room")] = {
            "distinct": float(1 - (present[col] & in_train).sum() / distinct) if distinct else None,
            "samples": float(1 - in_train[codes[col][mask]].mean()) if n else None,
        }
    card["unseen_in_train"] = unseen
    return card


PROTOCOL_SPLIT = SplitParams()  # the defaults of benchmark.params
COLUMNS = ["sample_id", "user_id", "live_id", "streamer_id", "ts", "click", "watch_ms",
           "n_comment", "n_like", "n_gift", "gift_value"]


def make_split(processed: Path, out: Path, split: SplitParams | Mapping = PROTOCOL_SPLIT,
               long_view_seconds: int = FeatureParams.long_view_seconds, quiet: bool = False) -> dict:
    """Assign every exposure to a split and write split.parquet + split_manifest.json into `out`."""
    split_params = vars(split) if isinstance(split, SplitParams) else split
    bounds = boundaries_ms(split_params)
    src = Path(processed) / "exposures.parquet"
    if not src.exists():
        raise BenchmarkError(f"{src}: not found (run `kuailive-bench ingest` first)")
    log(quiet, f"split: reading {src}")
    t = pq.read_table(src, columns=COLUMNS)
    ex = {c: t.column(c).to_numpy() for c in COLUMNS}
    code = assign(ex["ts"], bounds)
    train = code == 0
    manifest = {
        "timezone": "Asia/Shanghai",
        "boundaries": {
            name: {"first_day": str(split_params[name][0]), "last_day": str(split_params[name][1]),
                   "start_ms": lo, "end_ms": hi}
            for name, (lo, hi) in bounds.items()
        },
        "outside_window": int((code < 0).sum()),
        "source_hash": array_hash(ex["sample_id"], ex["user_id"], ex["live_id"], ex["ts"], ex["click"]),
        "splits": {},
    }
    codes = dense_codes(ex)
    for name in SPLITS:
        mask = code == SPLIT_CODE[name]
        entry = {"rows": int(mask.sum()), "hash": array_hash(ex["sample_id"][mask])}
        entry.update(_card(ex, codes, mask, train, long_view_seconds * 1000))
        manifest["splits"][name] = entry
        log(quiet, f"split: {name}: {entry['rows']:,} exposures, {entry['clicks']:,} clicks")
    keep = code >= 0
    table = pa.table({"sample_id": ex["sample_id"][keep], "split": code[keep]})
    with atomic_dir(Path(out)) as tmp:
        pq.write_table(table, tmp / "split.parquet")
        (tmp / "split_manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest
