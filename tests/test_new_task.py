"""A task is one module: a small task defined here, registered, runs through build, run, significance
and leaderboard without any of them naming it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from benchmark.compare import significance_stage
from benchmark.errors import ModelError
from benchmark.interface import Baseline, Context
from benchmark.io import significance_path
from benchmark.leaderboard import leaderboard_stage
from benchmark.params import parse_params
from benchmark.runner import run_model_stage
from benchmark.tasks import TASKS, build_tasks, get_task
from benchmark.tasks.base import Task, by_split
from benchmark.tasks.scoring import Evaluation, MetricPlan, binary_metrics

DATASET = "sim-tiny-s0"


# --- the whole task: samples and label, scoring, tested metrics ------------------------------------
def build(ex: dict[str, np.ndarray], params, store=None):
    """Clicks; label = the viewer stayed at least twice the long-view threshold."""
    long_ms = 2 * params.features.long_view_seconds * 1000
    return by_split(ex, ex["click"] == 1, {"stayed": (ex["watch_ms"] >= long_ms).astype(np.int8)}), {}


def evaluate(table: pd.DataFrame, scores: np.ndarray) -> Evaluation:
    m, per_user = binary_metrics(table["stayed"].to_numpy(), scores, table["user_id"].to_numpy())
    return Evaluation(m, {"gauc": per_user})


STAYED = Task("stayed", "click", ("stayed",), "binary", "gauc", ("auc",), build, evaluate,
              tests=(MetricPlan("gauc", "per_user"), MetricPlan("auc", "global", "stayed", "score", "auc")))


# --- two models for it ---------------------------------------------------------------------------
class Habit(Baseline):
    """Rooms of streamers whose viewers stayed before hold viewers again: the streamer's long-view rate."""

    tasks = ("stayed",)
    deterministic = True

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame, ctx: Context) -> None:
        """Nothing to learn."""

    def predict(self, test: pd.DataFrame, ctx: Context) -> np.ndarray:
        s = ctx.features.entity_stats("streamer_id", test["streamer_id"].to_numpy(), test["ts"].to_numpy())
        return (s["long_view"] + 1.0) / (s["revealed"] + 2.0)


class Coin(Habit):
    """A fixed pseudo-random score per sample: the floor."""

    def predict(self, test: pd.DataFrame, ctx: Context) -> np.ndarray:
        return (test["sample_id"].to_numpy() * 2654435761 % 1000) / 1000.0


@pytest.fixture
def stayed(monkeypatch):
    monkeypatch.setitem(TASKS, "stayed", STAYED)
    return STAYED


def test_a_task_defined_in_one_module_runs_end_to_end(stayed, tiny_data, tmp_path):
    data = tmp_path / "data"
    for stage in ("raw", "processed", "split", "features"):
        (data / stage).mkdir(parents=True)
        (data / stage / DATASET).symlink_to(tiny_data / stage / DATASET)
    raw = {"dataset": DATASET, "seeds": [0], "threads": 1,
           "models": {"Habit": {"class": "tests.test_new_task:Habit"}, "Coin": {"class": "tests.test_new_task:Coin"}},
           "tasks": {"stayed": {"models": ["Habit", "Coin"], "reference": "Coin"}},
           "significance": {"n_resamples": 200, "n_cluster_resamples": 50}}
    params = parse_params(raw)
    build_tasks(data / "processed" / DATASET, data / "split" / DATASET, data / "features" / DATASET,
                data / "tasks" / DATASET, params, tasks=["stayed"], quiet=True)
    meta = json.loads((data / "tasks" / DATASET / "stayed" / "task.json").read_text())
    assert meta["labels"] == ["stayed"] and meta["primary_metric"] == "gauc"

    runs = tmp_path / "runs"
    for model in ("Habit", "Coin"):
        (rec,) = run_model_stage(params, "stayed", model, data, runs, quiet=True)
        assert rec["status"] == "ok", rec.get("error")
        assert set(rec["valid_metrics"]) >= {"auc", "gauc"}
    habit = json.loads((runs / DATASET / "stayed" / "Habit" / "seed0" / "metrics.json").read_text())
    assert habit["metrics"]["gauc"] > 0.5 and "breakdown/time=peak/gauc" in habit["metrics"]

    sig = significance_stage(params, runs, data, significance_path(runs, DATASET), quiet=True)
    assert {(c["model"], c["metric"], c["status"]) for c in sig["comparisons"]} == {
        ("Habit", "gauc", "ok"), ("Habit", "auc", "ok")}
    leaderboard_stage(params, runs, data, tmp_path / "board", quiet=True)
    page = (tmp_path / "board" / "stayed.md").read_text()
    assert page.startswith("# stayed") and "Habit" in page and "Coin" in page
    results = json.loads((tmp_path / "board" / "results.json").read_text())
    assert results["tasks"]["stayed"]["primary_test"] == "per_user"


def test_the_task_checks_a_models_output(stayed):
    ok = stayed.check_output(np.array([0.1, 0.9]), 2)
    assert ok.dtype == np.float64 and ok.shape == (2,)
    assert stayed.check_output(np.zeros(0), 0).shape == (0,)       # an empty split is no error
    with pytest.raises(ModelError, match=r"first at row 1\)"):
        get_task("multi_behavior").check_output(pd.DataFrame({k: [0.1, np.inf] for k in get_task(
            "multi_behavior").labels}), 2)
    with pytest.raises(ModelError, match="stayed: predict returned 3 scores for 2 samples"):
        stayed.check_output(np.zeros(3), 2)
    with pytest.raises(ModelError, match=r"1 NaN or infinite scores \(first at row 1\)"):
        stayed.check_output(np.array([0.5, np.nan]), 2)
    multi = get_task("multi_behavior")
    with pytest.raises(ModelError, match="DataFrame with columns"):
        multi.check_output(np.zeros(2), 2)


def test_a_task_spec_that_contradicts_itself_is_refused():
    with pytest.raises(ValueError, match="kind must be one of"):
        Task("x", "click", ("y",), "ordinal", "gauc", (), build, evaluate)
    with pytest.raises(ValueError, match="first tested metric must be the primary"):
        Task("x", "click", ("y",), "binary", "gauc", (), build, evaluate, tests=(MetricPlan("auc", "global"),))
