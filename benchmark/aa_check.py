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


if __name__ == "__main__":
    main()
