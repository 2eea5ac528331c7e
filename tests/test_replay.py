"""The streaming protocol through the runner, on tiny: one fit gives a static row and a row per stream;
predict comes before reveal, so a model that remembers every revealed label by sample (or, on topk, by the
user's click) gains nothing, while one that learns from other samples online does; deterministic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from benchmark.interface import Baseline, Candidates, Context
from benchmark.io import run_folder
from benchmark.params import ModelSpec
from benchmark.replay import gather, period_stream, replay, revealed_frame
from benchmark.runner import run_one, split_periods
from benchmark.streaming import LABELS, TICK_MS

DATASET = "sim-tiny-s0"
BOTH = ("moment", "fast_slow")


class RemembersSamples(Baseline):
    """Scores a sample by its own revealed click, a query by the streamer its user was revealed clicking at
    that very time: a leak if the replay ever revealed a sample's label before scoring it. It also leaves
    what it saw in its work directory and reads it back when it starts scoring: a leak if one row's replay
    could hand its labels to the next."""

    tasks = ("ctr", "topk")

    def fit(self, train, valid, ctx):
        self.seen = np.full(1 << 20, 0.5)   # by sample_id (tiny's ids are below 2**20)
        self.clicked = pd.Series(dtype=float)
        self.updates = 0

    def predict(self, test: pd.DataFrame, ctx: Context) -> np.ndarray:
        left = Path(ctx.work_dir) / "seen.npy"
        if self.updates == 0 and left.exists():
            self.seen = np.load(left)
        return self.seen[test["sample_id"].to_numpy()]

    def score_candidates(self, queries: pd.DataFrame, candidates: Candidates, ctx: Context) -> np.ndarray:
        q = queries.iloc[candidates.query_index]
        key = pd.MultiIndex.from_arrays([q["user_id"].to_numpy(), q["ts"].to_numpy(), candidates.streamer_id])
        return self.clicked.reindex(key).fillna(0.0).to_numpy()

    def update(self, revealed: pd.DataFrame, ctx: Context) -> None:
        known = revealed[revealed["click"].notna()]
        self.seen[known["sample_id"].to_numpy()] = known["click"].to_numpy()
        self.updates += 1
        if self.updates % 500 == 0:
            np.save(Path(ctx.work_dir) / "seen.npy", self.seen)
        if ctx.task == "topk":
            c = known[known["click"] == 1]
            key = pd.MultiIndex.from_arrays([c["user_id"].to_numpy(), c["ts"].to_numpy(), c["streamer_id"].to_numpy()])
            self.clicked = pd.concat([self.clicked, pd.Series(1.0, index=key)])


class RecentStreamerClicks(RemembersSamples):
    """Clicks revealed so far on the sample's streamer: other samples' labels, learned online."""

    tasks = ("ctr",)

    def fit(self, train, valid, ctx):
        self.clicks = np.zeros(1 << 20)     # by streamer_id

    def predict(self, test: pd.DataFrame, ctx: Context) -> np.ndarray:
        return self.clicks[test["streamer_id"].to_numpy()]

    def update(self, revealed: pd.DataFrame, ctx: Context) -> None:
        click = revealed["click"].to_numpy()
        known = ~np.isnan(click)
        np.add.at(self.clicks, revealed["streamer_id"].to_numpy()[known], click[known])


class Frozen(RecentStreamerClicks):
    """Declared streaming in a test, but without an update method."""

    update = Baseline.update


class CountsCalls(Frozen):
    """Scores every row with how many times it predicted before: 0 on a copy taken before any prediction."""

    def fit(self, train, valid, ctx):
        self.calls = 0

    def predict(self, test: pd.DataFrame, ctx: Context) -> np.ndarray:
        self.calls += 1
        return np.full(len(test), self.calls - 1.0)

    def update(self, revealed: pd.DataFrame, ctx: Context) -> None:
        """Learns nothing, but is an update."""


class FailsFit(CountsCalls):
    def fit(self, train, valid, ctx):
        raise RuntimeError("planted fit failure")


def _run(task: str, name: str, tiny_data, runs, streams=BOTH) -> dict[str, dict]:
    spec = ModelSpec(name, f"tests.test_replay:{name}", streams=streams)
    return {r["model"]: r for r in run_one(DATASET, task, spec, 0, tiny_data, runs, quiet=True)}


def _scores(runs, task: str, row: str) -> pd.DataFrame:
    return pq.read_table(run_folder(runs, DATASET, task, row) / "seed0" / "predictions.parquet").to_pandas()


@pytest.fixture(scope="module")
def remembered(tiny_data, tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    return runs, {t: _run(t, "RemembersSamples", tiny_data, runs) for t in ("ctr", "topk")}


def test_one_fit_gives_a_static_row_and_a_row_per_stream(remembered):
    runs, recs = remembered
    assert list(recs["ctr"]) == ["RemembersSamples", "RemembersSamples@moment", "RemembersSamples@fast_slow"]
    static, moment = recs["ctr"]["RemembersSamples"], recs["ctr"]["RemembersSamples@moment"]
    assert moment["fit_shared_with"] == "RemembersSamples" and moment["train_seconds"] == static["train_seconds"]
    assert (run_folder(runs, DATASET, "ctr", "RemembersSamples@moment") ==
            runs / DATASET / "ctr" / "RemembersSamples" / "@moment")
    for rec in recs["ctr"].values():
        assert rec["status"] == "ok", rec.get("error")


@pytest.mark.parametrize("stream", BOTH)
def test_remembering_revealed_labels_gains_nothing(remembered, stream):
    runs, recs = remembered
    row = f"RemembersSamples@{stream}"
    assert (_scores(runs, "ctr", row)["score"] == 0.5).all()   # no sample's own label arrived before its score
    replayed = recs["ctr"][row]["replay"]
    assert replayed["revealed_rows"] > 0 and replayed["update_calls"] > 100
    # topk: the user's click at the query's own time is revealed only after the query was ranked
    top = recs["topk"][row]
    assert top["status"] == "ok", top.get("error")
    assert top["metrics"]["ndcg@10"] == recs["topk"]["RemembersSamples"]["metrics"]["ndcg@10"]
    assert np.array_equal(_scores(runs, "topk", row)["target_rank"],
                          _scores(runs, "topk", "RemembersSamples")["target_rank"])


def test_learning_from_other_samples_online_gains_and_is_deterministic(tiny_data, tmp_path):
    recs = _run("ctr", "RecentStreamerClicks", tiny_data, tmp_path / "a", ("moment",))
    assert recs["RecentStreamerClicks"]["metrics"]["auc"] == 0.5   # the static row: nothing revealed, all ties
    assert recs["RecentStreamerClicks@moment"]["metrics"]["auc"] > 0.55
    _run("ctr", "RecentStreamerClicks", tiny_data, tmp_path / "b", ("moment",))
    assert _scores(tmp_path / "a", "ctr", "RecentStreamerClicks@moment").equals(
        _scores(tmp_path / "b", "ctr", "RecentStreamerClicks@moment"))


def test_a_streaming_row_without_update_fails_alone(tiny_data, tmp_path):
    recs = _run("ctr", "Frozen", tiny_data, tmp_path, ("moment",))
    assert recs["Frozen"]["status"] == "ok"
    assert recs["Frozen@moment"]["status"] == "failed" and "no update method" in recs["Frozen@moment"]["error"]


def test_a_failed_fit_fails_every_row_of_it(tiny_data, tmp_path):
    recs = _run("ctr", "FailsFit", tiny_data, tmp_path)
    assert [r["status"] for r in recs.values()] == ["failed"] * 3
    assert all(r["error"] == "RuntimeError: planted fit failure" for r in recs.values())
    assert "planted fit failure" in (run_folder(tmp_path, DATASET, "ctr", "FailsFit@fast_slow") / "seed0" /
                                     "traceback.txt").read_text()


def test_each_stream_starts_from_the_fit_not_from_the_static_rows_predictions(tiny_data, tmp_path):
    recs = _run("ctr", "CountsCalls", tiny_data, tmp_path, ("moment",))
    assert recs["CountsCalls@moment"]["status"] == "ok"
    assert (_scores(tmp_path, "ctr", "CountsCalls")["score"] == 0).all()      # one call for the whole test split
    replayed = _scores(tmp_path, "ctr", "CountsCalls@moment").merge(
        pq.read_table(tiny_data / "tasks" / DATASET / "ctr" / "test.parquet", columns=["sample_id", "ts"]).to_pandas())
    first_tick = replayed["ts"] // TICK_MS == replayed["ts"].min() // TICK_MS
    assert (replayed.loc[first_tick, "score"] == 0).all() and replayed["score"].max() > 100


def test_revealed_rows_carry_keys_every_label_and_the_flag(tiny_data):
    test = split_periods(tiny_data, DATASET)["test"]
    for stream, flag in (("moment", "first_only"), ("fast_slow", "slow")):
        rows = period_stream(tiny_data / "processed" / DATASET, test, stream, 60_000)
        keys = ["sample_id", "user_id", "streamer_id", "live_id", "ts"]
        assert list(rows.columns) == [*keys, *LABELS, "reveal_ts", flag]
        assert (rows["reveal_ts"] >= rows["ts"]).all() and rows["reveal_ts"].is_monotonic_increasing
        assert rows[list(LABELS)].notna().any(axis=1).all()   # every row reveals something
        assert not rows.duplicated(["sample_id", "reveal_ts", flag]).any()


def test_replay_predicts_each_tick_before_revealing_it():
    """Planted: samples at 5 s and 25 s of tick 0, at exactly 30 s and at 31 s; the 5 s sample's label is
    revealed at 6 s, the 30 s sample's at its own millisecond, the boundary of tick 1."""
    ts = np.array([25_000, 5_000, 31_000, 30_000])
    revealed = pd.DataFrame({"sample_id": [1, 3], "reveal_ts": [6_000, 30_000]})
    events: list = []
    stats = replay(ts, revealed, lambda pos: events.append(("predict", sorted(pos.tolist()))),
                   lambda rows: events.append(("update", rows["sample_id"].tolist())))
    assert events == [("predict", [0, 1]), ("update", [1]), ("predict", [2, 3]), ("update", [3])]
    assert stats["ticks"] == 2 and stats["update_calls"] == 2 and TICK_MS == 30_000
    parts = [(np.array([1, 0]), np.array([0.1, 0.2])), (np.array([2]), np.array([0.3]))]
    assert gather(parts, 3).tolist() == [0.2, 0.1, 0.3]


def test_every_positive_arrives_even_two_at_the_same_time():
    """Planted: a first like at 100 ms; at the session's end (200 ms) two more likes snapped there and the
    comment negative: three rows, the repeated like on a row of its own."""
    revelations = pd.DataFrame({"sample_id": [7, 7, 7, 7], "label": ["like", "like", "like", "comment"],
                                "value": [1.0, 1.0, 1.0, 0.0], "reveal_ts": [100, 200, 200, 200],
                                "first_only": [True, False, False, False]})
    ex = {"sample_id": np.array([7]), "user_id": np.array([1]), "streamer_id": np.array([2]),
          "live_id": np.array([3]), "ts": np.array([50])}
    rows = revealed_frame(revelations, ex, "first_only")
    assert rows[["reveal_ts", "first_only", "like", "comment"]].fillna(-1).values.tolist() == [
        [100, True, 1.0, -1], [200, False, 1.0, 0.0], [200, False, 1.0, -1]]
    assert (rows["user_id"] == 1).all() and rows["like"].sum() == 3
