"""A task's split as RecBole pre-split atomic files, every column from the shared feature store.

RecBole models thus see the same leakage-free inputs as every other model: the per-sample context of
`baselines.tabular` (known strictly before the sample's time), click histories ending strictly before
it, and the profile snapshot (switchable off). Floats are scaled here with statistics of the train
split only; RecBole's own normalise-all (min-max over train, valid and test together) stays off.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from baselines.tabular import tabular_features

TOKEN_FEATURES = ("hour", "dow", "peak", "live_type", "category", "title_missing")
PAD = "none"            # the history token of a user with no click before t (RecBole crashes on empty lists)
SPLIT_FILES = ("train", "valid", "test")


@dataclass
class TrainScaler:
    """log1p for wide non-negative columns, then z-score and clip, all fitted on the train split."""

    log_cols: list[str] = field(default_factory=list)
    mean: dict[str, float] = field(default_factory=dict)
    std: dict[str, float] = field(default_factory=dict)
    clip: float = 5.0

    def fit(self, frame: pd.DataFrame) -> TrainScaler:
        for c in frame.columns:
            x = frame[c].to_numpy(np.float64)
            if np.nanmin(x, initial=0.0) >= 0 and np.nanmax(x, initial=0.0) > 20:
                self.log_cols.append(c)
                x = np.log1p(x)
            self.mean[c] = float(np.nanmean(x)) if np.isfinite(x).any() else 0.0
            sd = float(np.nanstd(x)) if np.isfinite(x).any() else 0.0
            self.std[c] = sd if sd > 0 else 1.0
        return self

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = {}
        for c in self.mean:
            x = frame[c].to_numpy(np.float64)
            if c in self.log_cols:
                x = np.log1p(np.maximum(x, 0.0))
            z = np.nan_to_num((x - self.mean[c]) / self.std[c], nan=0.0)  # unknown = the train mean
            out[c] = np.clip(z, -self.clip, self.clip).astype(np.float32)
        return pd.DataFrame(out, index=frame.index)


def history_matrix(store, users: np.ndarray, ts: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Each sample's last `length` clicked streamers strictly before t, left-aligned oldest first
    (RecBole's layout; -1 pads), and how many there are."""
    h = store.history(users, ts, length)
    counts = h["valid"].sum(axis=1)
    idx = np.minimum((length - counts)[:, None] + np.arange(length)[None, :], length - 1)
    items = np.take_along_axis(h["streamer_id"], idx, axis=1)
    items[np.arange(length)[None, :] >= counts[:, None]] = -1
    return items, counts


def seq_tokens(items: np.ndarray, counts: np.ndarray) -> pa.Array:
    """Space-joined token strings of a left-aligned item matrix, PAD for an empty history."""
    flat = items[np.arange(items.shape[1])[None, :] < counts[:, None]]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    arr = pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat).cast(pa.string()))
    joined = pc.binary_join(arr, " ")
    return pc.if_else(pc.equal(pc.utf8_length(joined), 0), PAD, joined)


def context_frame(table: pd.DataFrame, store) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(tokens, floats) per sample: ids and categorical context, numeric context before t."""
    feats = tabular_features(table, store, use_profiles=False)
    tokens = pd.DataFrame({"user_id": table["user_id"].to_numpy(), "item_id": table["streamer_id"].to_numpy()})
    for c in TOKEN_FEATURES:
        tokens[c] = feats[c].to_numpy().astype(np.int64)
    floats = feats.drop(columns=[*TOKEN_FEATURES, "room_known"])
    return tokens, floats


def profile_frame(store, kind: str, ids: np.ndarray) -> pd.DataFrame:
    """Profile codes of users or streamers as tokens (the 2025-05-25 snapshot; missing -> 'unk')."""
    prof = (store.user_profile if kind == "user" else store.streamer_profile)(ids)
    key = "user_id" if kind == "user" else "item_id"
    out = {key: np.asarray(ids)}
    known = prof["known"].to_numpy()
    for c in prof.column_names:
        if c in ("user_id", "streamer_id", "known"):
            continue
        v = prof[c].to_numpy(zero_copy_only=False).astype(str)
        out[f"{kind}_{c}"] = np.where(known, v, "unk")
    return pd.DataFrame(out)


def write_atomic(path: Path, columns: dict[str, tuple[str, object]]) -> None:
    """One tab-separated atomic file with typed headers: columns = name -> (type, values)."""
    arrays, names = [], []
    for name, (kind, values) in columns.items():
        arr = values if isinstance(values, pa.Array) else pa.array(np.asarray(values))
        if kind in ("token", "token_seq") and arr.type != pa.string():
            arr = arr.cast(pa.string())
        arrays.append(arr)
        names.append(f"{name}:{kind}")
    table = pa.Table.from_arrays(arrays, names=names)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:  # pyarrow quotes header names; RecBole reads them verbatim
        f.write(("\t".join(names) + "\n").encode())
        pacsv.write_csv(table, f, pacsv.WriteOptions(delimiter="\t", quoting_style="none", include_header=False))
