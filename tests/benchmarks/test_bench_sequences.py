"""Behaviour-sequence speed: FeatureStore.sequences at max_len 1,000 and 10,000 on the tiny preset.

Queries: KLB_BENCH_SEQ_N (default 20,000) random (user, t) of test-period exposures, fixed seed. Prints
sequences per second and what a call returns; never asserts a wall time. Measure with
`pytest tests/benchmarks/test_bench_sequences.py -m bench --benchmark-enable -s`; for a built dataset
(small, full) use `python tests/benchmarks/measure_sequences.py`.
"""

from __future__ import annotations

import os
import time

import pytest

from benchmark.check import DATASET
from benchmark.features import FeatureStore
from tests.benchmarks.measure_sequences import sample_queries, split_test_period

pytestmark = pytest.mark.bench   # speed measurements: run only when asked (-m bench)

N = int(os.environ.get("KLB_BENCH_SEQ_N", 20_000))
GROUP = f"sequences: {N:,} (user, t) queries, tiny preset"
_TIMES: dict[int, list[float]] = {}


@pytest.fixture(scope="module")
def store_and_queries(tiny_data):
    features, processed = tiny_data / "features" / DATASET, tiny_data / "processed" / DATASET
    store = FeatureStore.open(features, processed)
    users, ts = sample_queries(processed, split_test_period(features, processed), N)
    start = time.perf_counter()
    store.sequences(users[:1], ts[:1])  # build the log and its index outside the timed rounds
    return store, users, ts, time.perf_counter() - start


def _timed(max_len: int, store: FeatureStore, users, ts):
    def run():
        start = time.perf_counter()
        out = store.sequences(users, ts, max_len)
        _TIMES.setdefault(max_len, []).append(time.perf_counter() - start)
        return out
    return run


@pytest.mark.parametrize("max_len", [1_000, 10_000])
def test_sequences_per_second(benchmark, store_and_queries, capsys, max_len):
    store, users, ts, build = store_and_queries
    benchmark.group = GROUP
    seq = benchmark.pedantic(_timed(max_len, store, users, ts), rounds=3, iterations=1, warmup_rounds=1)
    assert len(seq) == users.size and seq.lengths.max() <= max_len
    best = min(_TIMES[max_len])
    benchmark.extra_info.update(seq_per_s=users.size / best, events=int(seq.lengths.sum()), bytes=seq.nbytes)
    with capsys.disabled():
        print(f"\n[{GROUP}] L={max_len:,}: {users.size / best:,.0f} seq/s (best of 3), "
              f"{seq.lengths.mean():.1f} events/query (max {seq.lengths.max():,}), {seq.nbytes / 2**20:.1f} MiB "
              f"returned; log build {build:.2f} s")
