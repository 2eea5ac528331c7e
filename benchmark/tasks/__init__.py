"""The five tasks, one module each, and the stage that writes their split files."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from benchmark.errors import BenchmarkError
from benchmark.features.store import FeatureStore
from benchmark.io import log
from benchmark.params import Params, as_params
from benchmark.tasks import ctr, gift_price, multi_behavior, topk, watch_time
from benchmark.tasks.base import Task, write_task

TASKS: dict[str, Task] = {m.TASK.name: m.TASK for m in (ctr, multi_behavior, watch_time, gift_price, topk)}
WRITERS = 2  # background threads writing task files
EXPOSURE_COLUMNS = ["sample_id", "user_id", "streamer_id", "live_id", "ts", "click", "watch_ms",
                    "n_comment", "n_like", "n_gift", "gift_value"]


def get_task(name: str) -> Task:
    """The task registered under name."""
    if name not in TASKS:
        raise BenchmarkError(f"unknown task '{name}'; tasks: {', '.join(TASKS)}")
    return TASKS[name]


def load_exposures(processed: Path, split: Path) -> dict[str, np.ndarray]:
    """Exposures inside the split window as numpy columns, with their split code."""
    ex = pq.read_table(Path(processed) / "exposures.parquet", columns=EXPOSURE_COLUMNS)
    assign = pq.read_table(Path(split) / "split.parquet")
    sid = ex["sample_id"].to_numpy()
    keep = np.isin(sid, assign["sample_id"].to_numpy())
    cols = {c: ex[c].to_numpy()[keep] for c in EXPOSURE_COLUMNS}
    cols["split"] = assign["split"].to_numpy()
    return cols


def build_tasks(processed: Path, split: Path, features: Path, out: Path, params: Params | Mapping,
                tasks: list[str] | None = None, quiet: bool = False) -> None:
    """Write data/tasks/<dataset>/<task>/{train,valid,test}.parquet + task.json for each task."""
    params = as_params(params)
    names = tasks or list(TASKS)
    ex = load_exposures(processed, split)
    store = FeatureStore.open(features, processed)
    # Parquet encoding releases the GIL: each task's files are written on a background thread while the
    # next task is built (the files are the same as written in turn).
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        jobs = []
        for name in names:
            task = get_task(name)
            tables, stats = task.build(ex, params, store)
            jobs.append(pool.submit(write_task, task, tables, stats, Path(out) / name))
            log(quiet, f"tasks: {name}: " + ", ".join(f"{k} {t.num_rows:,}" for k, t in tables.items()))
        for job in jobs:
            job.result()  # re-raises the first failed write
