"""What every task shares: its description and writing its three split files."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmark.io import atomic_dir
from benchmark.split import SPLITS

KEY_COLUMNS = ["sample_id", "user_id", "streamer_id", "live_id", "ts"]


@dataclass(frozen=True)
class Task:
    """A task: which samples, which labels, which metric ranks the leaderboard."""

    name: str
    unit: str  # "exposure", "click" or "query"
    labels: tuple[str, ...]
    primary: str
    others: tuple[str, ...]
    build: Callable[[dict[str, np.ndarray], dict], tuple[dict[str, pa.Table], dict]] = field(repr=False)

    def describe(self) -> dict:
        """The task's metadata as written to task.json."""
        return {"name": self.name, "unit": self.unit, "labels": list(self.labels),
                "primary_metric": self.primary, "other_metrics": list(self.others)}


def select(ex: dict[str, np.ndarray], mask: np.ndarray, labels: dict[str, np.ndarray]) -> pa.Table:
    """Key columns plus labels for the rows in mask, in sample_id order."""
    cols = {c: ex[c][mask] for c in KEY_COLUMNS}
    cols.update({k: v[mask] for k, v in labels.items()})
    return pa.table(cols)


def by_split(ex: dict[str, np.ndarray], base_mask: np.ndarray, labels: dict[str, np.ndarray]) -> dict[str, pa.Table]:
    """The three split tables of a task whose samples are `base_mask` rows of the exposures."""
    return {name: select(ex, base_mask & (ex["split"] == i), labels) for i, name in enumerate(SPLITS)}


def write_task(task: Task, tables: dict[str, pa.Table], stats: dict, out: Path) -> None:
    """Write {train,valid,test}.parquet and task.json atomically into out."""
    with atomic_dir(Path(out)) as tmp:
        for name, table in tables.items():
            pq.write_table(table, tmp / f"{name}.parquet")
        meta = task.describe()
        meta["rows"] = {name: t.num_rows for name, t in tables.items()}
        meta.update(stats)
        (tmp / "task.json").write_text(json.dumps(meta, indent=1))
