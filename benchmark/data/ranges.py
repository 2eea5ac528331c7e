"""Profile encoders: KuaiLive's binned range strings to ordinal codes, YYYY-MM-DD strings to day numbers.

Both work on the distinct values only (a few dozen per column) and map the codes back to the rows,
so a 450k-row profile column costs one hash or sort, not a Python loop over rows.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Values that mean "not recorded" rather than "malformed": coded as missing and not counted.
MISSING_TOKENS = frozenset({"", "unknown", "null", "none", "nan", "na", "n/a", "-", "\\n"})

_CLOSED = re.compile(r"^(\d+)\s*-\s*(\d+)$")
_OPEN = re.compile(r"^(\d+)\s*\+$")
_POINT = re.compile(r"^(\d+)$")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_EPOCH = dt.date(1970, 1, 1)


def _distinct(values: Iterable[str | None] | np.ndarray | pa.Array | pa.ChunkedArray) -> tuple[list, np.ndarray]:
    """(distinct values, index of each row's value in them); None for a null value."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        if pa.types.is_dictionary(values.type):
            values = values.dictionary_decode()
        enc = pc.dictionary_encode(values, null_encoding="encode")
        return enc.dictionary.to_pylist(), enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=object)
    if arr.size == 0:
        return [], np.zeros(0, np.int64)
    arr = np.where(np.equal(arr, None), "", arr).astype(str)
    uniq, inverse = np.unique(arr, return_inverse=True)
    return uniq.tolist(), inverse.reshape(-1).astype(np.int64)


def _is_missing(value: str | None) -> bool:
    return value is None or value.strip().lower() in MISSING_TOKENS


def parse_range(value: str) -> tuple[int, int, int] | None:
    """Sort key (lower bound, shape, upper bound) of one bin; shape 0 = bare point, 1 = closed, 2 = open "N+".

    None when the value is not a bin (malformed). A bare number such as "0" is its own point bin.
    """
    s = value.strip()
    if m := _POINT.match(s):
        return int(m[1]), 0, int(m[1])
    if m := _CLOSED.match(s):
        lo, hi = int(m[1]), int(m[2])
        return (lo, 1, hi) if lo <= hi else None
    if m := _OPEN.match(s):
        return int(m[1]), 2, 0
    return None


def encode_ranges(values) -> tuple[np.ndarray, list[str], int]:
    """Binned range strings -> int16 ordinal codes, 1.. in order of the bin's lower bound, 0 = missing/malformed.

    Ties on the lower bound: a bare point ("0") first, then closed bins by upper bound, then the open "N+" bin.
    Returns (codes, the bins in code order, number of malformed non-missing values).
    """
    distinct, index = _distinct(values)
    keys: dict[str, tuple[int, int, int]] = {}
    bad = np.zeros(len(distinct) + 1, dtype=bool)
    for i, v in enumerate(distinct):
        if _is_missing(v):
            continue
        key = parse_range(v)
        if key is None:
            bad[i] = True
        else:
            keys[v.strip()] = key
    bins = sorted(keys, key=lambda b: keys[b])
    if len(bins) > np.iinfo(np.int16).max:
        raise ValueError(f"{len(bins)} distinct bins do not fit an int16 code")
    code_of = {b: i + 1 for i, b in enumerate(bins)}
    lut = np.zeros(len(distinct) + 1, dtype=np.int16)
    for i, v in enumerate(distinct):
        if v is not None:
            lut[i] = code_of.get(v.strip(), 0)
    index = np.where(index < 0, len(distinct), index)
    return lut[index], bins, int(bad[index].sum())


def parse_date(value: str) -> int | None:
    """Days since 1970-01-01 of a YYYY-MM-DD string, None when it is not a real date in that format."""
    m = _DATE.match(value.strip())
    if m is None:
        return None
    try:
        return (dt.date(int(m[1]), int(m[2]), int(m[3])) - _EPOCH).days
    except ValueError:
        return None


def encode_dates(values) -> tuple[np.ndarray, int]:
    """YYYY-MM-DD strings -> int32 days since 1970-01-01, -1 for missing or malformed; also the malformed count."""
    distinct, index = _distinct(values)
    lut = np.full(len(distinct) + 1, -1, dtype=np.int32)
    bad = np.zeros(len(distinct) + 1, dtype=bool)
    for i, v in enumerate(distinct):
        if _is_missing(v):
            continue
        day = parse_date(v)
        if day is None:
            bad[i] = True
        else:
            lut[i] = day
    index = np.where(index < 0, len(distinct), index)
    return lut[index], int(bad[index].sum())
