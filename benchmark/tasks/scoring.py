"""What the tasks' evaluators share: the `Evaluation` they return and the binary-label metrics.

Models never compute metrics (spec §1): each task module's `evaluate` turns stored outputs and the
split's labels into metric values plus the per-user values the significance tests need.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from benchmark import metrics as M


@dataclass(frozen=True)
class MetricPlan:
    """One tested metric: its key in metrics.json, how it is tested, and where its inputs live."""

    metric: str
    kind: str                     # "per_user" (per_user.parquet) or "global" (predictions + test labels)
    label: str | None = None      # global: label column of test.parquet
    column: str | None = None     # global: score column of predictions.parquet
    fn: str | None = None         # global: benchmark.metrics name handed to the cluster tests
    higher_is_better: bool = True


@dataclass
class Evaluation:
    """Metric values plus per-user values (user_id, value, weight) for the user-decomposable ones."""

    metrics: dict[str, float]
    per_user: dict[str, pd.DataFrame] = field(default_factory=dict)


def per_user_gauc(labels: np.ndarray, scores: np.ndarray, users: np.ndarray) -> pd.DataFrame:
    """Each user's AUC and weight (the GAUC terms) as user_id, value, weight."""
    g, a, w = M.gauc_per_group(labels, scores, users)
    return pd.DataFrame({"user_id": g, "value": a, "weight": w})


def binary_metrics(labels: np.ndarray, scores: np.ndarray, users: np.ndarray,
                   prefix: str = "") -> tuple[dict[str, float], pd.DataFrame]:
    """AUC and GAUC, plus LogLoss and calibration error when the scores are probabilities; per-user GAUC."""
    out = {f"{prefix}auc": M.auc(labels, scores), f"{prefix}gauc": M.gauc(labels, scores, users)}
    if np.all((scores >= 0) & (scores <= 1)):
        out[f"{prefix}logloss"] = M.logloss(labels, scores)
        out[f"{prefix}calibration_error"] = M.calibration_error(labels, scores)
    return out, per_user_gauc(labels, scores, users)
