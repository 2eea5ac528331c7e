"""gift_price: every click; label = total gift value attributed to the click (0 if none); ranked by Gini."""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmark import metrics as M
from benchmark.tasks.base import Task, by_split
from benchmark.tasks.scoring import Evaluation, MetricPlan


def build(ex: dict[str, np.ndarray], params, store=None):
    """Clicks with the attributed gift value."""
    return by_split(ex, ex["click"] == 1, {"gift_value": ex["gift_value"].astype(np.int64)}), {}


def evaluate(table: pd.DataFrame, scores: np.ndarray) -> Evaluation:
    """Normalised Gini, AUC of gift vs none, Spearman and MAE on log1p of the predicted value."""
    y = table["gift_value"].to_numpy().astype(np.float64)
    return Evaluation({"normalized_gini": M.normalized_gini(y, scores), "auc_gift": M.auc((y > 0).astype(int), scores),
                       "spearman": M.spearman(y, scores),
                       "mae_log1p": M.mae(np.log1p(y), np.log1p(np.maximum(scores, 0)))})


TASK = Task("gift_price", "click", ("gift_value",), "regression", "normalized_gini",
            ("auc_gift", "spearman", "mae_log1p"), build, evaluate,
            tests=(MetricPlan("normalized_gini", "global", "gift_value", "score", "normalized_gini"),))
