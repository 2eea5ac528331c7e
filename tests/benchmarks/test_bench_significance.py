"""Sign-flip test speed: benchmark.significance.paired_permutation_test vs scipy.stats.permutation_test
(permutation_type="samples", vectorised, batched), same weighted statistic, identical inputs.

Sizes: KLB_BENCH_SCALE=full gives 20,000 users × 10,000 resamples; the default 2,000 × 2,000.
KLB_BENCH_USERS / KLB_BENCH_RESAMPLES override. Measure with `pytest tests/benchmarks -m bench --benchmark-enable`;
the ratio is printed after the pair runs.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from scipy import stats

from benchmark import significance as S

pytestmark = pytest.mark.bench   # speed measurements: run only when asked (-m bench)

FULL = os.environ.get("KLB_BENCH_SCALE", "").lower() == "full"
USERS = int(os.environ.get("KLB_BENCH_USERS", 20_000 if FULL else 2_000))
RESAMPLES = int(os.environ.get("KLB_BENCH_RESAMPLES", 10_000 if FULL else 2_000))
GROUP = f"sign-flip: {USERS:,} users x {RESAMPLES:,} resamples"
_TIMES: dict[str, list[float]] = {}
_P: dict[str, float] = {}


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-user GAUC-like values of two models with a small true gain, weights = heavy-tailed counts."""
    rng = np.random.default_rng(0)
    base = rng.beta(6, 3, USERS)
    a = np.clip(base + rng.normal(0.002, 0.05, USERS), 0, 1)
    b = np.clip(base + rng.normal(0.0, 0.05, USERS), 0, 1)
    w = np.ceil(rng.lognormal(3.0, 1.0, USERS))
    return a, b, w


def scipy_signflip(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> float:
    def weighted_mean_diff(x, y, axis):
        return np.sum(w * (x - y), axis=axis) / w.sum()

    return stats.permutation_test((a, b), weighted_mean_diff, permutation_type="samples", vectorized=True,
                                  n_resamples=RESAMPLES, batch=max(1, 2**22 // USERS), rng=0).pvalue


def ours_signflip(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> float:
    return S.paired_permutation_test(a, b, n_resamples=RESAMPLES, seed=0, weights=w).pvalue


def _timed(name: str, fn, *args):
    def run():
        start = time.perf_counter()
        out = fn(*args)
        _TIMES.setdefault(name, []).append(time.perf_counter() - start)
        return out
    return run


def test_signflip_ours(benchmark, data):
    benchmark.group = GROUP
    _P["ours"] = benchmark.pedantic(_timed("ours", ours_signflip, *data), rounds=5, iterations=1)


def test_signflip_scipy(benchmark, data, capsys):
    benchmark.group = GROUP
    _P["scipy"] = benchmark.pedantic(_timed("scipy", scipy_signflip, *data), rounds=1, iterations=1)
    if "ours" not in _P:
        return
    se = np.sqrt(max(_P["scipy"] * (1 - _P["scipy"]), 1.0 / RESAMPLES) / RESAMPLES)
    assert abs(_P["ours"] - _P["scipy"]) <= 7 * se + 2.0 / RESAMPLES, _P     # both Monte-Carlo estimates
    ours, ref = min(_TIMES["ours"]), min(_TIMES["scipy"])
    benchmark.extra_info["speedup_vs_scipy"] = ref / ours
    line = (f"\n[{GROUP}] ours {ours:.3f} s (p={_P['ours']:.4f}), scipy.stats.permutation_test {ref:.3f} s "
            f"(p={_P['scipy']:.4f}): {ref / ours:.1f}x faster")
    with capsys.disabled():
        print(line)
