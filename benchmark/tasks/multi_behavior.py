"""multi_behavior: every exposure with five labels of the funnel; ranked by the mean per-label GAUC."""

from __future__ import annotations

import numpy as np

from benchmark.tasks.base import Task, by_split

LABELS = ("click", "long_view", "like", "comment", "gift")


def build(ex: dict[str, np.ndarray], params: dict, store=None):
    """long_view = watch >= long_view_seconds; like/comment/gift = at least one attributed event."""
    long_view_ms = int(params.get("long_view_seconds", 60)) * 1000
    click = ex["click"] == 1
    labels = {
        "click": click,
        "long_view": click & (ex["watch_ms"] >= long_view_ms),
        "like": click & (ex["n_like"] > 0),
        "comment": click & (ex["n_comment"] > 0),
        "gift": click & (ex["n_gift"] > 0),
    }
    labels = {k: v.astype(np.int8) for k, v in labels.items()}
    return by_split(ex, np.ones(click.size, bool), labels), {"long_view_seconds": long_view_ms // 1000}


TASK = Task("multi_behavior", "exposure", LABELS, "mean_gauc",
            tuple(f"{m}_{label}" for label in LABELS for m in ("auc", "gauc")), build)
