"""A shared fit's saving: one `run_shared` of a model vs `run_one` of the same model on each task it serves.

    python tests/benchmarks/measure_shared_fit.py --data-root data --dataset sim-small-s0 --epochs 5

Prints each row's status and primary metric, then one JSON line with the fit and wall seconds of both.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from types import MappingProxyType

from benchmark.params import ModelSpec, SharedFit
from benchmark.runner import run_one
from benchmark.shared_fit import run_shared
from benchmark.tasks import get_task

TASKS = ("ctr", "multi_behavior", "watch_time", "gift_price")


def _primary(record: dict) -> float:
    return round(record["metrics"].get(get_task(record["task"]).primary, float("nan")), 4)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", default="data")
    ap.add_argument("--dataset", default="sim-small-s0")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    spec = ModelSpec("MultiTaskMLP", "baselines.multitask_mlp:MultiTaskMLP",
                     params=MappingProxyType({"epochs": a.epochs}))
    with tempfile.TemporaryDirectory() as runs:
        t = time.perf_counter()
        shared = run_shared(a.dataset, SharedFit(spec.name, TASKS), spec, 0, Path(a.data_root), Path(runs), a.threads)
        out = {"shared_fit_s": shared[0]["train_seconds"], "shared_wall_s": time.perf_counter() - t,
               "separate_fit_s": 0.0, "separate_wall_s": 0.0}
        for r in shared:
            print("shared  ", r["task"], r["status"], _primary(r))
        for task in TASKS:
            t = time.perf_counter()
            r = run_one(a.dataset, task, spec, 0, Path(a.data_root), Path(runs) / "separate", a.threads, quiet=True)[0]
            out["separate_wall_s"] += time.perf_counter() - t
            out["separate_fit_s"] += r["train_seconds"] or 0.0
            print("separate", task, r["status"], _primary(r))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
