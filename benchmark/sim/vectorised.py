"""Small vectorised helpers the simulator's stages share: clock hours, segment sums and positions, sorted
orders, ids."""

from __future__ import annotations

import numpy as np

from benchmark.sim.oracle import (
    T_BASE_MS,
    packed_argsort,
)

HOUR_MS = 3_600_000


def sample_hours(rng: np.random.Generator, profile, n: int, peaked: bool = True) -> np.ndarray:
    """Clock hours in [0, 24) from a wrapped-normal mixture profile (uniform when not peaked)."""
    if not peaked:
        return rng.random(n) * 24.0
    w = np.array([c[2] for c in profile])
    comp = rng.choice(len(profile), size=n, p=w / w.sum())
    centre = np.array([c[0] for c in profile])[comp]
    sd = np.array([c[1] for c in profile])[comp]
    return (centre + sd * rng.standard_normal(n)) % 24.0


def seg_exclusive_cumsum(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Within consecutive segments of the given lengths, the cumulative sum before each element."""
    cs = np.cumsum(values)
    first = np.cumsum(counts) - counts
    before = (cs - values)[first]
    return cs - values - np.repeat(before, counts)


def seg_positions(counts: np.ndarray, dtype: type = np.int64) -> np.ndarray:
    """0, 1, ..., k-1 within consecutive segments of the given lengths."""
    total = int(counts.sum())
    first = (np.cumsum(counts) - counts).astype(dtype)
    out = np.arange(total, dtype=dtype)
    out -= np.repeat(first, counts)
    return out


def sorted_positions(rng: np.random.Generator, m: np.ndarray) -> np.ndarray:
    """m[i] sorted uniform positions in (0, 1) for each segment i, concatenated: exponential spacings, no sort."""
    e = rng.exponential(size=int((m + 1).sum()))
    cs = np.cumsum(e)
    last = np.cumsum(m + 1) - 1
    first = last - m
    before = (cs - e)[first]
    total = cs[last] - before
    pos = (cs - np.repeat(before, m + 1)) / np.repeat(total, m + 1)
    is_last = np.zeros(e.size, dtype=bool)
    is_last[last] = True
    return pos[~is_last]


def running_max_prev(keys: np.ndarray) -> np.ndarray:
    """For each position, the max of keys strictly before it (int64 min for the first)."""
    out = np.empty_like(keys)
    out[0] = np.iinfo(np.int64).min
    if keys.size > 1:
        out[1:] = np.maximum.accumulate(keys[:-1])
    return out


def beta_with_mean(rng: np.random.Generator, mean: float, n: int, strength: float = 4.0) -> np.ndarray:
    mean = min(max(mean, 1e-3), 1 - 1e-3)
    return rng.beta(strength * mean, strength * (1 - mean), n)


def sparse_ids(rng: np.random.Generator, n: int, mean_gap: int = 2, base: int = 0) -> np.ndarray:
    """n distinct random-looking non-contiguous int64 ids (increasing gaps, then shuffled)."""
    vals = base + np.cumsum(rng.integers(1, 2 * mean_gap, size=n, dtype=np.int64))
    return vals[rng.permutation(n)]


def circ_hours(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs((a - b + 12.0) % 24.0 - 12.0)


def time_user_order(t: np.ndarray, user: np.ndarray) -> np.ndarray:
    """Permutation sorting by (t, user): a packed stable sort on t, then ties in t put in user order."""
    order = packed_argsort(t - T_BASE_MS)
    ts = t[order]
    tie = np.nonzero(ts[1:] == ts[:-1])[0]
    if tie.size:
        pos = np.unique(np.concatenate([tie, tie + 1]))
        sub = order[pos]
        order[pos] = sub[np.lexsort((user[sub], t[sub]))]
    return order
