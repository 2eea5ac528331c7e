"""What every task shares: its description (an OGB-style spec the harness asks) and writing its split files.

A task module defines one `Task`: which samples and labels it builds, what a model must return for it
(`kind`, `score_columns`, `check_output`), how its outputs are scored (`evaluate`), which metrics the
significance stage tests and how (`tests`), and what its leaderboard page shows. Runner, compare, check
and leaderboard read these fields; none of them tests a task's name.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from benchmark.errors import ModelError
from benchmark.io import atomic_dir
from benchmark.split import SPLITS
from benchmark.tasks.scoring import Evaluation, MetricPlan

KINDS = ("binary", "regression", "ranking")

KEY_COLUMNS = ["sample_id", "user_id", "streamer_id", "live_id", "ts"]


@dataclass(frozen=True)
class Task:
    """A task: its samples and labels, what a model returns, how that is scored, tested and shown."""

    name: str
    unit: str                    # one sample is an "exposure", a "click" or a "query"
    labels: tuple[str, ...]      # label columns of the split files (never shown to a model at test time)
    kind: str                    # "binary" (one probability per label), "regression" or "ranking" (of live candidates)
    primary: str                 # the metric that ranks the leaderboard
    others: tuple[str, ...]
    build: Callable[..., tuple[dict[str, pa.Table], dict]] = field(repr=False)  # (exposures, Params, store)
    evaluate: Callable[..., Evaluation] = field(repr=False)  # (split table, checked output) -> Evaluation
    tests: tuple[MetricPlan, ...] = ()   # what the significance stage tests, primary first
    board_stats: tuple[str, ...] = ()    # task.json entries the leaderboard page reports
    fixed_reference: str | None = None   # the reference the rule names; None: the best uncapped learned model
    oracle_role: str = "ceiling"         # what the simulator's truth is on this task's board

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"task {self.name}: kind must be one of {KINDS}, not '{self.kind}'")
        if self.tests and self.tests[0].metric != self.primary:
            raise ValueError(f"task {self.name}: its first tested metric must be the primary {self.primary}")

    @property
    def ranking(self) -> bool:
        """A model ranks each query's live candidates (score_candidates) rather than scoring rows (predict)."""
        return self.kind == "ranking"

    @property
    def score_columns(self) -> tuple[str, ...]:
        """Columns of predictions.parquet: one score per label when there are several, else `score`."""
        return self.labels if len(self.labels) > 1 else ("score",)

    @property
    def sample_keys(self) -> tuple[str, ...]:
        """What identifies a sample to a model: a query is a user at a time, a row also names its room."""
        return ("user_id", "ts") if self.ranking else ("user_id", "live_id", "ts")

    def check_output(self, output, n: int) -> np.ndarray | pd.DataFrame:
        """A model's predict output as float scores (one array, or a DataFrame per label), or a ModelError
        saying what was expected."""
        if len(self.labels) > 1:
            if not isinstance(output, pd.DataFrame) or not set(self.labels) <= set(output.columns):
                got = list(output.columns) if isinstance(output, pd.DataFrame) else type(output).__name__
                raise ModelError(f"{self.name}: predict must return a DataFrame with columns {list(self.labels)}, "
                                 f"got {got}")
            output = output[list(self.labels)].astype(np.float64).reset_index(drop=True)
            arr = output.to_numpy()
        else:
            arr = np.asarray(output, dtype=np.float64)
            if arr.ndim != 1 and not (arr.ndim == 2 and arr.shape[1] == 1):
                raise ModelError(f"{self.name}: predict must return one score per row, got shape {arr.shape}")
            output = arr = arr.reshape(-1)
        if arr.shape[0] != n:
            raise ModelError(f"{self.name}: predict returned {arr.shape[0]} scores for {n} samples")
        bad = ~np.isfinite(arr)
        if bad.any():
            rows = bad.any(axis=1) if bad.ndim > 1 else bad
            raise ModelError(f"{self.name}: predict returned {int(bad.sum())} NaN or infinite scores "
                             f"(first at row {int(np.argmax(rows))})")
        return output

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
