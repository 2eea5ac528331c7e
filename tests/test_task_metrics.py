"""Task evaluators on planted tables: what each reported metric measures."""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmark.tasks.multi_behavior import LABELS, POST_CLICK, evaluate


def test_post_click_labels_are_also_scored_over_the_clicks_alone():
    """A like score that ranks the clicks perfectly but puts every non-click on top: over every exposure its
    GAUC is poor, over the clicks alone it is 1; one that inverts the clicks' order gets 0 there."""
    rng = np.random.default_rng(0)
    n = 400
    users = np.repeat(np.arange(8), n // 8)
    click = (rng.random(n) < 0.4).astype(np.int8)
    like = (click == 1) & (rng.random(n) < 0.5)
    table = pd.DataFrame({"user_id": users, "click": click, **{k: np.zeros(n, np.int8) for k in POST_CLICK}})
    table["like"] = like.astype(np.int8)
    table["long_view"] = like.astype(np.int8)
    base = {k: rng.random(n) for k in LABELS}
    good = np.where(click == 1, like.astype(float) * 0.5 + 0.1, 0.9)  # clicks in order, non-clicks above all
    m = evaluate(table, pd.DataFrame({**base, "like": good, "long_view": 1.0 - good}))
    assert m.metrics["gauc_clicked_like"] == 1.0 and m.metrics["gauc_like"] < 0.6
    assert m.metrics["gauc_clicked_long_view"] == 0.0
    assert np.isnan(m.metrics["gauc_clicked_gift"])  # no clicked user with both outcomes
    assert set(m.per_user) == {"mean_gauc"}  # the primary's per-user terms are unchanged


def test_a_split_without_clicks_reports_no_post_click_gauc():
    n = 50
    table = pd.DataFrame({"user_id": np.repeat(np.arange(5), 10), **{k: np.zeros(n, np.int8) for k in LABELS}})
    m = evaluate(table, pd.DataFrame({k: np.linspace(0, 1, n) for k in LABELS}))
    assert all(np.isnan(m.metrics[f"gauc_clicked_{k}"]) for k in POST_CLICK)
