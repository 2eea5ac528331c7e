"""Paired significance tests with the user as the unit (spec §7), vectorised over resamples.

Every test returns a `TestResult` (frozen dataclass: estimate, statistic, pvalue, ci, n, ...); the two
bootstrap functions return an `Interval` (estimate, low, high, ...). Resampling p-values are
(hits + 1)/(B + 1), two-sided, deterministic for a seed. docs/statistics.md explains each test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike
from scipy import sparse, stats

from benchmark import metrics as M
from benchmark.metrics import MetricInputError

__all__ = [
    "TestResult", "DeLongResult", "Interval", "paired_permutation_test", "paired_bootstrap_ci",
    "cluster_randomization_test", "cluster_bootstrap_ci", "holm", "benjamini_hochberg", "delong",
    "paired_t_test", "rank_normalise", "users_and_seeds_test", "per_user_two_level_test", "TwoLevelResult",
    "RANK_METRICS",
]

_CHUNK = 1 << 22           # elements per resampling block: bounds memory, fixed so results are seed-exact
_PAIR_USERS = 4096         # cluster bootstrap of AUC by user-pair counts up to this many users (128 MB)
_REL_TOL = 1e-9            # resample ties with the observed statistic count as hits (float noise)
_BYTE_BITS = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1, bitorder="little").astype(np.float64)


@dataclass(frozen=True)
class TestResult:
    """A two-sided test of "no difference": estimate = observed difference (a − b, in the metric's units),
    statistic = the test's statistic (the estimate itself for resampling tests, z or t otherwise)."""

    __test__ = False  # not a pytest test class

    estimate: float
    statistic: float
    pvalue: float
    ci: tuple[float, float] | None = None
    n: int = 0                      # units: users for the resampling tests, samples for DeLong
    n_resamples: int | None = None
    method: str = ""


@dataclass(frozen=True)
class DeLongResult(TestResult):
    """DeLong's test plus the two AUCs and the variance of their difference."""

    auc_a: float = float("nan")
    auc_b: float = float("nan")
    variance: float = float("nan")


@dataclass(frozen=True)
class Interval:
    """A percentile bootstrap interval of the difference a − b; `n_valid` resamples had a defined value."""

    estimate: float
    low: float
    high: float
    alpha: float
    n: int
    n_resamples: int
    n_valid: int
    method: str = ""
    se: float = float("nan")        # standard deviation of the valid resamples (ddof 1)
    interaction_a: float = 0.0      # cluster bootstrap of several runs: each side's run × user variance
    interaction_b: float = 0.0

    @property
    def ci(self) -> tuple[float, float]:
        return (self.low, self.high)


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------

def _paired(a: ArrayLike, b: ArrayLike, weights: ArrayLike | None, fn: str) -> tuple[np.ndarray, np.ndarray]:
    """(d = a − b, w) checked: same length, finite, weights >= 0 with a positive sum."""
    av = M._vec(a, "a", fn)
    bv = M._vec(b, "b", fn)
    M._same_length(fn, a=av, b=bv)
    if weights is None:
        return av - bv, np.ones(av.size)
    w = M._vec(weights, "weights", fn)
    M._same_length(fn, a=av, weights=w)
    if (w < 0).any() or w.sum() <= 0:
        raise MetricInputError(f"{fn}: weights must be >= 0 with a positive sum")
    return av - bv, w


def _n_resamples(b: int, fn: str) -> int:
    if int(b) != b or b < 1:
        raise MetricInputError(f"{fn}: n_resamples must be a positive integer, got {b!r}")
    return int(b)


def _alpha(alpha: float, fn: str) -> float:
    if not 0 < alpha < 1:
        raise MetricInputError(f"{fn}: alpha must lie in (0, 1), got {alpha!r}")
    return float(alpha)


def _pvalue(hits: int, b: int) -> float:
    return (hits + 1) / (b + 1)


def _percentile(fn: str, est: float, samples: np.ndarray, alpha: float, n: int, method: str) -> Interval:
    ok = samples[np.isfinite(samples)]
    if ok.size == 0:
        raise MetricInputError(f"{fn}: the statistic is undefined on every resample")
    lo, hi = np.quantile(ok, [alpha / 2, 1 - alpha / 2])
    se = float(np.std(ok, ddof=1)) if ok.size > 1 else float("nan")
    return Interval(float(est), float(lo), float(hi), alpha, n, samples.size, int(ok.size), method, se)


# ---------------------------------------------------------------------------------------------
# tests on per-user values
# ---------------------------------------------------------------------------------------------

def _sign_chunks(rng: np.random.Generator, n_units: int, bsz: int):
    """Random sign patterns for `bsz` resamples as little-endian bit rows (bit set = keep, clear = flip),
    in blocks of a size fixed by n_units, so every caller with the same seed sees the same patterns."""
    n_bytes = -(-n_units // 8)
    rows = max(1, _CHUNK // n_bytes)
    for start in range(0, bsz, rows):
        yield rng.integers(0, 256, size=(min(rows, bsz - start), n_bytes), dtype=np.uint8)


def _signflip_hits(v: np.ndarray, bsz: int, seed: int) -> int:
    """Resamples whose |Σ z·v| (z = ±1 per unit) reaches |Σ v|. Each Σ z·v is an exact float64 sum read
    from per-byte lookup tables (the sum of the values of 8 units for each of the 256 bit patterns)."""
    n_bytes = -(-v.size // 8)
    padded = np.zeros(n_bytes * 8)
    padded[: v.size] = v
    table = (padded.reshape(n_bytes, 8) @ _BYTE_BITS.T).ravel()
    offsets = np.arange(n_bytes, dtype=np.intp) * 256
    total = float(padded.sum())
    bar = abs(total) - _REL_TOL * float(np.abs(v).sum())
    hits = 0
    for chunk in _sign_chunks(np.random.default_rng(seed), v.size, bsz):
        idx = chunk.astype(np.intp)
        idx += offsets
        flipped = 2.0 * np.take(table, idx).sum(axis=1) - total   # Σ z·v with z = +1 on set bits
        hits += int(np.count_nonzero(np.abs(flipped) >= bar))
    return hits


def paired_permutation_test(a: ArrayLike, b: ArrayLike, n_resamples: int = 10000, seed: int = 0,
                            weights: ArrayLike | None = None) -> TestResult:
    """Weighted paired sign-flip test: two-sided p of the weighted mean of d = a − b being 0.

    Under H0 each user's d is symmetric about 0, so its sign is flipped at random; a resample hits when
    its |Σ ±w·d| reaches the observed |Σ w·d| (up to a 1e-9 relative float tolerance). 20,000 users ×
    10,000 resamples take a fraction of a second (byte lookup tables, see _signflip_hits).
    """
    fn = "paired_permutation_test"
    d, w = _paired(a, b, weights, fn)
    bsz = _n_resamples(n_resamples, fn)
    hits = _signflip_hits(w * d, bsz, seed)
    est = float(np.dot(w, d) / w.sum())
    return TestResult(est, est, _pvalue(hits, bsz), None, int(d.size), bsz, "weighted paired sign-flip")


def paired_bootstrap_ci(a: ArrayLike, b: ArrayLike, weights: ArrayLike | None = None, n_resamples: int = 10000,
                        seed: int = 0, alpha: float = 0.05) -> Interval:
    """Percentile interval of the weighted mean difference Σw(a − b)/Σw, resampling users with
    replacement."""
    fn = "paired_bootstrap_ci"
    d, w = _paired(a, b, weights, fn)
    bsz = _n_resamples(n_resamples, fn)
    alpha = _alpha(alpha, fn)
    v = w * d
    n = d.size
    rng = np.random.default_rng(seed)
    rows = max(1, _CHUNK // n)
    out = np.empty(bsz)
    for start in range(0, bsz, rows):
        m = min(rows, bsz - start)
        idx = rng.integers(0, n, size=(m, n))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start:start + m] = np.take(v, idx).sum(axis=1) / np.take(w, idx).sum(axis=1)
    return _percentile(fn, float(v.sum() / w.sum()), out, alpha, n, "paired user bootstrap")


def _weighted_mean_se(d: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted mean of d and its user-robust standard error sqrt(n/(n−1) · Σw²(d − d̄)²) / Σw."""
    n, sw = d.size, w.sum()
    mean = float(np.dot(w, d) / sw)
    return mean, float(np.sqrt(n / (n - 1) * np.sum((w * (d - mean)) ** 2)) / sw)


def paired_t_test(a: ArrayLike, b: ArrayLike, weights: ArrayLike | None = None, alpha: float = 0.05
                  ) -> TestResult:
    """Paired t-test of the weighted mean of d = a − b (cross-check). The standard error is the
    user-robust one, sqrt(n/(n−1) · Σw²(d − d̄)²) / Σw, which is s/√n without weights (= scipy's
    ttest_rel); n − 1 degrees of freedom."""
    fn = "paired_t_test"
    d, w = _paired(a, b, weights, fn)
    alpha = _alpha(alpha, fn)
    n = d.size
    if n < 2:
        raise MetricInputError(f"{fn}: needs at least 2 pairs, got {n}")
    mean, se = _weighted_mean_se(d, w)
    if se == 0:
        t, p = (0.0, 1.0) if mean == 0 else (float(np.copysign(np.inf, mean)), 0.0)
    else:
        t = mean / se
        p = float(2 * stats.t.sf(abs(t), n - 1))
    half = float(stats.t.ppf(1 - alpha / 2, n - 1)) * se
    return TestResult(mean, t, p, (mean - half, mean + half), n, None, "paired t-test")


# ---------------------------------------------------------------------------------------------
# tests on global metrics, users as clusters
# ---------------------------------------------------------------------------------------------

_METRICS = ("auc", "xauc", "normalized_gini", "logloss", "mae", "rmse_log1p", "spearman", "calibration_error")


def _metric(metric: str | Callable[[np.ndarray, np.ndarray], float], fn: str
            ) -> tuple[Callable[[np.ndarray, np.ndarray], float], str | None]:
    """(callable, fast-path name or None): auc, xauc, normalized_gini, logloss and mae have exact fast
    paths in the randomisation test; auc and normalized_gini also in the cluster bootstrap."""
    if isinstance(metric, str):
        if metric not in _METRICS:
            raise MetricInputError(f"{fn}: unknown metric '{metric}' (known: {', '.join(_METRICS)}; "
                                   "or pass a callable(labels, scores) -> float)")
        metric = getattr(M, metric)
    if not callable(metric):
        raise MetricInputError(f"{fn}: metric must be a name or a callable(labels, scores) -> float")
    fast = {M.auc: "auc", M.normalized_gini: "normalized_gini", M.xauc: "xauc", M.logloss: "logloss",
            M.mae: "mae"}.get(metric)
    return metric, fast


RANK_METRICS = ("auc", "xauc", "normalized_gini")   # depend on the scores' order alone


def rank_normalise(scores: ArrayLike) -> np.ndarray:
    """Mid-ranks of the scores over their count, in (0, 1]: the scores' order and ties on a scale every
    model shares, so swapping a user's scores between two models never compares raw scores of
    different scales. AUC, XAUC and normalized Gini are unchanged by it."""
    s = M._vec(scores, "scores", "rank_normalise")
    return M._midranks(s) / s.size


def _runs(x: ArrayLike, name: str, fn: str) -> np.ndarray:
    """One model's scores as a (runs, samples) float64 array; a 1-D array is one run."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MetricInputError(f"{fn}: {name} must be numeric, one row of scores per run ({exc})") from None
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise MetricInputError(f"{fn}: {name} must be 1-D (one run) or 2-D (runs × samples), got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        run, pos = np.unravel_index(int(np.argmax(bad)), arr.shape)
        raise MetricInputError(f"{fn}: {name} holds {int(bad.sum())} NaN or infinite value(s) "
                               f"(first in run {run} at position {pos})")
    return arr


def _cluster_inputs(labels: ArrayLike, scores_a: ArrayLike, scores_b: ArrayLike, groups: ArrayLike, fn: str
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """(labels, a runs, b runs, dense user codes 0..U-1, U) checked: same length, finite."""
    y = M._vec(labels, "labels", fn)
    a = _runs(scores_a, "scores_a", fn)
    b = _runs(scores_b, "scores_b", fn)
    codes, _ = M._groups(groups, fn)
    M._same_length(fn, labels=y, scores_a=a[0], scores_b=b[0], groups=codes)
    present = np.bincount(codes) > 0
    dense = (np.cumsum(present) - 1)[codes]
    return y, a, b, dense, int(present.sum())


def _run_mean(f: Callable[[np.ndarray, np.ndarray], float], y: np.ndarray, runs: np.ndarray) -> float:
    """The metric of each run, averaged over runs: the per-seed mean the leaderboard shows."""
    return float(np.mean([f(y, r) for r in runs]))


def _undefined(fn: str, what: str) -> MetricInputError:
    return MetricInputError(f"{fn}: the metric is undefined on {what} (e.g. AUC with one class)")


class _Sorted:
    """One model's samples sorted for the O(n) weighted AUC / Gini kernels of benchmark.metrics."""

    def __init__(self, kind: str, labels: np.ndarray, scores: np.ndarray, codes: np.ndarray):
        self.kind = kind
        order = np.argsort(-scores if kind == "normalized_gini" else scores)
        self.y = labels[order]
        self.codes = codes[order]
        self.starts = M._tie_starts(scores[order])

    def value(self, w: np.ndarray) -> np.ndarray:
        if self.kind == "auc":
            return M._auc_from_sorted(self.y, self.starts, w)
        return M._gini_from_sorted(self.y, self.starts, w)


def _joint_starts(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Start index of each run of equal (first, second) pairs in arrays sorted by (first, second)."""
    new = np.ones(first.size, dtype=bool)
    new[1:] = (first[1:] != first[:-1]) | (second[1:] != second[:-1])
    return np.flatnonzero(new)


def _k_auc(ps: np.ndarray, pt: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Per pooled copy: opposite-class copies it orders correctly (ties half); scale = 2·P·N."""
    order = np.argsort(ps)
    yy = pt[order]
    starts = M._tie_starts(ps[order])
    size = np.diff(np.append(starts, 2 * n))
    block = np.repeat(np.arange(starts.size), size)
    pos = np.add.reduceat(yy, starts)
    neg = size - pos
    n_pos = float(pt[:n].sum())
    neg_below = np.cumsum(neg) - neg
    pos_above = 2 * n_pos - np.cumsum(pos)
    k = np.where(yy == 1, neg_below[block] + 0.5 * neg[block], pos_above[block] + 0.5 * pos[block])
    return order, k, 2.0 * n_pos * (n - n_pos)


def _k_gini(ps: np.ndarray, pt: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Gini numerator = Σ_i t_i·(#{s_j < s_i} + ½#{j ≠ i: s_j = s_i}) + constants: per pooled copy, its
    share of those pairs from both ends; scale = 2 × the perfect order's numerator."""
    order = np.argsort(ps)
    tt = pt[order]
    starts = M._tie_starts(ps[order])
    size = np.diff(np.append(starts, 2 * n))
    block = np.repeat(np.arange(starts.size), size)
    tsum = np.add.reduceat(tt, starts)
    lower = (starts + 0.5 * (size - 1))[block]
    t_above = (tt.sum() - np.cumsum(tsum))[block]
    k = tt * lower + t_above + 0.5 * (tsum[block] - tt)
    perfect = np.sort(pt[:n])[::-1]
    return order, k, 2.0 * float(M._gini_from_sorted(perfect, M._tie_starts(perfect)))


def _k_xauc(ps: np.ndarray, pt: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Per pooled copy: copies with another target that it orders alike (score ties half), by a 2-D
    dominance count; scale = 2 × the pairs of samples with different targets."""
    order = np.lexsort((ps, pt))
    ts, ss = pt[order], ps[order]
    tstarts, jstarts = M._tie_starts(ts), _joint_starts(ts, ss)
    tsize, jsize = np.diff(np.append(tstarts, 2 * n)), np.diff(np.append(jstarts, 2 * n))
    t0, j0, jn = np.repeat(tstarts, tsize), np.repeat(jstarts, jsize), np.repeat(jsize, jsize)
    tend = t0 + np.repeat(tsize, tsize)
    dense = np.unique(ss, return_inverse=True)[1].ravel()
    smaller_before, greater_after = M._order_counts(dense)
    lower = smaller_before - (j0 - t0)          # t_f < t_e and s_f < s_e
    upper = greater_after - (tend - j0 - jn)    # t_f > t_e and s_f > s_e
    tied_s = np.bincount(dense)[dense] - jn     # s_f = s_e and t_f != t_e
    tk = np.diff(np.append(M._tie_starts(np.sort(pt[:n])), n))
    return order, lower + upper + 0.5 * tied_s, 2.0 * (n * (n - 1) // 2 - int((tk * (tk - 1) // 2).sum()))


def _sample_losses(kind: str, y: np.ndarray, s: np.ndarray) -> np.ndarray:
    if kind == "mae":
        return np.abs(y - s)
    p = np.clip(s, 1e-7, 1 - 1e-7)   # as benchmark.metrics.logloss's default eps
    return -(y * np.log(p) + (1.0 - y) * np.log1p(-p))


def _swap_contributions(kind: str, y: np.ndarray, a: np.ndarray, b: np.ndarray, codes: np.ndarray,
                        n_users: int) -> np.ndarray:
    """c with metric(y, view) − metric(y, other view) = Σ_u z_u·c_u, where z_u = −1 swaps user u's scores.

    LogLoss and MAE are means over samples, so this holds trivially. AUC, XAUC and the Gini numerator
    are sums over pairs of samples with a constant denominator, and each view holds one of a sample's
    two scored copies: with x = +z for the copy scored by a and −z for b's, [copies e, f both in view a]
    − [both in view b] = (x_e + x_f)/2, so the quadratic terms cancel and the difference is linear in z.
    """
    n = y.size
    if kind in ("logloss", "mae"):
        diff = _sample_losses(kind, y, a) - _sample_losses(kind, y, b)
        return np.bincount(codes, weights=diff, minlength=n_users) / n
    k_of = {"auc": _k_auc, "normalized_gini": _k_gini, "xauc": _k_xauc}[kind]
    order, k, scale = k_of(np.concatenate([a, b]), np.concatenate([y, y]), n)
    sigma = np.where(order < n, 1.0, -1.0)
    return np.bincount(codes[order % n], weights=sigma * k, minlength=n_users) / scale


def _auc_pair_counts(y: np.ndarray, s: np.ndarray, codes: np.ndarray, n_users: int) -> np.ndarray:
    """K with K[u, v] = 2 × #(positive of u, negative of v) pairs ordered correctly (ties count 1), so the
    AUC numerator under user multiplicities w is wᵀKw / 2. Integer-valued float64: every product and sum
    of it is exact, and the bootstrap equals the per-sample path bit for bit."""
    pos_s = np.unique(s[y == 1])                      # the distinct positive scores: K's inner index
    neg_user, neg_s = codes[y == 0], s[y == 0]
    out, below = np.zeros((n_users, n_users)), np.zeros(n_users)
    if pos_s.size == 0:
        return out
    first = np.searchsorted(pos_s, neg_s, side="right")  # positive scores from here on lie strictly above
    tie = np.where((first > 0) & (pos_s[np.maximum(first - 1, 0)] == neg_s), first - 1, -1)
    pos_user, pos_col = codes[y == 1], np.searchsorted(pos_s, s[y == 1])
    width = max(1, _CHUNK // n_users)
    for k0 in range(0, pos_s.size, width):
        k1 = min(k0 + width, pos_s.size)
        # ct[k, v] = 2·#negatives of v strictly below positive score k + #negatives of v tied with it
        m = (first >= k0) & (first < k1)
        ct = np.bincount((first[m] - k0) * n_users + neg_user[m], minlength=(k1 - k0) * n_users)
        ct = np.cumsum(ct.reshape(k1 - k0, n_users), axis=0, dtype=np.float64)
        ct += below
        below = ct[-1].copy()
        ct *= 2.0
        t = (tie >= k0) & (tie < k1)
        ct += np.bincount((tie[t] - k0) * n_users + neg_user[t], minlength=(k1 - k0) * n_users
                          ).reshape(k1 - k0, n_users)
        p = (pos_col >= k0) & (pos_col < k1)
        counts = sparse.csr_matrix((np.ones(int(p.sum())), (pos_user[p], pos_col[p] - k0)),
                                   shape=(n_users, k1 - k0))
        out += counts @ ct
    return out


def cluster_randomization_test(labels: ArrayLike, scores_a: ArrayLike, scores_b: ArrayLike, groups: ArrayLike,
                               metric: str | Callable[[np.ndarray, np.ndarray], float],
                               n_resamples: int = 1000, seed: int = 0, rank_normalised: bool | None = None
                               ) -> TestResult:
    """User-cluster randomisation test of a global metric: each resample swaps the two models' scores
    for every user of a random half (each user independently with probability 1/2) and recomputes
    metric(labels, ·a) − metric(labels, ·b); two-sided p = (hits + 1)/(B + 1).

    scores_a / scores_b are one run (1-D) or several (runs × samples, one row per seed): the statistic
    is then the per-run metric averaged over runs, mean_s metric(a_s) − mean_t metric(b_t), and a swap
    acts on every pair (a_s, b_t) at once. `rank_normalised` (default: True for auc, xauc and
    normalized_gini) replaces each run's scores by `rank_normalise` first, so a swap never mixes score
    scales; LogLoss and MAE keep their values. `metric` is a name in benchmark.metrics or a
    callable(labels, scores) -> float. For auc, xauc, normalized_gini, logloss and mae the recomputed
    difference is exactly linear in the swaps (see _swap_contributions), so B resamples cost one sort
    per pair of runs plus a sign-flip pass; other metrics are recomputed in full per resample. Both
    paths draw the same swaps for a seed, so they give the same p-value.
    """
    fn = "cluster_randomization_test"
    f, fast = _metric(metric, fn)
    y, a, b, codes, n_users = _cluster_inputs(labels, scores_a, scores_b, groups, fn)
    bsz = _n_resamples(n_resamples, fn)
    if rank_normalised is None:
        rank_normalised = fast in RANK_METRICS
    if rank_normalised:
        a = np.stack([rank_normalise(r) for r in a])
        b = np.stack([rank_normalise(r) for r in b])
    obs = _run_mean(f, y, a) - _run_mean(f, y, b)
    if not np.isfinite(obs):
        raise _undefined(fn, "these labels")
    pairs = [(ra, rb) for ra in a for rb in b]
    if fast:
        c = sum(_swap_contributions(fast, y, ra, rb, codes, n_users) for ra, rb in pairs) / len(pairs)
        hits = _signflip_hits(c, bsz, seed)
    else:
        diffs = []
        for chunk in _sign_chunks(np.random.default_rng(seed), n_users, bsz):
            keep = np.unpackbits(chunk, axis=1, count=n_users, bitorder="little").astype(bool)
            for row in keep:
                swap = ~row[codes]
                diffs.append(np.mean([f(y, np.where(swap, rb, ra)) - f(y, np.where(swap, ra, rb))
                                      for ra, rb in pairs]))
        stats_ = np.asarray(diffs)
        if not np.isfinite(stats_).all():
            raise _undefined(fn, "one of the randomisations")
        hits = int(np.count_nonzero(np.abs(stats_) >= abs(obs) * (1 - _REL_TOL) - 1e-13))
    method = "user-cluster randomisation" + (" (rank-normalised)" if rank_normalised else "")
    return TestResult(obs, obs, _pvalue(hits, bsz), None, n_users, bsz, method)


class _BootModel:
    """One model's runs, prepared to give each run's metric under many user multiplicities."""

    def __init__(self, kind: str | None, f: Callable, y: np.ndarray, runs: np.ndarray, codes: np.ndarray,
                 n_users: int):
        self.kind, self.f, self.y, self.runs, self.codes = kind, f, y, runs, codes
        if kind in ("logloss", "mae"):   # a ratio of per-user sums: exact with user multiplicities
            self.per_user = np.stack([np.bincount(codes, weights=_sample_losses(kind, y, r), minlength=n_users)
                                      for r in runs])
            self.size = np.bincount(codes, minlength=n_users).astype(np.float64)
        elif kind == "auc" and n_users <= _PAIR_USERS:   # AUC = wᵀKw / (w·P)(w·N)
            self.k2 = [_auc_pair_counts(y, r, codes, n_users) for r in runs]
            self.pos = np.bincount(codes, weights=y, minlength=n_users)
            self.neg = np.bincount(codes, minlength=n_users) - self.pos
        elif kind in ("auc", "normalized_gini"):
            self.sorted = [_Sorted(kind, y, r, codes) for r in runs]

    def rows(self, n_users: int) -> int:
        """Resamples per block that keep the block's arrays near _CHUNK elements."""
        if hasattr(self, "sorted"):
            return max(1, _CHUNK // (4 * self.y.size))
        return max(1, _CHUNK // n_users)

    def values(self, mult: np.ndarray) -> np.ndarray:
        """Each run's metric (columns) for each row of user multiplicities (NaN where undefined);
        normalized Gini gives its numerator, which the caller divides by the perfect order's."""
        with np.errstate(invalid="ignore", divide="ignore"):
            if hasattr(self, "per_user"):
                return (mult @ self.per_user.T) / (mult @ self.size)[:, None]
            if hasattr(self, "k2"):
                pairs = (mult @ self.pos) * (mult @ self.neg)
                return np.stack([0.5 * ((mult @ k) * mult).sum(axis=1) / pairs for k in self.k2], axis=1)
            if hasattr(self, "sorted"):
                return np.stack([s.value(mult[:, s.codes]) for s in self.sorted], axis=1)
            idx = np.arange(self.y.size)
            out = np.empty((mult.shape[0], len(self.runs)))
            for i, m in enumerate(mult):
                rep = np.repeat(idx, m.astype(np.int64)[self.codes])
                out[i] = [self.f(self.y[rep], r[rep]) for r in self.runs]
            return out


def _interaction(values: np.ndarray) -> float:
    """The run × user part of one run's metric: the user-sampling variance of a run's metric around its
    model's run mean, averaged over runs and scaled by k/(k − 1) (0 for a single run)."""
    k = values.shape[1]
    if k < 2:
        return 0.0
    dev = values - values.mean(axis=1, keepdims=True)
    ok = np.isfinite(dev).all(axis=1)
    if ok.sum() < 2:
        return 0.0
    return float(k / (k - 1) * np.var(dev[ok], axis=0, ddof=1).mean())


def cluster_bootstrap_ci(labels: ArrayLike, scores_a: ArrayLike, scores_b: ArrayLike, groups: ArrayLike,
                         metric: str | Callable[[np.ndarray, np.ndarray], float], n_resamples: int = 1000,
                         seed: int = 0, alpha: float = 0.05) -> Interval:
    """Percentile interval (and standard error, `se`) of metric(labels, a) − metric(labels, b),
    resampling users with replacement (a user drawn k times contributes all its samples k times).

    scores_a / scores_b are one run (1-D) or several (runs × samples): the statistic is then the
    per-run metric averaged over runs, the same users drawn for every run, and `interaction_a/_b` hold
    each side's run × user variance (see users_and_seeds_test). auc with up to _PAIR_USERS users is a
    quadratic form in the user multiplicities (_auc_pair_counts); otherwise auc and normalized_gini use
    integer sample weights on one sort per run (exact, O(n) per resample), logloss and mae per-user
    sums; other metrics are recomputed on the repeated samples."""
    fn = "cluster_bootstrap_ci"
    f, fast = _metric(metric, fn)
    y, a, b, codes, n_users = _cluster_inputs(labels, scores_a, scores_b, groups, fn)
    bsz = _n_resamples(n_resamples, fn)
    alpha = _alpha(alpha, fn)
    rng = np.random.default_rng(seed)
    obs = _run_mean(f, y, a) - _run_mean(f, y, b)
    kind = fast if fast in ("logloss", "mae", "auc", "normalized_gini") else None
    ma, mb = _BootModel(kind, f, y, a, codes, n_users), _BootModel(kind, f, y, b, codes, n_users)
    perfect = _Sorted(kind, y, y, codes) if kind == "normalized_gini" else None
    rows = ma.rows(n_users)
    va, vb = np.empty((bsz, a.shape[0])), np.empty((bsz, b.shape[0]))
    for start in range(0, bsz, rows):
        m = min(rows, bsz - start)
        mult = np.stack([np.bincount(rng.integers(0, n_users, n_users), minlength=n_users).astype(np.float64)
                         for _ in range(m)])
        va[start:start + m], vb[start:start + m] = ma.values(mult), mb.values(mult)
        if perfect is not None:
            with np.errstate(invalid="ignore", divide="ignore"):
                scale = perfect.value(mult[:, perfect.codes])[:, None]
                va[start:start + m] /= scale
                vb[start:start + m] /= scale
    if not np.isfinite(obs):
        raise _undefined(fn, "these labels")
    iv = _percentile(fn, obs, va.mean(axis=1) - vb.mean(axis=1), alpha, n_users, "user-cluster bootstrap")
    return replace(iv, interaction_a=_interaction(va), interaction_b=_interaction(vb))


@dataclass(frozen=True)
class TwoLevelResult(TestResult):
    """`users_and_seeds_test`: the two variance components of the difference, the test's df and each
    side's per-run metric values (whose means give the estimate)."""

    se_users: float = float("nan")
    se_seeds: float = float("nan")
    df: float = float("nan")
    runs_a: tuple[float, ...] = ()
    runs_b: tuple[float, ...] = ()


def users_and_seeds_test(runs_a: ArrayLike, runs_b: ArrayLike, se_users: float, n_users: int,
                         alpha: float = 0.05, interaction_a: float = 0.0, interaction_b: float = 0.0
                         ) -> TwoLevelResult:
    """Two-level test of Δ = mean(runs_a) − mean(runs_b), where runs_a / runs_b hold each model's metric
    per seed on the whole test split (one value for a deterministic model).

    Users and seeds are crossed random factors: a run's metric = the model's mean + a run effect (the
    retraining) + a run × user part (which users a seed happens to serve well). se_users² (the user
    bootstrap variance of Δ) already holds the run × user part, so the seed term of each side is the
    method-of-moments run effect max(s² − interaction, 0)/k, with s² the variance of its k per-seed
    values and `interaction` its run × user variance (nothing for a single run). t = Δ / SE with
    SE² = se_users² + both seed terms and Welch–Satterthwaite degrees of freedom (n_users − 1 for the
    user term, k − 1 for a seed term): seeds are a source of variance like the data (Bouthillier et al.,
    2021). p and the (1 − alpha) interval Δ ± t_df·SE come from the same t, so p < alpha exactly when
    the interval excludes 0."""
    fn = "users_and_seeds_test"
    ra, rb = M._vec(runs_a, "runs_a", fn), M._vec(runs_b, "runs_b", fn)
    alpha = _alpha(alpha, fn)
    for name, v in (("se_users", se_users), ("interaction_a", interaction_a), ("interaction_b", interaction_b)):
        if not (np.isfinite(v) and v >= 0):
            raise MetricInputError(f"{fn}: {name} must be finite and >= 0, got {v!r}")
    if n_users < 2:
        raise MetricInputError(f"{fn}: needs at least 2 users, got {n_users}")
    est = float(ra.mean() - rb.mean())
    parts = [(float(se_users) ** 2, n_users - 1)]
    for r, inter in ((ra, interaction_a), (rb, interaction_b)):
        if r.size > 1:
            parts.append((max(float(np.var(r, ddof=1)) - float(inter), 0.0) / r.size, r.size - 1))
    var = sum(v for v, _ in parts)
    se_seeds = float(np.sqrt(sum(v for v, _ in parts[1:])))
    denom = sum(v * v / df for v, df in parts if v > 0)
    df = var * var / denom if denom > 0 else float(n_users - 1)
    se = float(np.sqrt(var))
    if se == 0:
        t, p, half = (0.0, 1.0, 0.0) if est == 0 else (float(np.copysign(np.inf, est)), 0.0, 0.0)
    else:
        t = est / se
        p = float(2 * stats.t.sf(abs(t), df))
        half = float(stats.t.ppf(1 - alpha / 2, df)) * se
    return TwoLevelResult(est, t, p, (est - half, est + half), int(n_users), None, "users and seeds t-test",
                          float(se_users), se_seeds, float(df), tuple(map(float, ra)), tuple(map(float, rb)))


def per_user_two_level_test(values_a: ArrayLike, values_b: ArrayLike, weights: ArrayLike | None = None,
                            alpha: float = 0.05) -> TwoLevelResult:
    """`users_and_seeds_test` of a per-user metric (GAUC, NDCG@10 averaged per user): values_a / values_b
    hold one row per run and one column per user (the same users, in the same order). Each run's metric
    is the weighted mean of its row; the user term is the user-robust standard error of the weighted mean
    of the seed-averaged per-user differences (that of `paired_t_test`)."""
    fn = "per_user_two_level_test"
    va, vb = _runs(values_a, "values_a", fn), _runs(values_b, "values_b", fn)
    M._same_length(fn, values_a=va[0], values_b=vb[0])
    _, w = _paired(va[0], vb[0], weights, fn)
    n = w.size
    if n < 2:
        raise MetricInputError(f"{fn}: needs at least 2 users, got {n}")
    _, se_users = _weighted_mean_se(va.mean(axis=0) - vb.mean(axis=0), w)

    def interaction(v: np.ndarray) -> float:   # as _interaction: each run's deviation from the run mean
        k = v.shape[0]
        if k < 2:
            return 0.0
        return k / (k - 1) * float(np.mean([_weighted_mean_se(dev, w)[1] ** 2 for dev in v - v.mean(axis=0)]))

    return users_and_seeds_test(va @ w / w.sum(), vb @ w / w.sum(), se_users, n, alpha, interaction(va),
                                interaction(vb))


# ---------------------------------------------------------------------------------------------
# DeLong, multiple-testing corrections
# ---------------------------------------------------------------------------------------------

def delong(labels: ArrayLike, scores_a: ArrayLike, scores_b: ArrayLike, alpha: float = 0.05) -> DeLongResult:
    """DeLong's test of equal AUC for two scorers on the same samples (samples as the unit), with the
    structural components from mid-ranks (Sun & Xu 2014), O(n log n); statistic = z of AUC_a − AUC_b,
    ci = its normal (1 − alpha) interval."""
    fn = "delong"
    y = M._labels(labels, fn)
    a = M._vec(scores_a, "scores_a", fn)
    b = M._vec(scores_b, "scores_b", fn)
    M._same_length(fn, labels=y, scores_a=a, scores_b=b)
    alpha = _alpha(alpha, fn)
    pos = y == 1
    m, n = int(pos.sum()), int((~pos).sum())
    if m < 2 or n < 2:
        raise MetricInputError(f"{fn}: needs at least 2 positives and 2 negatives, got {m} and {n}")
    v10 = np.empty((2, m))   # per positive: share of negatives scored below it (ties half)
    v01 = np.empty((2, n))   # per negative: share of positives scored above it (ties half)
    aucs = np.empty(2)
    for k, s in enumerate((a, b)):
        x, z = s[pos], s[~pos]
        rx, rz, rall = M._midranks(x), M._midranks(z), M._midranks(np.concatenate([x, z]))
        aucs[k] = (rall[:m].sum() - m * (m + 1) / 2) / (m * n)
        v10[k] = (rall[:m] - rx) / n
        v01[k] = 1.0 - (rall[m:] - rz) / m
    cov = np.cov(v10) / m + np.cov(v01) / n
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    diff = float(aucs[0] - aucs[1])
    if var <= 0:
        z, p = (0.0, 1.0) if diff == 0 else (float(np.copysign(np.inf, diff)), 0.0)
        half = 0.0
    else:
        z = diff / np.sqrt(var)
        p = float(2 * stats.norm.sf(abs(z)))
        half = float(stats.norm.ppf(1 - alpha / 2) * np.sqrt(var))
    return DeLongResult(diff, float(z), p, (diff - half, diff + half), m + n, None, "DeLong",
                        float(aucs[0]), float(aucs[1]), max(var, 0.0))


def _pvalues(pvalues: ArrayLike, fn: str) -> np.ndarray:
    p = np.asarray(pvalues, dtype=np.float64)
    if p.ndim != 1:
        raise MetricInputError(f"{fn}: pvalues must be 1-D, got shape {p.shape}")
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise MetricInputError(f"{fn}: pvalues must be finite and lie in [0, 1]")
    return p


def holm(pvalues: ArrayLike) -> np.ndarray:
    """Holm step-down adjusted p-values (family-wise error), in input order: sorted ascending,
    p̃(i) = max over j <= i of min(1, (m − j + 1)·p(j))."""
    p = _pvalues(pvalues, "holm")
    m = p.size
    order = np.argsort(p, kind="stable")
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adj
    return out


def benjamini_hochberg(pvalues: ArrayLike) -> np.ndarray:
    """Benjamini–Hochberg step-up q-values (false discovery rate), in input order: sorted ascending,
    q(i) = min over j >= i of min(1, m·p(j)/j)."""
    p = _pvalues(pvalues, "benjamini_hochberg")
    m = p.size
    order = np.argsort(p, kind="stable")
    raw = p[order] * m / np.arange(1, m + 1)
    adj = np.minimum(1.0, np.minimum.accumulate(raw[::-1])[::-1])
    out = np.empty(m)
    out[order] = adj
    return out
