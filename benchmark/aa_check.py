"""A/A check: how often each significance test rejects when two models are exchangeable (and, with a
planted shift, how often it detects a real gain). Run `python -m benchmark.aa_check` for the figures.

The synthetic data mimic a CTR test split: users with heavy-tailed sample counts and their own click
propensity; each model scores a shared signal plus a per-user offset plus per-sample noise, so samples
of one user are correlated exactly as real predictions are. A test whose unit is the sample (DeLong)
ignores that correlation; the user-level tests do not.
"""

from __future__ import annotations

import argparse
import logging

import numpy as np
from scipy import stats
from tqdm import tqdm

from benchmark import metrics as M
from benchmark import significance as S

log = logging.getLogger(__name__)

TESTS = ("sign_flip", "cluster", "delong")
_ALIASES = {"paired_permutation_test": "sign_flip", "cluster_randomization_test": "cluster"}


def simulate_pair(rng: np.random.Generator, n_users: int = 300, mean_samples: float = 20.0, shift: float = 0.0,
                  user_noise: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(labels, scores_a, scores_b, users) for one comparison; model a's signal weight is 1 + shift, so
    shift = 0 makes the two models exchangeable (the A/A null)."""
    counts = 1 + rng.geometric(1.0 / mean_samples, n_users)
    users = np.repeat(np.arange(n_users), counts)
    n = users.size
    propensity = rng.normal(0.0, 1.0, n_users)[users]
    signal = rng.normal(size=n)
    labels = (rng.random(n) < 1.0 / (1.0 + np.exp(1.5 - propensity - signal))).astype(np.int8)

    def model(weight: float) -> np.ndarray:
        return weight * signal + user_noise * rng.normal(size=n_users)[users] + rng.normal(size=n)

    return labels, model(1.0 + shift), model(1.0), users


def _pvalue(test: str, labels: np.ndarray, a: np.ndarray, b: np.ndarray, users: np.ndarray, n_resamples: int,
            seed: int) -> float:
    if test == "sign_flip":  # per-user GAUC, weighted by the user's sample count (same users for both)
        _, va, w = M.gauc_per_group(labels, a, users)
        _, vb, _ = M.gauc_per_group(labels, b, users)
        return S.paired_permutation_test(va, vb, n_resamples=n_resamples, seed=seed, weights=w).pvalue
    if test == "cluster":
        return S.cluster_randomization_test(labels, a, b, users, "auc", n_resamples=n_resamples, seed=seed).pvalue
    return S.delong(labels, a, b).pvalue


def rejection_rate(test: str, shift: float = 0.0, n_comparisons: int = 200, alpha: float = 0.05, seed: int = 0,
                   n_users: int = 300, mean_samples: float = 20.0, n_resamples: int = 1000, user_noise: float = 0.5,
                   quiet: bool = True) -> float:
    """Share of `n_comparisons` independent simulated comparisons where `test` ("sign_flip": the weighted
    paired sign-flip test on per-user GAUC; "cluster": the user-cluster randomisation test on AUC;
    "delong": DeLong on AUC, samples as the unit) gives p < alpha. Deterministic for a seed."""
    test = _ALIASES.get(test, test)
    if test not in TESTS:
        raise ValueError(f"rejection_rate: unknown test '{test}' (known: {', '.join(TESTS)})")
    rejected = 0
    for i in tqdm(range(n_comparisons), desc=f"{test} shift={shift}", disable=quiet):
        rng = np.random.default_rng([seed, i])
        labels, a, b, users = simulate_pair(rng, n_users, mean_samples, shift, user_noise)
        rejected += _pvalue(test, labels, a, b, users, n_resamples, seed=i) < alpha
    return rejected / n_comparisons


def aa_false_positive_rate(test: str, n_comparisons: int = 200, alpha: float = 0.05, seed: int = 0,
                           **kwargs: float | int | bool) -> float:
    """False-positive rate of `test` over `n_comparisons` A/A comparisons (exchangeable models);
    keyword arguments go to `rejection_rate` (n_users, mean_samples, n_resamples, user_noise, quiet)."""
    return rejection_rate(test, 0.0, n_comparisons, alpha, seed, **kwargs)


def simulate_scale_pair(rng: np.random.Generator, n_users: int = 400
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(gift values, scores_a, scores_b, users): a gift-like target (mostly 0, lognormal otherwise), a
    better model a on a unit scale and a weaker model b on another scale (every b score above every a
    score), as a model of counts against a regressor of gift value."""
    counts = 1 + rng.geometric(1 / 15, n_users)
    users = np.repeat(np.arange(n_users), counts)
    n = users.size
    taste = rng.normal(size=n_users)[users]
    gift = (rng.random(n) < 0.15) * np.exp(rng.normal(1 + 0.8 * taste, 1.2))
    a = 0.5 * np.log1p(gift) + 0.5 * taste + rng.normal(size=n)
    b = 1000 + 100 * (0.35 * np.log1p(gift) + 0.5 * taste + rng.normal(size=n))
    return gift, a, b, users


def scale_case(seed: int, metric: str = "normalized_gini", n_resamples: int = 1000, n_users: int = 400) -> dict:
    """A planted different-scale comparison: the user-cluster randomisation p with raw scores swapped
    (before) and with rank-normalised scores (after), the user-cluster bootstrap interval, and the
    users and seeds test the board reports (one run each, so its variance is the users' alone)."""
    gift, a, b, users = simulate_scale_pair(np.random.default_rng([seed, 17]), n_users)
    raw = S.cluster_randomization_test(gift, a, b, users, metric, n_resamples, seed, rank_normalised=False)
    ranked = S.cluster_randomization_test(gift, a, b, users, metric, n_resamples, seed)
    boot = S.cluster_bootstrap_ci(gift, a, b, users, metric, n_resamples, seed)
    f = getattr(M, metric)
    two = S.users_and_seeds_test([f(gift, a)], [f(gift, b)], boot.se, boot.n)
    return {"metric": metric, "diff": raw.estimate, "before_p": raw.pvalue, "after_p_users": ranked.pvalue,
            "bootstrap_ci": boot.ci, "after_p": two.pvalue, "after_ci": two.ci}


def _gauc_runs(rng: np.random.Generator, labels: np.ndarray, signal: np.ndarray, users: np.ndarray, weight: float,
               seed_sd: float, per_side: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-user GAUC of `per_side` runs of one model (runs × users) and the users' weights."""
    rows = []
    n_users = int(users.max()) + 1
    for _ in range(per_side):
        s = weight * (1 + seed_sd * rng.normal()) * signal + 0.5 * rng.normal(size=n_users)[users]
        _, v, w = M.gauc_per_group(labels, s + rng.normal(size=users.size), users)
        rows.append(v)
    return np.array(rows), w


def retrain_rejection_rate(seed_sd: float, shift: float = 0.0, n_comparisons: int = 200, per_side: int = 3,
                           alpha: float = 0.05, seed: int = 0, n_users: int = 300, n_resamples: int = 1000,
                           quiet: bool = True) -> tuple[float, float]:
    """(users-only sign-flip, users and seeds test) rejection rates on per-user GAUC when each model is
    trained `per_side` times: a run's signal weight is (1 + shift)·(1 + seed_sd·g) with g ~ N(0, 1) per
    run, so seed_sd sets the retraining variance. shift = 0 is the A/A null."""
    before = after = 0
    for i in tqdm(range(n_comparisons), desc=f"retrain seed_sd={seed_sd}", disable=quiet):
        rng = np.random.default_rng([seed, i, 3])
        counts = 1 + rng.geometric(1.0 / 20.0, n_users)
        users = np.repeat(np.arange(n_users), counts)
        propensity = rng.normal(0.0, 1.0, n_users)[users]
        signal = rng.normal(size=users.size)
        labels = (rng.random(users.size) < 1.0 / (1.0 + np.exp(1.5 - propensity - signal))).astype(np.int8)
        va, w = _gauc_runs(rng, labels, signal, users, 1.0 + shift, seed_sd, per_side)
        vb, _ = _gauc_runs(rng, labels, signal, users, 1.0, seed_sd, per_side)
        flip = S.paired_permutation_test(va.mean(axis=0), vb.mean(axis=0), n_resamples=n_resamples, seed=i,
                                         weights=w)
        before += flip.pvalue < alpha
        after += S.per_user_two_level_test(va, vb, w, alpha).pvalue < alpha
    return before / n_comparisons, after / n_comparisons


def binomial_band(n_comparisons: int, alpha: float = 0.05, level: float = 0.99) -> tuple[float, float]:
    """The central `level` interval of the rejection rate of a test with exact size alpha."""
    lo, hi = stats.binom.interval(level, n_comparisons, alpha)
    return lo / n_comparisons, hi / n_comparisons


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-comparisons", type=int, default=200)
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-users", type=int, default=300)
    ap.add_argument("--n-resamples", type=int, default=1000)
    ap.add_argument("--shift", type=float, default=0.4, help="planted gain of model a for the power row")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    lo, hi = binomial_band(args.n_comparisons, args.alpha)
    common = dict(n_comparisons=args.n_comparisons, alpha=args.alpha, seed=args.seed, n_users=args.n_users,
                  n_resamples=args.n_resamples, quiet=args.quiet)
    log.info("A/A over %d comparisons, alpha=%.3g; binomial 99%% band for an exact test: [%.3f, %.3f]",
             args.n_comparisons, args.alpha, lo, hi)
    for test in TESTS:
        fpr = aa_false_positive_rate(test, **common)
        power = rejection_rate(test, shift=args.shift, **common)
        print(f"{test:10s} A/A false-positive rate {fpr:.3f} ({'inside' if lo <= fpr <= hi else 'OUTSIDE'} "
              f"[{lo:.3f}, {hi:.3f}])   power at shift {args.shift}: {power:.3f}")
    print("retrained models, 3 runs a side, per-user GAUC: rejection rate users-only sign-flip / users and seeds")
    for seed_sd in (0.0, 0.05, 0.2):
        kw = dict(n_comparisons=args.n_comparisons, alpha=args.alpha, seed=args.seed, n_users=args.n_users,
                  n_resamples=args.n_resamples, quiet=args.quiet)
        b0, a0 = retrain_rejection_rate(seed_sd, **kw)
        b1, a1 = retrain_rejection_rate(seed_sd, shift=args.shift, **kw)
        print(f"seed_sd {seed_sd:4.2f}  A/A {b0:.3f} / {a0:.3f}   power at shift {args.shift}: {b1:.3f} / {a1:.3f}")
    print("planted different-scale cases (gift-like target; model b on another scale):")
    for seed in range(4):
        for metric in ("normalized_gini", "xauc"):
            c = scale_case(seed, metric, args.n_resamples)
            print(f"case {seed} {metric:15s} Δ {c['diff']:+.3f}  raw-swap p {c['before_p']:.3f}  rank-swap p "
                  f"{c['after_p_users']:.3f}  bootstrap CI [{c['bootstrap_ci'][0]:+.3f}, {c['bootstrap_ci'][1]:+.3f}]"
                  f"  board p {c['after_p']:.2g} [{c['after_ci'][0]:+.3f}, {c['after_ci'][1]:+.3f}]")


if __name__ == "__main__":
    main()
