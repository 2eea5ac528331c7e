"""The Evaluator: every task's metrics from a model's output and the task's labels, and the breakdowns.

Models never compute metrics (spec §1). Each task module owns its scoring (`Task.evaluate`); this module
is the one door to it, plus the subgroup breakdowns every task shares. An `Evaluation` carries the metric
values and the per-user values the significance tests need (user = the unit of every test).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmark.tasks import get_task
from benchmark.tasks.base import Task
from benchmark.tasks.scoring import Evaluation

__all__ = ["Evaluation", "breakdown_groups", "breakdowns", "evaluate"]


def evaluate(task: str | Task, table: pd.DataFrame, output) -> Evaluation:
    """The task's metrics of a model's output on one split's table: checked scores (rows) or target
    ranks (queries)."""
    spec = get_task(task) if isinstance(task, str) else task
    return spec.evaluate(table, output)


def breakdown_groups(table: pd.DataFrame, features) -> dict[str, np.ndarray]:
    """Per test row: user activity tercile (train clicks), seen/unseen streamer (in train), peak/off-peak."""
    users = table["user_id"].to_numpy()
    train_clicks = features.train_clicks(users)
    uniq_users, first = np.unique(users, return_index=True)
    cuts = np.quantile(train_clicks[first], [1 / 3, 2 / 3]) if uniq_users.size else np.array([0, 0])
    activity = np.array(["low", "mid", "high"])[np.searchsorted(cuts, train_clicks, side="right").clip(0, 2)]
    seen = np.where(features.encode("streamer_id", table["streamer_id"].to_numpy()) > 0, "seen", "unseen")
    hour = ((table["ts"].to_numpy() + 8 * 3_600_000) % 86_400_000) // 3_600_000
    peak = np.where(hour >= 18, "peak", "offpeak")
    return {"activity": activity, "streamer": seen, "time": peak}


def breakdowns(task: str | Task, table: pd.DataFrame, groups: dict[str, np.ndarray], output) -> dict:
    """The primary metric on each subgroup, keyed `breakdown/<group>=<value>/<metric>`, with the
    subgroup's sample (topk: query) and user counts as `.../n_samples` and `.../n_users`. `output` is what
    the task's evaluate takes: checked scores, or target ranks."""
    spec = get_task(task) if isinstance(task, str) else task
    primary = spec.primary
    out = {}
    for group, values in groups.items():
        for v in np.unique(values):
            m = values == v
            sub = table[m].reset_index(drop=True)
            out[f"breakdown/{group}={v}/n_samples"] = int(m.sum())
            out[f"breakdown/{group}={v}/n_users"] = int(sub["user_id"].nunique())
            part = output[m].reset_index(drop=True) if isinstance(output, pd.DataFrame) else np.asarray(output)[m]
            ev = spec.evaluate(sub, part)
            out[f"breakdown/{group}={v}/{primary}"] = ev.metrics.get(primary, float("nan"))
    return out
