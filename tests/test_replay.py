"""The streaming replay on tiny's ctr test period: predict first, then reveal, so a model that remembers
every revealed label by sample gains nothing, while one that learns from other samples does."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from benchmark import metrics as M
from benchmark.features import FeatureStore
from benchmark.features.view import FeatureView, FitClock
from benchmark.interface import Baseline, Context
from benchmark.replay import replay, revealed_frame
from benchmark.runner import load_split, predict_rows, split_periods
from benchmark.streaming import moment_schedule, reveal_inputs
from benchmark.tasks import get_task

DATASET = "sim-tiny-s0"


class RemembersSamples(Baseline):
    """Scores a sample by its own label if it was ever revealed: a leak if the replay allowed one."""

    tasks = ("ctr",)

    def fit(self, train, valid, ctx):
        self.seen: dict[int, float] = {}

    def predict(self, test: pd.DataFrame, ctx: Context) -> np.ndarray:
        return np.array([self.seen.get(int(s), 0.5) for s in test["sample_id"]])

    def update(self, revealed: pd.DataFrame, ctx: Context) -> None:
        self.seen.update(zip(revealed["sample_id"].astype(int), revealed["click"], strict=True))


class RecentStreamerClicks(RemembersSamples):
    """Clicks revealed so far on the sample's streamer: other samples' labels, learned online."""

    def fit(self, train, valid, ctx):
        self.clicks: dict[int, float] = {}

    def predict(self, test: pd.DataFrame, ctx: Context) -> np.ndarray:
        return np.array([self.clicks.get(int(s), 0.0) for s in test["streamer_id"]])

    def update(self, revealed: pd.DataFrame, ctx: Context) -> None:
        for s, c in zip(revealed["streamer_id"].astype(int), revealed["click"], strict=True):
            self.clicks[s] = self.clicks.get(s, 0.0) + c


@pytest.fixture(scope="module")
def world(tiny_data):
    task_dir = tiny_data / "tasks" / DATASET / "ctr"
    test = load_split(task_dir, "test")
    ex, events = reveal_inputs(tiny_data / "processed" / DATASET, test["sample_id"].to_numpy())
    revealed = revealed_frame(moment_schedule(ex, events, 60_000), test, ("click",), "first_only")
    store = FeatureStore.open(tiny_data / "features" / DATASET, tiny_data / "processed" / DATASET)
    periods = split_periods(tiny_data, DATASET)
    return test, revealed, store, periods


def _replay(model_cls, world, tmp_path):
    test, revealed, store, periods = world
    spec = get_task("ctr")
    ctx = Context(task="ctr", seed=0, device="cpu", work_dir=tmp_path, labels=spec.labels, kind=spec.kind,
                  features=FeatureView(store, periods, FitClock(periods["test"][0])), quiet=True)
    model = model_cls()
    model.fit(None, None, ctx)
    keys = test[["sample_id", "user_id", "streamer_id", "live_id", "ts"]]
    scores, stats = replay(keys, revealed, lambda rows: predict_rows(model, spec, rows, store, periods, ctx),
                           lambda rev: model.update(rev, replace(ctx)))
    return scores, stats


def test_remembering_revealed_labels_by_sample_gains_nothing(world, tmp_path):
    test, revealed, _, _ = world
    scores, stats = _replay(RemembersSamples, world, tmp_path)
    assert (scores == 0.5).all()            # no sample's own label ever arrived before it was scored
    assert stats["revealed_rows"] == len(revealed) and stats["update_calls"] > 100


def test_learning_from_other_samples_online_does_gain(world, tmp_path):
    test, _, _, _ = world
    scores, _ = _replay(RecentStreamerClicks, world, tmp_path)
    assert M.auc(test["click"].to_numpy(), scores) > 0.55
    again, _ = _replay(RecentStreamerClicks, world, tmp_path)
    assert np.array_equal(scores, again)    # deterministic


def test_revealed_rows_carry_keys_labels_and_flag(world):
    test, revealed, _, _ = world
    assert list(revealed.columns) == ["sample_id", "user_id", "streamer_id", "live_id", "ts", "click",
                                      "reveal_ts", "first_only"]
    assert (revealed["reveal_ts"] >= revealed["ts"]).all()
    assert revealed["sample_id"].nunique() == len(test)
