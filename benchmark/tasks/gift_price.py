"""gift_price: every click; label = total gift value attributed to the click (0 if none); ranked by Gini."""

from __future__ import annotations

import numpy as np

from benchmark.tasks.base import Task, by_split


def build(ex: dict[str, np.ndarray], params: dict, store=None):
    """Clicks with the attributed gift value."""
    return by_split(ex, ex["click"] == 1, {"gift_value": ex["gift_value"].astype(np.int64)}), {}


TASK = Task("gift_price", "click", ("gift_value",), "normalized_gini",
            ("auc_gift", "spearman", "mae_log1p"), build)
