"""multi_behavior: every exposure with five labels of the funnel; ranked by the mean per-label GAUC.

Each post-click label is also scored over the clicks alone (`gauc_clicked_<label>`): on every exposure a
like, comment or gift label mostly re-measures the click, while among clicks it asks what follows one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmark import metrics as M
from benchmark.tasks.base import Task, by_split
from benchmark.tasks.scoring import Evaluation, MetricPlan, binary_metrics

LABELS = ("click", "long_view", "like", "comment", "gift")
POST_CLICK = LABELS[1:]


def build(ex: dict[str, np.ndarray], params, store=None):
    """long_view = watch >= features.long_view_seconds; like/comment/gift = at least one attributed event."""
    long_view_s = params.features.long_view_seconds
    click = ex["click"] == 1
    labels = {
        "click": click,
        "long_view": click & (ex["watch_ms"] >= long_view_s * 1000),
        "like": click & (ex["n_like"] > 0),
        "comment": click & (ex["n_comment"] > 0),
        "gift": click & (ex["n_gift"] > 0),
    }
    labels = {k: v.astype(np.int8) for k, v in labels.items()}
    return by_split(ex, np.ones(click.size, bool), labels), {"long_view_seconds": long_view_s}


def evaluate(table: pd.DataFrame, scores: pd.DataFrame) -> Evaluation:
    """Per label AUC, GAUC, LogLoss, calibration; mean_gauc and its per-user terms (each label weighs 1/5)."""
    users = table["user_id"].to_numpy()
    m, parts = {}, []
    for label in LABELS:
        mm, pu = binary_metrics(table[label].to_numpy(), np.asarray(scores[label], np.float64), users,
                                prefix=f"{label}_")
        m.update({k.replace(f"{label}_", "") + f"_{label}": v for k, v in mm.items()})
        pu["weight"] = pu["weight"] / pu["weight"].sum() / len(LABELS)
        parts.append(pu)
    m["mean_gauc"] = float(np.mean([m[f"gauc_{label}"] for label in LABELS]))
    clicked = table["click"].to_numpy() == 1
    for label in POST_CLICK:  # the label's own score, ranked among the clicked rows of each user
        y = table[label].to_numpy()[clicked]
        m[f"gauc_clicked_{label}"] = (M.gauc(y, np.asarray(scores[label], np.float64)[clicked], users[clicked])
                                      if clicked.any() else float("nan"))
    both = pd.concat(parts)
    both["wv"] = both["value"] * both["weight"]
    agg = both.groupby("user_id", sort=True)[["wv", "weight"]].sum()
    per_user = pd.DataFrame({"user_id": agg.index.to_numpy(), "value": (agg["wv"] / agg["weight"]).to_numpy(),
                             "weight": agg["weight"].to_numpy()})
    return Evaluation(m, {"mean_gauc": per_user})


TASK = Task("multi_behavior", "exposure", LABELS, "binary", "mean_gauc",
            tuple(f"{m}_{label}" for label in LABELS for m in ("auc", "gauc"))
            + tuple(f"gauc_clicked_{label}" for label in POST_CLICK), build, evaluate,
            tests=(MetricPlan("mean_gauc", "per_user"),
                   *(MetricPlan(f"auc_{label}", "global", label, label, "auc") for label in LABELS)))
