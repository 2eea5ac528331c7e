"""benchmark.significance against textbook references, exact enumeration, scipy, and A/A size checks."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from benchmark import aa_check
from benchmark import metrics as M
from benchmark import significance as S


def _mc_close(p_mc: float, p_exact: float, b: int) -> bool:
    """A Monte-Carlo p = (hits + 1)/(B + 1) within 5 standard errors (+ the +1 shift) of the exact p."""
    se = np.sqrt(max(p_exact * (1 - p_exact), 1.0 / b) / b)
    return abs(p_mc - p_exact) <= 5 * se + 2.0 / (b + 1)


# --- multiple-testing corrections ----------------------------------------------------------------

def _holm_loop(p):
    order = sorted(range(len(p)), key=lambda i: p[i])
    out, running = [0.0] * len(p), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        out[i] = running
    return out


def _bh_loop(p):
    order = sorted(range(len(p)), key=lambda i: p[i])
    out, running = [0.0] * len(p), 1.0
    for rank in range(len(p) - 1, -1, -1):
        i = order[rank]
        running = min(running, len(p) * p[i] / (rank + 1))
        out[i] = running
    return out


@pytest.mark.parametrize("seed", range(40))
def test_holm_and_bh_match_textbook_loops(seed):
    rng = np.random.default_rng(seed)
    m = int(rng.integers(1, 30))
    p = np.round(rng.random(m) ** 3, 2)          # ties and tiny values
    np.testing.assert_allclose(S.holm(p), _holm_loop(list(p)), rtol=0, atol=1e-15)
    np.testing.assert_allclose(S.benjamini_hochberg(p), _bh_loop(list(p)), rtol=0, atol=1e-15)
    np.testing.assert_allclose(S.benjamini_hochberg(p), stats.false_discovery_control(p, method="bh"),
                               rtol=1e-12, atol=1e-15)
    for adj in (S.holm(p), S.benjamini_hochberg(p)):
        order = np.argsort(p, kind="stable")
        assert (np.diff(adj[order]) >= 0).all() and (adj >= p).all() and (adj <= 1).all()


def test_corrections_hand_worked():
    np.testing.assert_allclose(S.holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(S.benjamini_hochberg([0.01, 0.04, 0.03]), [0.03, 0.04, 0.04])
    np.testing.assert_array_equal(S.holm([0.9, 0.8]), [1.0, 1.0])
    assert S.holm([]).size == 0
    with pytest.raises(ValueError, match="lie in"):
        S.holm([0.5, 1.2])


# --- DeLong ---------------------------------------------------------------------------------------

def _delong_brute(y, a, b):
    """DeLong with O(n²) pairwise kernels psi(x, y) = 1[x > y] + ½·1[x = y]."""
    v10, v01, aucs = [], [], []
    for s in (a, b):
        x, z = s[y == 1], s[y == 0]
        psi = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
        aucs.append(psi.mean())
    cov = np.cov(v10) / len(v10[0]) + np.cov(v01) / len(v01[0])
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    return aucs, var


@pytest.mark.parametrize("seed", range(30))
def test_delong_matches_pairwise_structural_components(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(8, 120))
    y = np.r_[0, 0, 1, 1, rng.integers(0, 2, n - 4)]
    a = rng.integers(0, 5, n).astype(float)
    b = np.where(rng.random(n) < 0.5, a, rng.integers(0, 5, n)).astype(float)
    res = S.delong(y, a, b)
    aucs, var = _delong_brute(y, a, b)
    assert res.auc_a == pytest.approx(roc_auc_score(y, a), abs=1e-12) == pytest.approx(aucs[0], abs=1e-12)
    assert res.auc_b == pytest.approx(roc_auc_score(y, b), abs=1e-12)
    assert res.variance == pytest.approx(var, rel=1e-9, abs=1e-15)
    if var > 1e-12:
        z = (aucs[0] - aucs[1]) / np.sqrt(var)
        assert res.statistic == pytest.approx(z, rel=1e-9)
        assert res.pvalue == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-9)


def test_delong_identical_scores_and_bad_input():
    y, s = [0, 1, 0, 1, 1], [0.1, 0.4, 0.3, 0.3, 0.9]
    res = S.delong(y, s, s)
    assert res.pvalue == 1.0 and res.estimate == 0.0
    with pytest.raises(ValueError, match="at least 2 positives"):
        S.delong([0, 0, 1], [0.1, 0.2, 0.3], [0.3, 0.2, 0.1])


# --- weighted paired sign-flip test --------------------------------------------------------------

@pytest.mark.parametrize("seed", range(8))
def test_sign_flip_matches_exact_enumeration(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 13))
    a = rng.normal(0.3 * (seed % 3), 1, n)
    b = rng.normal(0, 1, n)
    w = rng.integers(1, 6, n).astype(float) if seed % 2 else np.ones(n)
    v = w * (a - b)
    signs = np.array(list(itertools.product([-1.0, 1.0], repeat=n)))
    exact = np.mean(np.abs(signs @ v) >= abs(v.sum()) - 1e-12)
    res = S.paired_permutation_test(a, b, n_resamples=20000, seed=seed, weights=w)
    assert _mc_close(res.pvalue, exact, 20000), (res.pvalue, exact)
    assert res.estimate == pytest.approx(v.sum() / w.sum())


def test_sign_flip_agrees_with_scipy_permutation_test():
    rng = np.random.default_rng(11)
    for n, shift in ((10, 0.6), (40, 0.3)):
        a, b = rng.normal(shift, 1, n), rng.normal(0, 1, n)
        ref = stats.permutation_test((a, b), lambda x, y, axis: np.mean(x - y, axis=axis), vectorized=True,
                                     permutation_type="samples", n_resamples=20000, rng=1).pvalue
        ours = S.paired_permutation_test(a, b, n_resamples=20000, seed=2).pvalue
        assert _mc_close(ours, ref, 10000), (n, ours, ref)


def test_sign_flip_edge_cases():
    assert S.paired_permutation_test([1, 2, 3], [1, 2, 3], n_resamples=99).pvalue == 1.0
    # all-positive differences of 12 users: only the two all-equal-sign patterns reach |observed|
    res = S.paired_permutation_test(np.ones(12), np.zeros(12), n_resamples=50000, seed=3)
    assert _mc_close(res.pvalue, 2 / 4096, 50000)
    # a zero weight removes a user
    w = S.paired_permutation_test([5.0, 1, 2], [0.0, 0, 0], weights=[0, 1, 1], n_resamples=5000, seed=1)
    assert _mc_close(w.pvalue, 0.5, 5000)


# --- user-cluster randomisation and bootstrap ----------------------------------------------------

def _cluster_data(seed, n_users=12, levels=4):
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(n_users) * 5 + 3, rng.integers(1, 8, n_users))
    n = users.size
    y = np.r_[0, 1, rng.integers(0, 2, n - 2)]
    t = rng.integers(0, levels, n).astype(float)
    a = rng.integers(0, levels, n).astype(float)
    b = np.clip(a + rng.integers(-1, 2, n), 0, levels - 1).astype(float)
    return y, t, a, b, users


def _cases(seed):
    y, t, a, b, users = _cluster_data(seed)
    return [("auc", y, a, b), ("xauc", t, a, b), ("normalized_gini", t, a, b), ("logloss", y, a / 4, b / 4),
            ("mae", t, a, b)], users


@pytest.mark.parametrize("seed", range(6))
def test_cluster_fast_paths_equal_full_recomputation(seed):
    cases, users = _cases(seed)
    for name, lab, a, b in cases:
        f = getattr(M, name)
        if np.isnan(f(lab, a)):
            continue
        fast = S.cluster_randomization_test(lab, a, b, users, name, n_resamples=300, seed=seed,
                                            rank_normalised=False)
        slow = S.cluster_randomization_test(lab, a, b, users, lambda p, q, f=f: f(p, q), n_resamples=300,
                                            seed=seed)
        assert fast.pvalue == slow.pvalue and fast.estimate == slow.estimate, name
        if name in S.RANK_METRICS:   # the default swaps mid-ranks: the slow path on ranked inputs agrees
            ranked = S.cluster_randomization_test(lab, a, b, users, name, n_resamples=300, seed=seed)
            slow_r = S.cluster_randomization_test(lab, S.rank_normalise(a), S.rank_normalise(b), users,
                                                  lambda p, q, f=f: f(p, q), n_resamples=300, seed=seed)
            assert ranked.pvalue == slow_r.pvalue and ranked.estimate == fast.estimate, name
        if name in ("auc", "normalized_gini", "logloss", "mae"):
            fb = S.cluster_bootstrap_ci(lab, a, b, users, name, n_resamples=60, seed=seed)
            sb = S.cluster_bootstrap_ci(lab, a, b, users, lambda p, q, f=f: f(p, q), n_resamples=60, seed=seed)
            assert fb.n_valid == sb.n_valid
            assert fb.ci == pytest.approx(sb.ci, abs=1e-12), name


@pytest.mark.parametrize("seed", range(4))
def test_cluster_randomization_matches_exact_enumeration(seed):
    y, t, a, b, users = _cluster_data(seed, n_users=8)
    ids = np.unique(users)
    for name, lab in (("auc", y), ("xauc", t)):
        f = getattr(M, name)
        obs = f(lab, a) - f(lab, b)
        diffs = []
        for pattern in itertools.product([False, True], repeat=ids.size):
            swap = np.isin(users, ids[list(pattern)])
            diffs.append(f(lab, np.where(swap, b, a)) - f(lab, np.where(swap, a, b)))
        exact = np.mean(np.abs(diffs) >= abs(obs) - 1e-12)
        res = S.cluster_randomization_test(lab, a, b, users, name, n_resamples=20000, seed=seed,
                                           rank_normalised=False)
        assert _mc_close(res.pvalue, exact, 20000), (name, res.pvalue, exact)


@pytest.mark.parametrize("seed", range(5))
def test_auc_bootstrap_pair_counts_equal_per_sample_path(seed, monkeypatch):
    """The user-pair-count path (wᵀKw) gives the per-sample path's interval bit for bit, ties and
    column chunks included."""
    rng = np.random.default_rng(seed)
    n, n_users = int(rng.integers(100, 3000)), int(rng.integers(2, 80))
    users = rng.integers(0, n_users, n) * 7 + 3
    y = (rng.random(n) < 0.3).astype(float)
    a, b = np.round(rng.random(n) + 0.3 * y, 2), np.round(rng.random(n) * 0.5 + 0.1 * y, 1)
    monkeypatch.setattr(S, "_CHUNK", int(rng.integers(1, 400)) * n_users)   # several column chunks
    pairs = S.cluster_bootstrap_ci(y, a, b, users, "auc", n_resamples=150, seed=seed)
    monkeypatch.setattr(S, "_PAIR_USERS", 0)
    samples = S.cluster_bootstrap_ci(y, a, b, users, "auc", n_resamples=150, seed=seed)
    assert (pairs.low, pairs.high, pairs.n_valid) == (samples.low, samples.high, samples.n_valid)


def test_cluster_bootstrap_interval_brackets_estimate():
    labels, a, b, users = aa_check.simulate_pair(np.random.default_rng(0), n_users=200, shift=0.5)
    ci = S.cluster_bootstrap_ci(labels, a, b, users, "auc", n_resamples=300)
    assert ci.low < ci.estimate < ci.high and ci.low > 0      # a clear planted gain
    wide = S.cluster_bootstrap_ci(labels, a, b, users, "auc", n_resamples=300, alpha=0.01)
    assert wide.low <= ci.low and wide.high >= ci.high


# --- bootstrap and t-test on per-user values -----------------------------------------------------

def test_paired_bootstrap_ci_close_to_normal_interval():
    rng = np.random.default_rng(7)
    a, b = rng.normal(0.2, 1, 2000), rng.normal(0, 1, 2000)
    d = a - b
    ci = S.paired_bootstrap_ci(a, b, n_resamples=4000, seed=1)
    half = 1.96 * d.std(ddof=1) / np.sqrt(d.size)
    assert ci.estimate == pytest.approx(d.mean())
    assert ci.low == pytest.approx(d.mean() - half, abs=0.1 * half)
    assert ci.high == pytest.approx(d.mean() + half, abs=0.1 * half)
    w = rng.integers(1, 20, 2000).astype(float)
    cw = S.paired_bootstrap_ci(a, b, weights=w, n_resamples=4000, seed=1)
    tt = S.paired_t_test(a, b, weights=w)
    assert cw.estimate == pytest.approx(np.dot(w, d) / w.sum())
    assert cw.low == pytest.approx(tt.ci[0], abs=0.1 * (tt.ci[1] - tt.ci[0]))


def test_paired_t_test_matches_scipy():
    rng = np.random.default_rng(8)
    a, b = rng.normal(0.1, 1, 50), rng.normal(0, 1, 50)
    ref = stats.ttest_rel(a, b)
    res = S.paired_t_test(a, b)
    assert res.statistic == pytest.approx(ref.statistic, rel=1e-10)
    assert res.pvalue == pytest.approx(ref.pvalue, rel=1e-10)
    assert res.ci == pytest.approx(tuple(ref.confidence_interval()), rel=1e-10)
    assert S.paired_t_test(a, b, weights=np.full(50, 3.0)).pvalue == pytest.approx(ref.pvalue, rel=1e-10)


# --- size under the null (A/A), power, determinism ----------------------------------------------

N_AA = 200


@pytest.mark.parametrize("test", ["sign_flip", "cluster"])
def test_user_level_tests_hold_their_size_under_aa(test):
    lo, hi = stats.binom.interval(0.99, N_AA, 0.05)
    rate = aa_check.aa_false_positive_rate(test, n_comparisons=N_AA, alpha=0.05, seed=0, n_users=120,
                                           n_resamples=200)
    assert lo <= rate * N_AA <= hi, rate


@pytest.mark.parametrize("test", ["sign_flip", "cluster"])
def test_user_level_tests_have_power_under_planted_shift(test):
    rate = aa_check.rejection_rate(test, shift=1.0, n_comparisons=30, n_users=300, n_resamples=200)
    assert rate >= 0.8, rate


def test_sample_level_delong_over_rejects_when_users_correlate():
    """Why the user is the unit: with a per-user score offset DeLong's size is far above alpha."""
    rate = aa_check.aa_false_positive_rate("delong", n_comparisons=N_AA, n_users=120, user_noise=1.0)
    assert rate * N_AA > stats.binom.interval(0.99, N_AA, 0.05)[1], rate


# --- several runs per model: the per-seed mean, retraining variance, rank-normalised swaps ---------

def test_users_and_seeds_test_is_welch_without_user_variance_and_always_consistent():
    rng = np.random.default_rng(3)
    a, b = rng.normal(0.71, 0.01, 3), rng.normal(0.70, 0.02, 4)
    res = S.users_and_seeds_test(a, b, se_users=0.0, n_users=500)
    ref = stats.ttest_ind(a, b, equal_var=False)
    assert res.pvalue == pytest.approx(ref.pvalue, rel=1e-9) and res.estimate == pytest.approx(a.mean() - b.mean())
    assert res.ci == pytest.approx(tuple(ref.confidence_interval()), rel=1e-9)
    for i in range(300):   # p < alpha exactly when the interval excludes 0, whatever the components
        r = np.random.default_rng([i, 9])
        ka, kb = int(r.integers(1, 5)), int(r.integers(1, 5))
        t = S.users_and_seeds_test(r.normal(0.01 * r.normal(), 0.01, ka), r.normal(0, 0.01, kb),
                                   float(r.exponential(0.005)), int(r.integers(2, 3000)),
                                   interaction_a=float(r.exponential(1e-5)), interaction_b=float(r.exponential(1e-5)))
        assert (t.pvalue < 0.05) == (t.ci[0] > 0 or t.ci[1] < 0), t
    single = S.users_and_seeds_test([0.7], [0.6], 0.02, 1000)   # one run a side: users only
    assert single.se_seeds == 0 and single.se_users == 0.02 and single.df == 999


def test_interaction_is_taken_out_of_the_seed_term():
    """A seed spread the user term already holds (run × user) adds nothing; a run effect beyond it does."""
    base = S.users_and_seeds_test([0.70, 0.72, 0.71], [0.70], 0.01, 800, interaction_a=1e-3)
    assert base.se_seeds == 0 and base.se_users == 0.01
    real = S.users_and_seeds_test([0.70, 0.72, 0.71], [0.70], 0.01, 800, interaction_a=2e-5)
    assert real.se_seeds == pytest.approx(np.sqrt((np.var([0.70, 0.72, 0.71], ddof=1) - 2e-5) / 3))


@pytest.mark.parametrize("seed_sd", [0.0, 0.2])
def test_users_and_seeds_test_holds_its_size_when_retraining_varies(seed_sd):
    """A/A with 3 runs a side: the users-only test over-rejects once runs differ; the two-level test
    stays inside the binomial band of an exact 5% test."""
    lo, hi = stats.binom.interval(0.99, N_AA, 0.05)
    users_only, two_level = aa_check.retrain_rejection_rate(seed_sd, n_comparisons=N_AA, n_users=150,
                                                            n_resamples=200)
    assert lo <= two_level * N_AA <= hi, two_level
    if seed_sd > 0:
        assert users_only * N_AA > hi, users_only


def test_users_and_seeds_test_has_power_when_retraining_is_stable():
    _, power = aa_check.retrain_rejection_rate(0.0, shift=0.6, n_comparisons=30, n_users=300, n_resamples=200)
    assert power >= 0.8, power


@pytest.mark.parametrize("seed", range(3))
def test_planted_different_scale_case_gets_consistent_p_and_interval(seed):
    """A better model against a weaker one on another scale: swapping raw scores mixes the scales and
    loses the difference the interval shows; swapping mid-ranks does not."""
    case = aa_check.scale_case(seed, "normalized_gini", n_resamples=500, n_users=400)
    lo, hi = case["bootstrap_ci"]
    assert lo > 0 and case["after_ci"][0] > 0
    assert case["before_p"] >= 0.05, case          # the defect this guards against
    assert case["after_p_users"] < 0.05 and case["after_p"] < 0.05


def test_rank_normalise_keeps_order_and_ties_on_a_shared_scale():
    r = S.rank_normalise([5.0, 1e6, 5.0, -2.0])
    np.testing.assert_allclose(r, [2.5 / 4, 4 / 4, 2.5 / 4, 1 / 4])
    y = np.array([0, 1, 1, 0, 1])
    s = np.array([0.1, 300.0, 0.4, 0.4, 2.0])
    assert M.auc(y, S.rank_normalise(s)) == M.auc(y, s)


@pytest.mark.parametrize("name", ["auc", "normalized_gini", "logloss", "xauc"])
def test_several_runs_average_the_per_run_metric(name):
    """Runs stacked as rows: the estimate is the mean of per-run metrics (not the metric of mean scores);
    identical runs give the single run's interval and no run × user variance; fast and slow paths agree."""
    cases, users = _cases(2)
    _, lab, a, b = next(c for c in cases if c[0] == name)
    f = getattr(M, name)
    rng = np.random.default_rng(0)
    a2 = np.stack([a, np.clip(a + rng.integers(-1, 2, a.size) * (0.25 if name == "logloss" else 1), 0, None)])
    if name == "logloss":
        a2 = np.clip(a2, 0, 1)
    boot = S.cluster_bootstrap_ci(lab, a2, b, users, name, n_resamples=80, seed=1)
    assert boot.estimate == pytest.approx(np.mean([f(lab, r) for r in a2]) - f(lab, b))
    assert boot.interaction_a > 0 and boot.interaction_b == 0
    slow = S.cluster_bootstrap_ci(lab, a2, b, users, lambda p, q: f(p, q), n_resamples=80, seed=1)
    assert slow.ci == pytest.approx(boot.ci, abs=1e-12) and slow.interaction_a == pytest.approx(boot.interaction_a)
    one = S.cluster_bootstrap_ci(lab, a, b, users, name, n_resamples=80, seed=1)
    same = S.cluster_bootstrap_ci(lab, np.stack([a, a, a]), b, users, name, n_resamples=80, seed=1)
    assert same.ci == pytest.approx(one.ci, abs=1e-12) and same.interaction_a == pytest.approx(0, abs=1e-20)
    rand = S.cluster_randomization_test(lab, a2, b, users, name, n_resamples=200, seed=1)
    assert rand.estimate == pytest.approx(boot.estimate)


def test_fixed_seed_is_deterministic():
    labels, a, b, users = aa_check.simulate_pair(np.random.default_rng(1), n_users=100, shift=0.2)
    _, va, w = M.gauc_per_group(labels, a, users)
    _, vb, _ = M.gauc_per_group(labels, b, users)
    runs = [
        lambda seed: S.paired_permutation_test(va, vb, n_resamples=500, seed=seed, weights=w),
        lambda seed: S.paired_bootstrap_ci(va, vb, weights=w, n_resamples=500, seed=seed),
        lambda seed: S.cluster_randomization_test(labels, a, b, users, "auc", n_resamples=200, seed=seed),
        lambda seed: S.cluster_randomization_test(labels, a, b, users, M.spearman, n_resamples=50, seed=seed),
        lambda seed: S.cluster_bootstrap_ci(labels, a, b, users, "auc", n_resamples=100, seed=seed),
    ]
    for run in runs:
        assert run(5) == run(5)
        assert any(run(5) != run(s) for s in (6, 7, 8))


def test_results_are_frozen_with_pvalue():
    res = S.paired_permutation_test([1.0, 2.0], [0.5, 0.5], n_resamples=10)
    assert 0 < res.pvalue <= 1 and res.n == 2 and res.n_resamples == 10
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.pvalue = 0.0  # type: ignore[misc]


@pytest.mark.parametrize("call, message", [
    (lambda: S.paired_permutation_test([1, 2], [1]), "length mismatch"),
    (lambda: S.paired_permutation_test([1, np.nan], [1, 2]), "NaN"),
    (lambda: S.paired_permutation_test([1, 2], [1, 2], weights=[-1, 2]), "weights"),
    (lambda: S.paired_permutation_test([1, 2], [1, 2], n_resamples=0), "n_resamples"),
    (lambda: S.paired_bootstrap_ci([1, 2], [1, 2], alpha=1.5), "alpha"),
    (lambda: S.cluster_randomization_test([0, 1], [0.1, 0.2], [0.2, 0.1], [1, 2], "nope"), "unknown metric"),
    (lambda: S.cluster_randomization_test([1, 1], [0.1, 0.2], [0.2, 0.1], [1, 2], "auc"), "undefined"),
    (lambda: S.cluster_bootstrap_ci([0, 1], [0.1, 0.2], [0.2], [1, 2], "auc"), "length mismatch"),
    (lambda: S.paired_t_test([1.0], [2.0]), "at least 2"),
])
def test_invalid_input_raises_clear_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
