"""Behaviour-sequence cost on a built dataset: log build time, sequences per second, events and bytes returned,
peak RSS, for max_len 1,000 and 10,000 over n random (user, t) queries from the test period's exposures.

    python tests/benchmarks/measure_sequences.py --features DIR --processed DIR --n 20000
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from benchmark.features import FeatureStore
from benchmark.features.sequences import KINDS

LENGTHS = (1_000, 10_000)


def split_test_period(features: Path, processed: Path) -> tuple[int, int]:
    """[start, end) of the test split, from the split manifest beside the store, else the last 3 days."""
    for root in (Path(features).parent.parent, Path(features).parent):
        for manifest in (root / "split" / Path(features).name / "split_manifest.json",
                         root / "split" / "split_manifest.json"):
            if manifest.exists():
                b = json.loads(manifest.read_text())["boundaries"]["test"]
                return int(b["start_ms"]), int(b["end_ms"])
    ts = pq.read_table(Path(processed) / "exposures.parquet", columns=["ts"])["ts"].to_numpy()
    return int(ts.max()) - 3 * 86_400_000 + 1, int(ts.max()) + 1


def sample_queries(processed: Path, period: tuple[int, int], n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n (user, t) pairs of exposures in the period, drawn with a fixed seed."""
    ex = pq.read_table(Path(processed) / "exposures.parquet", columns=["user_id", "ts"])
    u, ts = ex["user_id"].to_numpy(), ex["ts"].to_numpy()
    rows = np.flatnonzero((ts >= period[0]) & (ts < period[1]))
    pick = np.sort(np.random.default_rng(seed).choice(rows, n, replace=rows.size < n))
    return u[pick], ts[pick]


def peak_rss_gb() -> float:
    """This process's peak resident memory (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def measure(store: FeatureStore, users: np.ndarray, ts: np.ndarray, max_len: int, rounds: int = 3) -> dict:
    """Median throughput over `rounds` calls (after one warm-up call: first-touch page faults), and what one
    call returns."""
    store.sequences(users, ts, max_len)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        seq = store.sequences(users, ts, max_len)
        times.append(time.perf_counter() - start)
    lengths = seq.lengths
    return {"max_len": max_len, "seq_per_s": users.size / statistics.median(times),
            "median_s": statistics.median(times), "mean_events": float(lengths.mean()),
            "max_events": int(lengths.max()), "bytes": seq.nbytes}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--features", type=Path, required=True)
    ap.add_argument("--processed", type=Path, required=True)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    store = FeatureStore.open(args.features, args.processed)
    users, ts = sample_queries(args.processed, split_test_period(args.features, args.processed), args.n, args.seed)
    start = time.perf_counter()
    store.sequences(users[:1], ts[:1])  # builds the log and its user index
    build = time.perf_counter() - start
    log = store._event_log(KINDS)  # the cached log, to count its rows
    print(f"[sequences] {args.features}: {len(log):,} events, {users.size:,} queries from the test period")
    print(f"  build (first call): {build:.2f} s, peak RSS {peak_rss_gb():.2f} GB")
    for max_len in LENGTHS:
        m = measure(store, users, ts, max_len)
        print(f"  L={max_len:>6,}: {m['seq_per_s']:>12,.0f} seq/s ({m['median_s'] * 1000:.1f} ms/call, median of 3),"
              f" events/query mean {m['mean_events']:,.1f} max {m['max_events']:,},"
              f" returned {m['bytes'] / 2**20:,.1f} MiB, peak RSS {peak_rss_gb():.2f} GB")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
