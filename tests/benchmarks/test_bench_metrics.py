"""GAUC speed: benchmark.metrics.gauc vs a scikit-learn loop (roc_auc_score per group), identical inputs.

Sizes: KLB_BENCH_SCALE=full gives 10,000,000 samples over 24,000 users (KuaiLive's user count); the
default gives 100,000 samples over 1,000 users. KLB_BENCH_GAUC_N / KLB_BENCH_GAUC_GROUPS override.
Measure with `pytest tests/benchmarks -m bench --benchmark-enable`; the ratio is printed after the pair runs.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from benchmark import metrics as M

pytestmark = pytest.mark.bench   # speed measurements: run only when asked (-m bench)

FULL = os.environ.get("KLB_BENCH_SCALE", "").lower() == "full"
N = int(os.environ.get("KLB_BENCH_GAUC_N", 10_000_000 if FULL else 100_000))
GROUPS = int(os.environ.get("KLB_BENCH_GAUC_GROUPS", 24_000 if FULL else 1_000))
GROUP = f"gauc: {N:,} samples, {GROUPS:,} groups"
_TIMES: dict[str, list[float]] = {}


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CTR-like inputs: heavy-tailed samples per user, 10-15% positives, scores rounded (ties)."""
    rng = np.random.default_rng(0)
    activity = rng.lognormal(0.0, 1.0, GROUPS)
    groups = rng.choice(GROUPS, size=N, p=activity / activity.sum())
    signal = rng.normal(size=N)
    labels = (rng.random(N) < 1.0 / (1.0 + np.exp(2.5 - signal))).astype(np.int8)
    scores = np.round(signal + rng.normal(size=N), 3)
    return labels, scores, groups


def sklearn_gauc(labels: np.ndarray, scores: np.ndarray, groups: np.ndarray) -> float:
    """The usual reference: split by group, roc_auc_score per group with both classes, count-weighted."""
    order = np.argsort(groups, kind="stable")
    cuts = np.flatnonzero(np.diff(groups[order])) + 1
    num = den = 0.0
    for y, s in zip(np.split(labels[order], cuts), np.split(scores[order], cuts), strict=True):
        if 0 < y.sum() < y.size:
            num += roc_auc_score(y, s) * y.size
            den += y.size
    return num / den


def _timed(name: str, fn, *args):
    def run():
        start = time.perf_counter()
        out = fn(*args)
        _TIMES.setdefault(name, []).append(time.perf_counter() - start)
        return out
    return run


def _report(capsys: pytest.CaptureFixture, benchmark) -> None:
    ours, ref = min(_TIMES["ours"]), min(_TIMES["sklearn"])
    benchmark.extra_info["speedup_vs_sklearn_loop"] = ref / ours
    line = f"\n[{GROUP}] ours {ours:.3f} s, sklearn per-group loop {ref:.3f} s: {ref / ours:.1f}x faster"
    with capsys.disabled():
        print(line)


def test_gauc_ours(benchmark, data):
    benchmark.group = GROUP
    value = benchmark.pedantic(_timed("ours", M.gauc, *data), rounds=3, iterations=1)
    assert 0.5 < value < 1.0


def test_gauc_sklearn_loop(benchmark, data, capsys):
    benchmark.group = GROUP
    value = benchmark.pedantic(_timed("sklearn", sklearn_gauc, *data), rounds=1, iterations=1)
    assert value == pytest.approx(M.gauc(*data), abs=1e-9)
    if "ours" in _TIMES:
        _report(capsys, benchmark)
