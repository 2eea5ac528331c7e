"""The sealed view: what a model is handed, and what it is refused, while fitting and while predicting."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from benchmark.check import DATASET
from benchmark.features import FeatureStore
from benchmark.features.view import FeatureView, FitClock, RowsClock, SealError
from benchmark.interface import Baseline, Candidates, Context
from benchmark.params import ModelSpec
from benchmark.runner import run_one, split_periods

SEEN: dict[str, object] = {}


@pytest.fixture(scope="module")
def store(tiny_data):
    return FeatureStore.open(tiny_data / "features" / DATASET, tiny_data / "processed" / DATASET)


@pytest.fixture(scope="module")
def periods(tiny_data):
    return split_periods(tiny_data, DATASET)


@pytest.fixture(scope="module")
def test_rows(tiny_data):
    return pq.read_table(tiny_data / "tasks" / DATASET / "ctr" / "test.parquet").to_pandas()


def _rows_view(store, periods, rows: pd.DataFrame) -> FeatureView:
    return FeatureView(store, periods, RowsClock.of_rows(*(rows[c].to_numpy() for c in
                                                           ("user_id", "streamer_id", "live_id", "ts", "sample_id"))))


def test_the_view_holds_no_path_no_end_time_and_no_bulk_future(store, periods):
    view = FeatureView(store, periods, FitClock(periods["test"][0]))
    public = {n for n in dir(view) if not n.startswith("_")}
    assert not public & {"live_index", "click_history", "processed_dir", "features_dir", "titles", "train_clicks",
                         "meta", "end", "end_ts"}
    assert not any(isinstance(getattr(view, n), (Path, str)) for n in public)
    assert "end_ts" not in view.rooms(np.array([1]))  # whatever the room, never its end


def test_fitting_answers_up_to_the_test_start_and_no_later(store, periods, test_rows):
    start = periods["test"][0]
    view = FeatureView(store, periods, FitClock(start))
    user = test_rows["user_id"].to_numpy()[:3]
    assert view.history(user, np.full(3, start), 5)["valid"].shape == (3, 5)
    with pytest.raises(SealError, match="up to the start of the test period"):
        view.history(user, np.full(3, start + 1), 5)
    with pytest.raises(SealError, match="test exposure"):
        view.samples(test_rows["sample_id"].to_numpy()[:2])
    with pytest.raises(SealError, match="up to the start"):
        view.candidates(np.array([start + 1]))
    # a room that starts in the test period is unknown while fitting; the store knows it
    rooms = pq.read_table(store.processed_dir / "rooms.parquet", columns=["live_id", "start_ts"]).to_pandas()
    later = rooms["live_id"].to_numpy()[rooms["start_ts"].to_numpy() > start][:5]
    assert later.size and store.rooms(later)["known"].all() and not view.rooms(later)["known"].any()


def test_the_click_log_shows_outcomes_only_when_revealed_before_its_end(store, periods):
    view = FeatureView(store, periods, FitClock(periods["test"][0]))
    cols = store.click_history.cols
    long = np.flatnonzero((cols["ts"] < periods["valid"][0]) & (cols["watch_ms"] > 10_000))
    end = int(cols["ts"][long[long.size // 2]]) + 5_000  # 5 s into a long session
    running = np.flatnonzero((cols["ts"] < end) & (cols["reveal_ts"] >= end))  # sessions running at `end`
    assert running.size
    log = view.click_log(periods["train"][0], end)
    assert log["ts"].max() < end and log["ts"].size == int(((cols["ts"] >= periods["train"][0]) &
                                                            (cols["ts"] < end)).sum())
    mask = np.isin(log["sample_id"], cols["sample_id"][running])
    assert (log["watch_ms"][mask] == -1).all() and (log["watch_ms"][~mask] >= 0).all()
    with pytest.raises(SealError):
        view.click_log(end=periods["test"][0] + 1)


def test_predicting_answers_only_the_rows_handed_over(store, periods, test_rows):
    rows = test_rows.iloc[:50]
    view = _rows_view(store, periods, rows)
    u, s, lv, ts = (rows[c].to_numpy() for c in ("user_id", "streamer_id", "live_id", "ts"))
    view.history(u, ts, 3)
    view.pair_stats(u, s, ts)
    view.moment(lv, ts)
    view.moment(lv, ts - 300_000)                                          # a handed room's past
    view.history(u, ts - 1, 3)
    view.entity_stats("all", None, ts - 300_000)                            # the platform's past
    view.entity_stats("all", None, ts)
    view.samples(rows["sample_id"].to_numpy())
    view.rooms(lv)
    for call in (lambda: view.history(u, ts + 1, 3),                       # a free timestamp
                 lambda: view.history(u + 10**6, ts, 3),                   # a user not handed over
                 lambda: view.entity_stats("all", None, ts + 1),
                 lambda: view.moment(lv, ts + 1),                           # later than handed
                 lambda: view.moment(test_rows["live_id"].to_numpy()[~test_rows["live_id"].isin(lv)][:1],
                                     ts[:1] - 300_000),                    # a room not handed, even earlier
                 lambda: view.samples(test_rows["sample_id"].to_numpy()[60:61]),
                 lambda: view.rooms(test_rows["live_id"].to_numpy()[~test_rows["live_id"].isin(lv)][:1]),
                 lambda: view.click_log(),
                 lambda: view.candidates(ts),
                 lambda: view.known_streamers()):
        with pytest.raises(SealError):
            call()


class Spy(Baseline):
    """Records what the harness hands a model."""

    tasks = ("ctr", "topk")
    deterministic = True

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame, ctx: Context) -> None:
        SEEN.update(fit_cwd=os.getcwd(), work_dir=ctx.work_dir, oracle=ctx.oracle, fit_view=ctx.features.fitting,
                    train_columns=list(train.columns))

    def predict(self, test: pd.DataFrame, ctx: Context) -> np.ndarray:
        SEEN.update(test_columns=list(test.columns), predict_view=ctx.features.fitting)
        return np.zeros(len(test))

    def score_candidates(self, queries: pd.DataFrame, candidates: Candidates, ctx: Context) -> np.ndarray:
        SEEN.update(query_columns=list(queries.columns), query_ids=queries["query_id"].to_numpy())
        return np.zeros(candidates.streamer_id.size)


class OracleSpy(Spy):
    uses_oracle = True


def test_a_run_hands_keys_without_labels_a_fresh_folder_and_no_oracle(tiny_data, tmp_path):
    rec = run_one(DATASET, "ctr", ModelSpec("spy", "tests.test_view:Spy"), 0, tiny_data, tmp_path / "runs")[0]
    assert rec["status"] == "ok" and rec["uses_oracle"] is False
    assert SEEN["test_columns"] == ["sample_id", "user_id", "streamer_id", "live_id", "ts"]
    assert "click" in SEEN["train_columns"] and SEEN["fit_view"] and not SEEN["predict_view"]
    work = Path(SEEN["work_dir"])
    assert Path(SEEN["fit_cwd"]) == work and not work.exists()            # fresh, removed after the run
    assert tmp_path not in work.parents and Path.cwd() not in work.parents
    assert SEEN["oracle"] is None
    rec = run_one(DATASET, "topk", ModelSpec("spy", "tests.test_view:Spy"), 0, tiny_data, tmp_path / "runs")[0]
    assert rec["status"] == "ok" and SEEN["query_columns"] == ["query_id", "user_id", "ts"]
    test = pq.read_table(tiny_data / "tasks" / DATASET / "topk" / "test.parquet").to_pandas()
    q = SEEN["query_ids"]  # the last chunk's: positions in the query table, joining to no exposure
    assert np.array_equal(q, np.arange(q[0], q[0] + q.size)) and q[-1] == len(test) - 1


def test_only_a_declared_oracle_user_gets_the_oracle(tiny_data, tmp_path):
    rec = run_one(DATASET, "ctr", ModelSpec("spy", "tests.test_view:OracleSpy"), 0, tiny_data, tmp_path)[0]
    assert rec["status"] == "ok" and rec["uses_oracle"] is True
    assert SEEN["oracle"] is not None and hasattr(SEEN["oracle"], "click_prob")
