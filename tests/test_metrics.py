"""benchmark.metrics against scikit-learn / scipy, O(n²) pair counting on heavily tied inputs, and
hand-worked cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import log_loss, mean_absolute_error, roc_auc_score

from benchmark import metrics as M
from benchmark.errors import BenchmarkError

SEEDS = range(60)


def _tied(seed: int, n_max: int = 60, levels: int = 4):
    """Small inputs with scores and targets in a tiny integer range: ties everywhere."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, n_max))
    return (rng, rng.integers(0, 2, n), rng.integers(0, levels, n).astype(float),
            rng.integers(0, levels, n).astype(float))


def _brute_xauc(t, s):
    good = pairs = 0.0
    for i in range(t.size):
        for j in range(t.size):
            if t[i] < t[j]:
                pairs += 1
                good += (s[i] < s[j]) + 0.5 * (s[i] == s[j])
    return good / pairs if pairs else float("nan")


def _kaggle_gini(t, s):
    """The textbook (Kaggle) Gini: targets sorted by descending score, ties broken by position."""
    a = t[np.lexsort((np.arange(t.size), -s))]
    cum = a.cumsum() / a.sum()
    return cum.sum() / t.size - (t.size + 1) / (2.0 * t.size)


def _tie_averaged_gini(t, s):
    """Reference for ties: replace each target by its score tie's mean target, then the textbook Gini."""
    avg = np.array([t[s == v].mean() for v in s])
    return _kaggle_gini(avg, s) / _kaggle_gini(t, t)


# --- AUC ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
def test_auc_matches_sklearn_and_pair_count_on_ties(seed):
    _, y, s, _ = _tied(seed)
    if 0 < y.sum() < y.size:
        pos, neg = s[y == 1], s[y == 0]
        brute = ((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])).mean()
        assert M.auc(y, s) == pytest.approx(brute, abs=1e-12)
        assert M.auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    else:
        assert np.isnan(M.auc(y, s))


def test_auc_hand_worked_and_constant():
    assert M.auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    assert M.auc([0, 1, 0, 1], [1, 1, 2, 2]) == 0.5            # (0.5 + 0 + 1 + 0.5) / 4
    assert M.auc([1, 0, 0, 1, 0], [3.0] * 5) == 0.5
    assert M.auc([True, False], [0.2, 0.1]) == 1.0
    assert np.isnan(M.auc([1, 1, 1], [0.1, 0.2, 0.3]))


# --- GAUC -----------------------------------------------------------------------------------------

def _gauc_loop(y, s, g):
    ids, aucs, ws = [], [], []
    for u in np.unique(g):
        m = g == u
        if 0 < y[m].sum() < m.sum():
            ids.append(u)
            aucs.append(roc_auc_score(y[m], s[m]))
            ws.append(m.sum())
    return np.array(ids), np.array(aucs), np.array(ws, dtype=float)


@pytest.mark.parametrize("seed", SEEDS)
def test_gauc_matches_per_group_sklearn_loop(seed):
    rng, _, _, _ = _tied(seed)
    n = int(rng.integers(5, 400))
    g = rng.integers(-3, int(rng.integers(1, 25)), n) * 7
    y = rng.integers(0, 2, n)
    s = rng.integers(0, 3, n).astype(float)
    ids, aucs, ws = M.gauc_per_group(y, s, g)
    rid, raucs, rws = _gauc_loop(y, s, g)
    np.testing.assert_array_equal(ids, rid)
    np.testing.assert_allclose(aucs, raucs, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(ws, rws)
    expected = np.dot(raucs, rws) / rws.sum() if rws.size else float("nan")
    np.testing.assert_allclose(M.gauc(y, s, g), expected, rtol=0, atol=1e-12)


def test_gauc_group_encodings_agree():
    rng = np.random.default_rng(3)
    g = rng.integers(0, 30, 500)
    y, s = rng.integers(0, 2, 500), rng.random(500)
    ref = M.gauc(y, s, g)
    assert M.gauc(y, s, g * 10**12) == ref                            # sparse ids take the sorting path
    assert M.gauc(y, s, np.array([f"user{v}" for v in g])) == pytest.approx(ref, abs=1e-15)  # other order
    assert M.gauc(y, s, g.astype(float)) == ref


def test_gauc_skips_one_class_groups_and_weights_by_count():
    y = [1, 0, 0, 1, 1, 1, 0, 0, 0]
    s = [0.9, 0.1, 0.5, 0.2, 0.3, 0.4, 0.1, 0.2, 0.3]
    g = [1, 1, 1, 2, 2, 2, 3, 3, 3]                 # group 2 all positive, group 3 all negative
    ids, aucs, ws = M.gauc_per_group(y, s, g)
    assert ids.tolist() == [1] and aucs.tolist() == [1.0] and ws.tolist() == [3.0]
    y2 = [1, 0, 0, 1, 0, 1, 0]
    s2 = [0.9, 0.1, 0.5, 0.2, 0.3, 0.1, 0.1]
    g2 = [1, 1, 1, 2, 2, 3, 3]                       # AUCs 1, 0, 0.5 with weights 3, 2, 2
    assert M.gauc(y2, s2, g2) == pytest.approx((3 * 1 + 2 * 0 + 2 * 0.5) / 7)
    assert np.isnan(M.gauc([1, 0], [0.3, 0.2], [1, 2]))


# --- LogLoss, calibration ------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(10))
def test_logloss_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    y, p = rng.integers(0, 2, 200), rng.uniform(0.01, 0.99, 200)
    assert M.logloss(y, p) == pytest.approx(log_loss(y, p, labels=[0, 1]), rel=1e-12)


def test_logloss_clips_to_eps():
    assert M.logloss([1, 0], [0.0, 1.0], eps=1e-7) == pytest.approx(-np.log(1e-7))
    with pytest.raises(ValueError, match="lie in"):
        M.logloss([1], [1.5])


def test_calibration_error_equal_frequency_bins():
    assert M.calibration_error([1, 0, 1, 0], [0.5] * 4) == 0.0
    assert M.calibration_error([0, 0, 0], [0.9] * 3, n_bins=10) == pytest.approx(0.9)
    # 2 equal-frequency bins: {0.1, 0.2} (mean p 0.15, rate 0), {0.8, 0.9} (mean p 0.85, rate 1)
    assert M.calibration_error([0, 0, 1, 1], [0.2, 0.1, 0.9, 0.8], n_bins=2) == pytest.approx(0.15)
    rng = np.random.default_rng(1)
    p = rng.random(1000)
    y = (rng.random(1000) < p).astype(int)
    order = np.argsort(p)
    ref = sum(abs(y[c].mean() - p[c].mean()) * c.size for c in np.array_split(order, 10)) / 1000
    assert M.calibration_error(y, p, n_bins=10) == pytest.approx(ref, abs=1e-12)


# --- XAUC, normalized Gini, regression -----------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
def test_xauc_matches_brute_force_on_ties(seed):
    _, _, s, t = _tied(seed)
    expected = _brute_xauc(t, s)
    got = M.xauc(t, s)
    assert (np.isnan(got) and np.isnan(expected)) or got == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed", range(30))
def test_inversion_counts_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    q = rng.integers(0, int(rng.integers(1, 12)), int(rng.integers(1, 70)))
    assert M._strict_inversions(q) == sum(int((q[i] > q[i + 1:]).sum()) for i in range(q.size))
    smaller_before, greater_after = M._order_counts(q)
    assert smaller_before.tolist() == [int((q[:i] < q[i]).sum()) for i in range(q.size)]
    assert greater_after.tolist() == [int((q[i + 1:] > q[i]).sum()) for i in range(q.size)]


def test_xauc_hand_worked_and_constant():
    assert M.xauc([1, 2, 3], [10, 20, 30]) == 1.0
    assert M.xauc([1, 2, 3], [30, 20, 10]) == 0.0
    assert M.xauc([1, 2, 3, 3], [1, 1, 2, 0]) == pytest.approx((0.5 + 1 + 0 + 1 + 0) / 5)
    rng = np.random.default_rng(0)
    assert M.xauc(rng.exponential(size=200), np.full(200, 7.0)) == 0.5
    assert np.isnan(M.xauc([2, 2, 2], [1, 2, 3]))


@pytest.mark.parametrize("seed", range(20))
def test_normalized_gini_matches_textbook_without_ties(seed):
    rng = np.random.default_rng(seed)
    t = rng.exponential(size=100) * (rng.random(100) < 0.3)
    s = t + rng.normal(size=100)
    expected = _kaggle_gini(t, s) / _kaggle_gini(t, t)
    assert M.normalized_gini(t, s) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_normalized_gini_averages_targets_within_score_ties(seed):
    _, y, s, t = _tied(seed)
    if np.ptp(t) == 0:
        assert np.isnan(M.normalized_gini(t, s))
        return
    assert M.normalized_gini(t, s) == pytest.approx(_tie_averaged_gini(t, s), abs=1e-12)
    if 0 < y.sum() < y.size:  # for 0/1 targets the normalized Gini is 2·AUC − 1
        assert M.normalized_gini(y, s) == pytest.approx(2 * roc_auc_score(y, s) - 1, abs=1e-12)


def test_normalized_gini_constant_scorer_is_exactly_zero():
    rng = np.random.default_rng(5)
    for n in (2, 7, 1000, 12345):
        t = rng.exponential(size=n) * (rng.random(n) < 0.2) + (np.arange(n) == 0)
        assert M.normalized_gini(t, np.full(n, 0.3)) == 0.0
    assert M.normalized_gini([0, 5, 1], [1, 3, 2]) == 1.0


@pytest.mark.parametrize("seed", range(20))
def test_spearman_matches_scipy_on_ties(seed):
    _, _, s, t = _tied(seed, n_max=200)
    if np.ptp(s) == 0 or np.ptp(t) == 0:
        assert np.isnan(M.spearman(t, s))
    else:
        assert M.spearman(t, s) == pytest.approx(spearmanr(t, s).statistic, abs=1e-12)


def test_mae_and_rmse_log1p():
    rng = np.random.default_rng(2)
    t, p = rng.exponential(30, 300), rng.exponential(30, 300)
    assert M.mae(t, p) == pytest.approx(mean_absolute_error(t, p))
    assert M.rmse_log1p(t, p) == pytest.approx(np.sqrt(np.mean((np.log1p(t) - np.log1p(p)) ** 2)))
    assert M.rmse_log1p([0.0, np.e - 1], [-5.0, 0.0]) == pytest.approx(np.sqrt(0.5))   # negative → 0


# --- ranking --------------------------------------------------------------------------------------

def test_ranking_metrics_hand_worked():
    ranks = [1, 2, 11, 2.5]
    assert M.ndcg_at_k(ranks, 10) == pytest.approx((1 + 1 / np.log2(3) + 0 + 1 / np.log2(3.5)) / 4)
    assert M.recall_at_k(ranks, 10) == 0.75
    assert M.recall_at_k(ranks, 2) == 0.5            # 2.5 > 2: a fractional rank is compared as is
    assert M.mrr(ranks) == pytest.approx((1 + 0.5 + 1 / 11 + 0.4) / 4)
    with pytest.raises(ValueError, match="1-based"):
        M.mrr([0.5])
    with pytest.raises(ValueError, match="positive integer"):
        M.ndcg_at_k([1], 0)


def test_coverage_at_k():
    top = np.array([[0, 1, 2], [2, 3, -1]])
    assert M.coverage_at_k(top, 10) == 0.4
    assert M.coverage_at_k(top, 10, k=1) == 0.2
    assert M.coverage_at_k([[5], [5, 6]], 4) == 0.5


def test_target_rank_rule_and_layouts():
    cands = [np.array([0.9, 0.5, 0.5, 0.1]), np.array([0.2, 0.2, 0.2]), np.array([0.7])]
    targets = np.array([0.5, 0.2, 0.7])
    expected = [1 + 1 + 0.5, 2.0, 1.0]                  # 1 + higher + ½ × other equal candidates
    np.testing.assert_array_equal(M.target_rank(targets, cands), expected)
    flat, off = np.concatenate(cands), np.array([0, 4, 7, 8])
    np.testing.assert_array_equal(M.target_rank(targets, flat, offsets=off), expected)
    mat = np.array([[0.9, 0.5, 0.5, 0.1], [0.2, 0.2, 0.2, -1.0], [0.7, -1, -1, -1]])
    np.testing.assert_array_equal(M.target_rank(targets, mat), expected)
    np.testing.assert_array_equal(M.target_rank([0.5], [[0.9, 0.5]], target_included=False), [2.5])
    with pytest.raises(ValueError, match="not among its candidates"):
        M.target_rank([0.3], [[0.9, 0.5]])


def test_constant_scorer_lands_mid_list():
    for c in (1, 2, 10, 1001):
        assert M.target_rank([0.0], np.zeros((1, c)))[0] == (c + 1) / 2


def test_per_user_mean_matches_pandas():
    rng = np.random.default_rng(4)
    v, u = rng.random(500), rng.integers(100, 150, 500)
    ids, means, counts = M.per_user_mean(v, u)
    ref = pd.DataFrame({"v": v, "u": u}).groupby("u")["v"].agg(["mean", "size"])
    np.testing.assert_array_equal(ids, ref.index.to_numpy())
    np.testing.assert_allclose(means, ref["mean"].to_numpy(), rtol=1e-12)
    np.testing.assert_array_equal(counts, ref["size"].to_numpy())


# --- invalid input --------------------------------------------------------------------------------

@pytest.mark.parametrize("call, message", [
    (lambda: M.auc([0, 1, 1], [0.1, 0.2]), "length mismatch"),
    (lambda: M.auc([0, 1], [0.1, np.nan]), "NaN"),
    (lambda: M.auc([0, 2], [0.1, 0.2]), "must be 0/1"),
    (lambda: M.gauc([0, 1], [0.1, 0.2], [1]), "length mismatch"),
    (lambda: M.gauc([0, 1], [np.nan, 0.2], [1, 1]), "NaN"),
    (lambda: M.gauc([0, 1], [0.1, 0.2], [np.nan, 1.0]), "NaN"),
    (lambda: M.xauc([1, 2], [np.inf, 0.0]), "infinite"),
    (lambda: M.normalized_gini([1, 2, 3], [1, 2]), "length mismatch"),
    (lambda: M.logloss([[0, 1]], [[0.1, 0.2]]), "1-D"),
    (lambda: M.spearman([], []), "empty"),
    (lambda: M.target_rank([0.1, 0.2], [[0.1]]), "length mismatch"),
    (lambda: M.per_user_mean([1.0, np.nan], [1, 2]), "NaN"),
])
def test_invalid_input_raises_clear_value_error(call, message):
    with pytest.raises(ValueError, match=message) as info:
        call()
    assert isinstance(info.value, BenchmarkError)
