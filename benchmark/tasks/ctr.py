"""ctr: every exposure (click or negative); label = click; ranked by GAUC over users."""

from __future__ import annotations

import numpy as np

from benchmark.tasks.base import Task, by_split


def build(ex: dict[str, np.ndarray], params: dict, store=None):
    """All exposures with the click label."""
    return by_split(ex, np.ones(ex["sample_id"].size, bool), {"click": ex["click"].astype(np.int8)}), {}


TASK = Task("ctr", "exposure", ("click",), "gauc", ("auc", "logloss", "calibration_error", "delong_p"), build)
