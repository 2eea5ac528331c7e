"""watch_time: every click; label = seconds watched; ranked by XAUC."""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmark import metrics as M
from benchmark.tasks.base import Task, by_split
from benchmark.tasks.scoring import Evaluation, MetricPlan


def build(ex: dict[str, np.ndarray], params, store=None):
    """Clicks with watch_s = watch_live_time / 1000 (the release stores milliseconds)."""
    return by_split(ex, ex["click"] == 1, {"watch_s": ex["watch_ms"] / 1000.0}), {}


def evaluate(table: pd.DataFrame, scores: np.ndarray) -> Evaluation:
    """XAUC, MAE in seconds, RMSE on log1p and Spearman of the predicted watch time."""
    y = table["watch_s"].to_numpy()
    return Evaluation({"xauc": M.xauc(y, scores), "mae_s": M.mae(y, scores), "rmse_log1p": M.rmse_log1p(y, scores),
                       "spearman": M.spearman(y, scores)})


TASK = Task("watch_time", "click", ("watch_s",), "regression", "xauc", ("mae_s", "rmse_log1p", "spearman"),
            build, evaluate, tests=(MetricPlan("xauc", "global", "watch_s", "score", "xauc"),))
