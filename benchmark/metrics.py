"""Exact, vectorised evaluation metrics (spec §7): each takes array-likes and returns a float.

Ties are handled exactly and deterministically: a score tie counts half a correctly ordered pair
(AUC, GAUC, XAUC, DeLong), targets inside a score tie are averaged (normalized Gini), and a target's
rank counts half of the candidates scored equal to it. Bad input raises `MetricInputError`, which is
both a `BenchmarkError` (the CLI prints it plainly) and a `ValueError`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from benchmark.errors import BenchmarkError

__all__ = [
    "MetricInputError", "auc", "gauc", "gauc_per_group", "logloss", "xauc", "normalized_gini", "mae",
    "rmse_log1p", "spearman", "calibration_error", "ndcg_at_k", "recall_at_k", "mrr", "coverage_at_k",
    "target_rank", "per_user_mean",
]


class MetricInputError(BenchmarkError, ValueError):
    """Input a metric or a test cannot be computed on (length mismatch, NaN, wrong labels)."""


# ---------------------------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------------------------

def _vec(x: ArrayLike, name: str, fn: str, finite: bool = True) -> np.ndarray:
    """`x` as a 1-D float64 array; raises on another shape, on non-numbers, on emptiness or NaN/inf."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MetricInputError(f"{fn}: {name} must be numeric ({exc})") from None
    if arr.ndim != 1:
        raise MetricInputError(f"{fn}: {name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise MetricInputError(f"{fn}: {name} is empty")
    if finite:
        bad = ~np.isfinite(arr)
        if bad.any():
            raise MetricInputError(f"{fn}: {name} holds {int(bad.sum())} NaN or infinite value(s) "
                                   f"(first at position {int(np.argmax(bad))})")
    return arr


def _labels(y: ArrayLike, fn: str, name: str = "labels") -> np.ndarray:
    """Binary labels as float64 0/1; anything other than 0/1 (or False/True) raises."""
    arr = _vec(y, name, fn)
    bad = (arr != 0) & (arr != 1)
    if bad.any():
        raise MetricInputError(f"{fn}: {name} must be 0/1, found {arr[np.argmax(bad)]!r} "
                               f"at position {int(np.argmax(bad))}")
    return arr


def _same_length(fn: str, **arrays: np.ndarray) -> None:
    sizes = {k: len(v) for k, v in arrays.items()}
    if len(set(sizes.values())) > 1:
        raise MetricInputError(f"{fn}: length mismatch: " + ", ".join(f"{k}={n}" for k, n in sizes.items()))


def _groups(groups: ArrayLike, fn: str, name: str = "groups") -> tuple[np.ndarray, np.ndarray]:
    """(codes, ids): non-negative int64 codes that sort like the groups, and the group id of each code
    (ids[code]); dense integer ids are offset rather than sorted, so factorising them costs no sort."""
    g = np.asarray(groups)
    if g.ndim != 1:
        raise MetricInputError(f"{fn}: {name} must be 1-D, got shape {g.shape}")
    if g.size == 0:
        raise MetricInputError(f"{fn}: {name} is empty")
    if g.dtype.kind in "iub":
        g = g.astype(np.int64, copy=False)
        lo, hi = int(g.min()), int(g.max())
        if hi - lo < 4 * g.size + 2**20:
            return g - lo, np.arange(lo, hi + 1, dtype=np.int64)
    if g.dtype.kind == "f" and not np.isfinite(g).all():
        raise MetricInputError(f"{fn}: {name} hold NaN or infinite values")
    try:
        ids, codes = np.unique(g, return_inverse=True)
    except TypeError as exc:
        raise MetricInputError(f"{fn}: {name} are not sortable ({exc})") from None
    return codes.astype(np.int64).ravel(), ids


# ---------------------------------------------------------------------------------------------
# sorted-order kernels (shared with benchmark.significance's fast resampling paths)
# ---------------------------------------------------------------------------------------------

def _tie_starts(sorted_values: np.ndarray) -> np.ndarray:
    """Start index of each run of equal values in an already sorted array."""
    new = np.empty(sorted_values.size, dtype=bool)
    new[0] = True
    np.not_equal(sorted_values[1:], sorted_values[:-1], out=new[1:])
    return np.flatnonzero(new)


def _midranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of `x` with ties given the average rank of their run (as scipy.stats.rankdata)."""
    order = np.argsort(x)
    starts = _tie_starts(x[order])
    ends = np.append(starts[1:], x.size)
    ranks = np.empty(x.size, dtype=np.float64)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks


def _auc_from_sorted(y_sorted: np.ndarray, starts: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Mann-Whitney AUC of labels sorted by ascending score, tie runs at `starts`, optional weights.

    Weights broadcast over leading axes (one row per resample); integer weights mean repeated samples,
    so every count below stays an exact integer or half-integer in float64.
    """
    wp = y_sorted if w is None else w * y_sorted
    wn = (1.0 - y_sorted) if w is None else w - wp
    pos = np.add.reduceat(wp, starts, axis=-1)
    neg = np.add.reduceat(wn, starts, axis=-1)
    below = np.cumsum(neg, axis=-1) - neg
    u = (pos * (below + 0.5 * neg)).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return u / (pos.sum(axis=-1) * neg.sum(axis=-1))


def _gini_from_sorted(t_desc: np.ndarray, starts: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Unnormalised Gini (Lorenz area above the diagonal, times total·n) of targets sorted by descending
    score, each tie run replaced by its mean; optional integer weights mean repeated samples."""
    if w is None:
        length = np.diff(np.append(starts, t_desc.size)).astype(np.float64)
        block_sum = np.add.reduceat(t_desc, starts)
    else:
        length = np.add.reduceat(w, starts, axis=-1)
        block_sum = np.add.reduceat(w * t_desc, starts, axis=-1)
    start_cum = np.cumsum(block_sum, axis=-1) - block_sum
    n = length.sum(axis=-1)
    total = block_sum.sum(axis=-1)
    # a single run (constant scorer) gives the same float expression twice: exactly 0
    return (start_cum * length + block_sum * (length + 1) / 2).sum(axis=-1) - total * (n + 1) / 2


# ---------------------------------------------------------------------------------------------
# classification
# ---------------------------------------------------------------------------------------------

def auc(labels: ArrayLike, scores: ArrayLike) -> float:
    """ROC AUC = share of (positive, negative) pairs ordered correctly, score ties half (as
    sklearn.metrics.roc_auc_score); NaN when one class is absent."""
    y = _labels(labels, "auc")
    s = _vec(scores, "scores", "auc")
    _same_length("auc", labels=y, scores=s)
    order = np.argsort(s)   # the order inside a tie run does not matter
    return float(_auc_from_sorted(y[order], _tie_starts(s[order])))


def _group_score_order(codes: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The order of np.lexsort((s, codes)) and the sorted codes: one sort by score, then a stable LSD
    radix sort of the codes 16 bits at a time (O(n) per pass), about twice as fast as lexsort."""
    order = np.argsort(s)
    c = codes[order]
    shift = 0
    top = int(c.max())
    while True:
        step = np.argsort(((c >> shift) & 0xFFFF).astype(np.uint16), kind="stable")
        order, c = order[step], c[step]
        shift += 16
        if top >> shift == 0:
            return order, c


def gauc_per_group(labels: ArrayLike, scores: ArrayLike, groups: ArrayLike
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(group_ids, per_group_auc, weights) over the groups that hold both classes, sorted by group id;
    weight = the group's sample count. One sort by (group, score), no loop over groups."""
    fn = "gauc"
    y = _labels(labels, fn)
    s = _vec(scores, "scores", fn)
    codes, ids = _groups(groups, fn)
    _same_length(fn, labels=y, scores=s, groups=codes)
    n = s.size
    order, gs = _group_score_order(codes, s)
    ss = s[order]
    ys = y[order].astype(np.int64)
    gnew = np.empty(n, dtype=bool)
    gnew[0] = True
    np.not_equal(gs[1:], gs[:-1], out=gnew[1:])
    bnew = gnew.copy()
    bnew[1:] |= ss[1:] != ss[:-1]
    bstart = np.flatnonzero(bnew)                           # tie runs inside a group
    pos = np.add.reduceat(ys, bstart)
    neg = np.diff(np.append(bstart, n)) - pos
    gfirst = np.flatnonzero(gnew[bstart])                   # first run of each group
    cneg = np.cumsum(neg)
    below = cneg - neg - np.repeat((cneg - neg)[gfirst], np.diff(np.append(gfirst, bstart.size)))
    u2 = np.add.reduceat(pos * (2 * below + neg), gfirst)   # twice the Mann-Whitney U, exact int64
    n_pos = np.add.reduceat(pos, gfirst)
    n_neg = np.add.reduceat(neg, gfirst)
    valid = (n_pos > 0) & (n_neg > 0)
    group_ids = ids[gs[np.flatnonzero(gnew)][valid]]
    per_group = u2[valid] / (2.0 * n_pos[valid] * n_neg[valid])
    return group_ids, per_group, (n_pos + n_neg)[valid].astype(np.float64)


def gauc(labels: ArrayLike, scores: ArrayLike, groups: ArrayLike) -> float:
    """Group AUC: per-group AUC weighted by the group's sample count, over groups holding both classes;
    NaN when no group does."""
    _, per_group, weights = gauc_per_group(labels, scores, groups)
    if per_group.size == 0:
        return float("nan")
    return float(np.dot(per_group, weights) / weights.sum())


def logloss(labels: ArrayLike, probs: ArrayLike, eps: float = 1e-7) -> float:
    """Mean binary cross-entropy with probabilities clipped to [eps, 1 - eps]."""
    y = _labels(labels, "logloss")
    p = _vec(probs, "probs", "logloss")
    _same_length("logloss", labels=y, probs=p)
    if (p < 0).any() or (p > 1).any():
        raise MetricInputError("logloss: probs must lie in [0, 1]")
    p = np.clip(p, eps, 1.0 - eps)
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log1p(-p)))


def calibration_error(labels: ArrayLike, probs: ArrayLike, n_bins: int = 10) -> float:
    """Expected calibration error over equal-frequency bins: sum over bins of (bin share) ×
    |mean label − mean prob|. Bin edges are the n_bins-quantiles of probs (order statistics at
    positions ceil(k·n/n_bins)); a run of tied probs stays in one bin, empty bins are skipped."""
    y = _labels(labels, "calibration_error")
    p = _vec(probs, "probs", "calibration_error")
    _same_length("calibration_error", labels=y, probs=p)
    if n_bins < 1:
        raise MetricInputError("calibration_error: n_bins must be >= 1")
    ps = np.sort(p)
    cuts = -(-np.arange(1, n_bins) * p.size // n_bins)      # ceil(k n / n_bins)
    edges = ps[np.minimum(cuts, p.size - 1)]
    b = np.searchsorted(edges, p, side="right")
    count = np.bincount(b, minlength=n_bins)
    gap = np.abs(np.bincount(b, weights=y, minlength=n_bins) - np.bincount(b, weights=p, minlength=n_bins))
    return float(gap[count > 0].sum() / p.size)


# ---------------------------------------------------------------------------------------------
# regression / ordering
# ---------------------------------------------------------------------------------------------

def _strict_inversions(seq: np.ndarray) -> int:
    """Pairs i < j with seq[i] > seq[j] for non-negative ints, in O(n log max) by an MSD radix pass per
    bit: inside each group sharing the higher bits, a 0-bit element is inverted with every earlier
    1-bit element of its group."""
    n = seq.size
    if n < 2:
        return 0
    seq = seq.astype(np.int64, copy=False)
    perm = np.arange(n, dtype=np.int64)  # sorted by (bits above b, position)
    slot = np.arange(n, dtype=np.int64)
    total = 0
    for b in range(int(seq.max()).bit_length() - 1, -1, -1):
        v = seq[perm]
        starts = _tie_starts(v >> (b + 1))
        sizes = np.diff(np.append(starts, n))
        gstart = np.repeat(starts, sizes)
        bit = (v >> b) & 1
        ones_before = np.cumsum(bit) - bit
        ones_before -= ones_before[gstart]
        total += int(ones_before[bit == 0].sum())
        zeros = sizes - np.add.reduceat(bit, starts)
        new = np.where(bit == 0, slot - ones_before, gstart + np.repeat(zeros, sizes) + ones_before)
        nxt = np.empty_like(perm)
        nxt[new] = perm
        perm = nxt
    return total


def _order_counts(seq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per element of a non-negative int sequence: (# earlier elements strictly smaller, # later elements
    strictly greater), by the same MSD radix passes as _strict_inversions (a pair is counted at the
    first bit where the two values differ)."""
    n = seq.size
    seq = seq.astype(np.int64, copy=False)
    smaller_before = np.zeros(n, dtype=np.int64)
    greater_after = np.zeros(n, dtype=np.int64)
    perm = np.arange(n, dtype=np.int64)
    slot = np.arange(n, dtype=np.int64)
    for b in range(int(seq.max(initial=0)).bit_length() - 1, -1, -1):
        v = seq[perm]
        starts = _tie_starts(v >> (b + 1))
        sizes = np.diff(np.append(starts, n))
        gstart = np.repeat(starts, sizes)
        bit = (v >> b) & 1
        ones_before = np.cumsum(bit) - bit
        ones_before -= ones_before[gstart]
        zeros_before = slot - gstart - ones_before
        ones_group = np.repeat(np.add.reduceat(bit, starts), sizes)
        smaller_before[perm] += np.where(bit == 1, zeros_before, 0)
        greater_after[perm] += np.where(bit == 0, ones_group - ones_before, 0)
        new = np.where(bit == 0, zeros_before + gstart, gstart + (sizes.repeat(sizes) - ones_group) + ones_before)
        nxt = np.empty_like(perm)
        nxt[new] = perm
        perm = nxt
    return smaller_before, greater_after


def _pairs_tied(sorted_values: np.ndarray) -> int:
    """Number of pairs inside runs of equal values of a sorted array."""
    k = np.diff(np.append(_tie_starts(sorted_values), sorted_values.size))
    return int((k * (k - 1) // 2).sum())


def xauc(targets: ArrayLike, scores: ArrayLike) -> float:
    """Share of correctly ordered pairs among pairs with different targets, score ties half; exact in
    O(n log n) (discordant pairs by inversion count); NaN when all targets are equal."""
    t = _vec(targets, "targets", "xauc")
    s = _vec(scores, "scores", "xauc")
    _same_length("xauc", targets=t, scores=s)
    n = t.size
    order = np.lexsort((s, t))                 # by target, then score: tied targets never invert
    ts, ss = t[order], s[order]
    all_pairs = n * (n - 1) // 2
    tied_t = _pairs_tied(ts)
    if all_pairs == tied_t:
        return float("nan")
    tied_s = _pairs_tied(np.sort(s))
    joint = np.ones(n, dtype=bool)
    joint[1:] = (ts[1:] != ts[:-1]) | (ss[1:] != ss[:-1])
    k = np.diff(np.append(np.flatnonzero(joint), n))
    tied_both = int((k * (k - 1) // 2).sum())
    dense = np.unique(ss, return_inverse=True)[1]
    discordant = _strict_inversions(dense)
    differ = all_pairs - tied_t
    twice_good = 2 * (differ - discordant) - (tied_s - tied_both)
    return float(twice_good / (2 * differ))


def normalized_gini(targets: ArrayLike, scores: ArrayLike) -> float:
    """Gini of the targets ordered by descending score over the Gini of the perfect order; targets in a
    score tie are averaged (a constant scorer gets exactly 0). NaN when all targets are equal."""
    t = _vec(targets, "targets", "normalized_gini")
    s = _vec(scores, "scores", "normalized_gini")
    _same_length("normalized_gini", targets=t, scores=s)
    order = np.argsort(-s)
    perfect = np.sort(t)[::-1]
    denom = _gini_from_sorted(perfect, _tie_starts(perfect))
    if denom == 0:
        return float("nan")
    return float(_gini_from_sorted(t[order], _tie_starts(s[order])) / denom)


def mae(targets: ArrayLike, preds: ArrayLike) -> float:
    """Mean absolute error."""
    t = _vec(targets, "targets", "mae")
    p = _vec(preds, "preds", "mae")
    _same_length("mae", targets=t, preds=p)
    return float(np.mean(np.abs(t - p)))


def rmse_log1p(targets: ArrayLike, preds: ArrayLike) -> float:
    """RMSE between log1p(targets) and log1p(preds); targets must be >= 0, negative predictions are
    clipped to 0 (no watch time or gift value is negative)."""
    t = _vec(targets, "targets", "rmse_log1p")
    p = _vec(preds, "preds", "rmse_log1p")
    _same_length("rmse_log1p", targets=t, preds=p)
    if (t < 0).any():
        raise MetricInputError("rmse_log1p: targets must be >= 0")
    return float(np.sqrt(np.mean((np.log1p(t) - np.log1p(np.maximum(p, 0.0))) ** 2)))


def spearman(targets: ArrayLike, scores: ArrayLike) -> float:
    """Spearman's rho = Pearson correlation of mid-ranks (as scipy.stats.spearmanr); NaN if constant."""
    t = _vec(targets, "targets", "spearman")
    s = _vec(scores, "scores", "spearman")
    _same_length("spearman", targets=t, scores=s)
    rt, rs = _midranks(t), _midranks(s)
    rt -= rt.mean()
    rs -= rs.mean()
    den = np.sqrt(np.dot(rt, rt) * np.dot(rs, rs))
    return float(np.dot(rt, rs) / den) if den > 0 else float("nan")


# ---------------------------------------------------------------------------------------------
# ranking (from the 1-based, possibly fractional, rank of each query's target)
# ---------------------------------------------------------------------------------------------

def _ranks(ranks: ArrayLike, fn: str) -> np.ndarray:
    r = _vec(ranks, "ranks", fn)
    if (r < 1).any():
        raise MetricInputError(f"{fn}: ranks are 1-based, found {r.min()}")
    return r


def _k(k: int, fn: str) -> int:
    if int(k) != k or k < 1:
        raise MetricInputError(f"{fn}: k must be a positive integer, got {k!r}")
    return int(k)


def ndcg_gains(ranks: ArrayLike, k: int) -> np.ndarray:
    """Per-query NDCG@k: 1/log2(1 + rank) if rank <= k else 0 (one relevant item, so IDCG = 1).
    A fractional rank (ties) takes the gain at its real value: rank 2.5 gives 1/log2(3.5)."""
    r = _ranks(ranks, "ndcg_at_k")
    k = _k(k, "ndcg_at_k")
    return np.where(r <= k, 1.0 / np.log2(1.0 + r), 0.0)


def ndcg_at_k(ranks: ArrayLike, k: int) -> float:
    """Mean over queries of the per-query NDCG@k (see ndcg_gains)."""
    return float(np.mean(ndcg_gains(ranks, k)))


def recall_at_k(ranks: ArrayLike, k: int) -> float:
    """Share of queries whose target's (real-valued) rank is <= k."""
    r = _ranks(ranks, "recall_at_k")
    return float(np.mean(r <= _k(k, "recall_at_k")))


def mrr(ranks: ArrayLike) -> float:
    """Mean reciprocal rank of the target."""
    return float(np.mean(1.0 / _ranks(ranks, "mrr")))


def coverage_at_k(topk_item_lists: ArrayLike | Sequence[Sequence[int]], n_items: int, k: int | None = None
                  ) -> float:
    """Distinct items appearing in any query's top-k list over n_items; a 2-D array (queries × k) or a
    list of lists; negative ids are padding and ignored; `k` truncates each list when given."""
    if isinstance(topk_item_lists, np.ndarray) and topk_item_lists.ndim == 2:
        items = topk_item_lists if k is None else topk_item_lists[:, :k]
        flat = np.asarray(items).ravel()
    else:
        lists = [np.asarray(x).ravel() for x in topk_item_lists]
        flat = np.concatenate([x if k is None else x[:k] for x in lists]) if lists else np.empty(0, np.int64)
    if n_items < 1:
        raise MetricInputError("coverage_at_k: n_items must be >= 1")
    flat = flat[flat >= 0]
    return float(np.unique(flat).size / n_items)


def target_rank(target_scores: ArrayLike, candidate_scores: ArrayLike | Sequence[ArrayLike],
                offsets: ArrayLike | None = None, target_included: bool = True) -> np.ndarray:
    """The harness rule: rank = 1 + (candidates scored strictly higher) + 0.5 × (other candidates scored
    equal), so a constant scorer lands mid-list at (c + 1)/2.

    Candidates come as a 2-D matrix (queries × candidates), a list of 1-D arrays (one per query), or a
    flat array with CSR `offsets` (length queries + 1). With `target_included` (default) each query's
    candidates contain the target itself, which is then not counted as an equal "other" candidate.
    """
    fn = "target_rank"
    t = _vec(target_scores, "target_scores", fn)
    if offsets is None and isinstance(candidate_scores, np.ndarray) and candidate_scores.ndim == 2:
        c = np.asarray(candidate_scores, dtype=np.float64)
        if c.shape[0] != t.size:
            raise MetricInputError(f"{fn}: length mismatch: target_scores={t.size}, candidate rows={c.shape[0]}")
        if not np.isfinite(c).all():
            raise MetricInputError(f"{fn}: candidate_scores hold NaN or infinite values")
        higher = (c > t[:, None]).sum(axis=1)
        equal = (c == t[:, None]).sum(axis=1)
    else:
        if offsets is None:
            rows = [np.asarray(x, dtype=np.float64).ravel() for x in candidate_scores]
            if len(rows) != t.size:
                raise MetricInputError(f"{fn}: length mismatch: target_scores={t.size}, candidate lists={len(rows)}")
            off = np.zeros(len(rows) + 1, dtype=np.int64)
            off[1:] = np.cumsum([r.size for r in rows])
            flat = np.concatenate(rows) if rows else np.empty(0)
        else:
            flat = np.asarray(candidate_scores, dtype=np.float64).ravel()
            off = np.asarray(offsets, dtype=np.int64)
        if off.size != t.size + 1 or off[0] != 0 or off[-1] != flat.size or (np.diff(off) < 0).any():
            raise MetricInputError(f"{fn}: offsets must run from 0 to {flat.size} in {t.size + 1} "
                                   "non-decreasing steps (one row per target)")
        if not np.isfinite(flat).all():
            raise MetricInputError(f"{fn}: candidate_scores hold NaN or infinite values")
        qid = np.repeat(np.arange(t.size), np.diff(off))
        higher = np.bincount(qid, weights=flat > t[qid], minlength=t.size)
        equal = np.bincount(qid, weights=flat == t[qid], minlength=t.size)
    if target_included:
        if (equal < 1).any():
            bad = int(np.argmax(equal < 1))
            raise MetricInputError(f"{fn}: query {bad}'s target score is not among its candidates "
                                   "(pass target_included=False if candidates exclude the target)")
        equal = equal - 1
    return 1.0 + higher + 0.5 * equal


def per_user_mean(values: ArrayLike, users: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(user_ids, means, counts): the mean of `values` per user, users sorted, counts as float64."""
    v = _vec(values, "values", "per_user_mean")
    codes, ids = _groups(users, "per_user_mean", name="users")
    _same_length("per_user_mean", values=v, users=codes)
    counts = np.bincount(codes, minlength=ids.size).astype(np.float64)
    sums = np.bincount(codes, weights=v, minlength=ids.size)
    keep = counts > 0
    return ids[keep], sums[keep] / counts[keep], counts[keep]
