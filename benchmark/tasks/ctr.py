"""ctr: every exposure (click or negative); label = click; ranked by GAUC over users."""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmark.tasks.base import Task, by_split
from benchmark.tasks.scoring import Evaluation, MetricPlan, binary_metrics


def build(ex: dict[str, np.ndarray], params, store=None):
    """All exposures with the click label."""
    return by_split(ex, np.ones(ex["sample_id"].size, bool), {"click": ex["click"].astype(np.int8)}), {}


def evaluate(table: pd.DataFrame, scores: np.ndarray) -> Evaluation:
    """AUC, GAUC, LogLoss and calibration error of the click scores."""
    m, per_user = binary_metrics(table["click"].to_numpy(), scores, table["user_id"].to_numpy())
    return Evaluation(m, {"gauc": per_user})


TASK = Task("ctr", "exposure", ("click",), "binary", "gauc", ("auc", "logloss", "calibration_error", "delong_p"),
            build, evaluate,
            tests=(MetricPlan("gauc", "per_user"),
                   MetricPlan("auc", "global", "click", "score", "auc"),
                   MetricPlan("logloss", "global", "click", "score", "logloss", higher_is_better=False)))
