"""watch_time: every click; label = seconds watched; ranked by XAUC."""

from __future__ import annotations

import numpy as np

from benchmark.tasks.base import Task, by_split


def build(ex: dict[str, np.ndarray], params: dict, store=None):
    """Clicks with watch_s = watch_live_time / 1000 (the release stores milliseconds)."""
    return by_split(ex, ex["click"] == 1, {"watch_s": ex["watch_ms"] / 1000.0}), {}


TASK = Task("watch_time", "click", ("watch_s",), "xauc", ("mae_s", "rmse_log1p", "spearman"), build)
