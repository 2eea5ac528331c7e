"""A worked example of a submitted model, outside the benchmark's packages (see docs/submitting.md).

Scores a streamer by how recently and how often the user entered its rooms, blended with how busy
the room is right now. Non-learned, so it declares itself deterministic and runs once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmark.interface import Baseline, Candidates, Context


class RecencyModel(Baseline):
    """exp(-hours since the last visit / half_life) + log1p(visits), plus a little of the room's 5-min entries."""

    tasks = ("ctr", "topk")
    deterministic = True

    def __init__(self, half_life_hours: float = 24.0, busy_weight: float = 0.05):
        super().__init__(half_life_hours=half_life_hours, busy_weight=busy_weight)

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame, ctx: Context) -> None:
        """Nothing to learn."""

    def _score(self, ctx: Context, users, streamers, lives, ts) -> np.ndarray:
        pair = ctx.features.pair_stats(users, streamers, ts)
        hours = np.where(pair["last_click_ts"] >= 0, (ts - pair["last_click_ts"]) / 3.6e6, np.inf)
        busy = ctx.features.moment(lives, ts)["entries_300s"]
        return np.exp(-hours / self.params["half_life_hours"]) + np.log1p(pair["clicks"]) \
            + self.params["busy_weight"] * np.log1p(busy)

    def predict(self, test: pd.DataFrame, ctx: Context) -> np.ndarray:
        s = self._score(ctx, test["user_id"].to_numpy(), test["streamer_id"].to_numpy(),
                        test["live_id"].to_numpy(), test["ts"].to_numpy())
        return 1.0 / (1.0 + np.exp(-(s - 1.0)))

    def score_candidates(self, queries: pd.DataFrame, candidates: Candidates, ctx: Context) -> np.ndarray:
        q = candidates.query_index
        return self._score(ctx, queries["user_id"].to_numpy()[q], candidates.streamer_id, candidates.live_id,
                           queries["ts"].to_numpy()[q])
