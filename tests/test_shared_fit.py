"""Shared fits on tiny: one fit per seed on the table of every label feeds each listed task's row; the fit is
saved, and a model under shared_with_input gets it loaded; failures stay in their own rows; params say which
rows come from a shared fit and refuse what cannot run."""

from __future__ import annotations

import json
from types import MappingProxyType

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from benchmark.check import input_of
from benchmark.errors import BenchmarkError
from benchmark.interface import Baseline, Context
from benchmark.io import run_folder
from benchmark.params import ModelSpec, SharedFit, parse_params, read_params_file
from benchmark.runner import run_model_stage
from benchmark.shared_fit import SHARED_LABELS, fit_folder, run_shared, run_shared_stage, shared_table

DATASET = "sim-tiny-s0"
FOUR = ("ctr", "multi_behavior", "watch_time", "gift_price")
MLP = ModelSpec("MultiTaskMLP", "baselines.multitask_mlp:MultiTaskMLP", params=MappingProxyType({"epochs": 1}))


class SeesLabels(Baseline):
    """Records what its shared fit was handed; scores each row with its user's train click rate."""

    tasks = ("ctr", "watch_time")
    shared_fit = True
    seen: dict = {}

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame, ctx: Context) -> None:
        SeesLabels.seen = {"columns": list(train.columns), "task": ctx.task, "tasks": ctx.tasks,
                           "labels": ctx.labels, "kind": ctx.kind, "n": len(train)}
        self.rate = train.groupby("user_id")["click"].mean()
        self.ctx = ctx  # a harness object held by the model: saved by name, never pickled
        (ctx.work_dir / "fit-note.txt").write_text("left by the fit")  # restored for a model loading it

    def predict(self, test: pd.DataFrame, ctx: Context) -> np.ndarray:
        return self.rate.reindex(test["user_id"]).fillna(0.0).to_numpy()


class CopiesInput(Baseline):
    """Predicts exactly what its input fit predicts (loaded by the harness from the input's stage)."""

    tasks = ("ctr", "watch_time")
    shared_fit = True

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame, ctx: Context) -> None:
        (name,) = ctx.inputs
        self.source = ctx.inputs[name]
        assert self.source.ctx is ctx, "a loaded fit's harness references are the loader's own"
        assert (ctx.work_dir / "fit-note.txt").read_text() == "left by the fit"

    def predict(self, test: pd.DataFrame, ctx: Context) -> np.ndarray:
        return self.source.predict(test, ctx)


class FailsSharedFit(SeesLabels):
    def fit(self, train, valid, ctx):
        raise RuntimeError("planted shared fit failure")


class NotShared(SeesLabels):
    shared_fit = False


class SeesOnce(SeesLabels):
    deterministic = True


class Unpicklable(SeesLabels):
    def fit(self, train, valid, ctx):
        super().fit(train, valid, ctx)
        self.hook = lambda: None  # pickle cannot write a lambda


def _spec(name: str) -> ModelSpec:
    return ModelSpec(name, f"tests.test_shared_fit:{name}")


def _scores(runs, task: str, model: str) -> np.ndarray:
    path = run_folder(runs, DATASET, task, model, shared=True) / "seed0" / "predictions.parquet"
    return pq.read_table(path).column("score").to_numpy()


@pytest.fixture(scope="module")
def mlp_runs(tiny_data, tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    return runs, run_shared(DATASET, SharedFit("MultiTaskMLP", FOUR), MLP, 0, tiny_data, runs, threads=1, quiet=True)


def test_the_shared_table_holds_every_label_with_values_on_clicks_only(tiny_data):
    table = shared_table(tiny_data / "tasks" / DATASET, "train")
    assert set(SHARED_LABELS) <= set(table.columns)
    ctr = pq.read_table(tiny_data / "tasks" / DATASET / "ctr" / "train.parquet").to_pandas()
    assert np.array_equal(table["sample_id"], ctr["sample_id"]) and np.array_equal(table["click"], ctr["click"])
    clicked = table["click"].to_numpy() == 1
    assert table.loc[~clicked, ["watch_s", "gift_value"]].isna().all().all()
    assert table.loc[clicked, ["watch_s", "gift_value"]].notna().all().all()


def test_one_fit_writes_a_row_per_listed_task_and_saves_the_fit(mlp_runs):
    runs, recs = mlp_runs
    assert [r["task"] for r in recs] == list(FOUR)
    for r in recs:
        assert r["status"] == "ok", r.get("error")
        assert r["shared_fit"] == list(FOUR) and r["train_seconds"] == recs[0]["train_seconds"]
        assert r["n_train"] == recs[0]["n_train"]  # every exposure, once
        assert (run_folder(runs, DATASET, r["task"], "MultiTaskMLP", shared=True) / "seed0" / "metrics.json").exists()
    assert run_folder(runs, DATASET, "ctr", "MultiTaskMLP", shared=True) == \
        runs / DATASET / "shared" / "MultiTaskMLP" / "ctr"
    saved = fit_folder(runs, DATASET, "MultiTaskMLP", 0)
    assert (saved / "model.pkl").stat().st_size > 0
    assert json.loads((saved / "fit.json").read_text())["status"] == "ok"
    mb = pq.read_table(run_folder(runs, DATASET, "multi_behavior", "MultiTaskMLP", shared=True) / "seed0" /
                       "predictions.parquet").to_pandas()
    assert {"click", "long_view", "like", "comment", "gift"} <= set(mb.columns)


def test_a_shared_fit_is_deterministic(mlp_runs, tiny_data, tmp_path):
    runs, _ = mlp_runs
    run_shared(DATASET, SharedFit("MultiTaskMLP", ("ctr",)), MLP, 0, tiny_data, tmp_path, threads=1, quiet=True)
    assert np.array_equal(_scores(runs, "ctr", "MultiTaskMLP"), _scores(tmp_path, "ctr", "MultiTaskMLP"))


def test_the_fit_sees_every_label_and_predicts_each_task(tiny_data, tmp_path):
    recs = run_shared(DATASET, SharedFit("SeesLabels", ("ctr", "watch_time")), _spec("SeesLabels"), 0, tiny_data,
                      tmp_path, quiet=True)
    assert all(r["status"] == "ok" for r in recs), [r.get("error") for r in recs]
    seen = SeesLabels.seen
    assert set(SHARED_LABELS) <= set(seen["columns"]) and seen["task"] == "shared" and seen["kind"] == "shared"
    assert seen["tasks"] == ("ctr", "watch_time") and seen["labels"] == SHARED_LABELS


def test_a_model_loads_another_fit_as_its_input(tiny_data, tmp_path):
    run_shared(DATASET, SharedFit("SeesLabels", ("ctr", "watch_time")), _spec("SeesLabels"), 0, tiny_data,
               tmp_path, quiet=True)
    recs = run_shared(DATASET, SharedFit("CopiesInput", ("ctr", "watch_time"), input="SeesLabels"),
                      _spec("CopiesInput"), 0, tiny_data, tmp_path, quiet=True)
    assert all(r["status"] == "ok" for r in recs), [r.get("error") for r in recs]
    assert recs[0]["fit_input"] == "SeesLabels"
    for task in ("ctr", "watch_time"):
        assert np.array_equal(_scores(tmp_path, task, "CopiesInput"), _scores(tmp_path, task, "SeesLabels"))


def test_a_deterministic_input_serves_every_seed_of_its_loader(tiny_data, tmp_path):
    run_shared(DATASET, SharedFit("SeesOnce", ("ctr",)), _spec("SeesOnce"), 0, tiny_data, tmp_path, quiet=True)
    rec = run_shared(DATASET, SharedFit("CopiesInput", ("ctr",), input="SeesOnce"), _spec("CopiesInput"), 1,
                     tiny_data, tmp_path, quiet=True)[0]
    assert rec["status"] == "ok", rec.get("error")


def test_a_fit_that_cannot_be_saved_still_gives_its_rows(tiny_data, tmp_path):
    rec = run_shared(DATASET, SharedFit("Unpicklable", ("ctr",)), _spec("Unpicklable"), 0, tiny_data, tmp_path,
                     quiet=True)[0]
    assert rec["status"] == "ok", rec.get("error")
    meta = json.loads((fit_folder(tmp_path, DATASET, "Unpicklable", 0) / "fit.json").read_text())
    assert meta["status"] == "failed" and "could not be saved" in meta["error"]
    after = run_shared(DATASET, SharedFit("CopiesInput", ("ctr",), input="Unpicklable"), _spec("CopiesInput"), 0,
                       tiny_data, tmp_path, quiet=True)[0]
    assert after["status"] == "failed" and "could not be saved" in after["error"]


def test_an_input_fitted_on_another_device_is_refused(tiny_data, tmp_path):
    run_shared(DATASET, SharedFit("SeesLabels", ("ctr",)), _spec("SeesLabels"), 0, tiny_data, tmp_path, quiet=True)
    meta_path = fit_folder(tmp_path, DATASET, "SeesLabels", 0) / "fit.json"
    meta_path.write_text(json.dumps({**json.loads(meta_path.read_text()), "device": "cuda"}))
    rec = run_shared(DATASET, SharedFit("CopiesInput", ("ctr",), input="SeesLabels"), _spec("CopiesInput"), 0,
                     tiny_data, tmp_path, quiet=True)[0]
    assert rec["status"] == "failed" and "fitted on cuda and this run is on cpu" in rec["error"]


def test_a_failed_fit_fails_every_row_and_its_dependants(tiny_data, tmp_path):
    recs = run_shared(DATASET, SharedFit("FailsSharedFit", ("ctr", "watch_time")), _spec("FailsSharedFit"), 0,
                      tiny_data, tmp_path, quiet=True)
    assert [r["status"] for r in recs] == ["failed", "failed"]
    assert all("planted shared fit failure" in r["error"] for r in recs)
    folder = run_folder(tmp_path, DATASET, "ctr", "FailsSharedFit", shared=True) / "seed0"
    assert "planted shared fit failure" in (folder / "traceback.txt").read_text()
    after = run_shared(DATASET, SharedFit("CopiesInput", ("ctr",), input="FailsSharedFit"), _spec("CopiesInput"), 0,
                       tiny_data, tmp_path, quiet=True)
    assert after[0]["status"] == "failed" and "input fit failed" in after[0]["error"]


def test_a_class_must_declare_shared_fit_and_support_the_tasks(tiny_data, tmp_path):
    rec = run_shared(DATASET, SharedFit("NotShared", ("ctr",)), _spec("NotShared"), 0, tiny_data, tmp_path,
                     quiet=True)[0]
    assert rec["status"] == "failed" and "shared_fit = True" in rec["error"]
    rec = run_shared(DATASET, SharedFit("SeesLabels", ("gift_price",)), _spec("SeesLabels"), 0, tiny_data, tmp_path,
                     quiet=True)[0]
    assert rec["status"] == "failed" and "does not support task 'gift_price'" in rec["error"]


BASE = {"dataset": "sim-tiny-s0",
        "models": {"A": {"class": "m:A"}, "B": {"class": "m:B"}, "C": {"class": "m:C"}},
        "tasks": {"ctr": {"models": ["A"], "reference": "A"}, "watch_time": {"models": ["A"], "reference": "A"}}}


def test_params_add_a_shared_fit_row_to_each_listed_task():
    p = parse_params({**BASE, "shared": {"B": {"tasks": ["ctr", "watch_time"]}},
                      "shared_with_input": {"C": {"tasks": ["ctr"], "input": "B"}}})
    assert p.tasks["ctr"].rows == ("A", "B", "C") and p.tasks["ctr"].shared == ("B", "C")
    assert p.tasks["watch_time"].rows == ("A", "B")
    assert p.shared["C"] == SharedFit("C", ("ctr",), "B")


def test_check_finds_a_models_input_in_the_chosen_block_or_in_the_sets():
    raw = {"shared_with_input": {"C": {"tasks": ["ctr"], "input": "B"}},
           "shared_with_input_sets": {"default": {}, "kuaishou": {"E": {"tasks": ["topk"], "input": "PLE"}}}}
    assert (input_of(raw, "C"), input_of(raw, "E"), input_of(raw, "A")) == ("B", "PLE", None)
    assert input_of(read_params_file("params.yaml"), "OneLive+GRPO") == "PLE"   # the kuaishou set's


@pytest.mark.parametrize("extra, message", [
    ({"shared": {"Z": {"tasks": ["ctr"]}}}, "no model 'Z'"),
    ({"shared": {"B": {"tasks": []}}}, "non-empty list"),
    ({"shared": {"B": {"tasks": ["nope"]}}}, "shared.B.tasks: unknown task 'nope'"),
    ({"shared": {"B": {"tasks": ["topk"]}}}, "lists topk, which has no board under tasks"),
    ({"shared": {"B": {"tasks": ["ctr"]}}, "shared_with_input": {"C": {"tasks": ["ctr"], "input": "D"},
                                                                 "D": {"tasks": ["ctr"], "input": "C"}},
      "models": {**BASE["models"], "D": {"class": "m:D"}}}, "run in a circle: C -> D -> C"),
    ({"shared": {"B": ["ctr"]}}, "must be {tasks}"),
    ({"shared": {"A": {"tasks": ["ctr"]}}}, "lists 'A', a shared fit"),
    ({"shared_with_input": {"C": {"tasks": ["ctr"], "input": "A"}}}, "must name another model under shared"),
    ({"shared_with_input": {"C": {"tasks": ["ctr"]}}}, "must be {input, tasks}"),
    ({"shared": {"B": {"tasks": ["ctr"]}}, "shared_with_input": {"B": {"tasks": ["ctr"], "input": "B"}}},
     "under both"),
])
def test_params_refuse_a_shared_fit_that_cannot_run(extra, message):
    with pytest.raises(BenchmarkError, match=message):
        parse_params({**BASE, **extra})


def test_a_model_may_run_a_subset_of_the_seeds_and_its_rows_are_then_unranked():
    """`models.<name>.seeds` (an ablation's one seed): a subset of the board's seeds, whose rows on every task,
    a shared fit's and streams included, are kept off the ranking (their interval cannot count their own seed
    variance); a seed the board lacks is refused, and without the field a model runs every seed, ranked."""
    board = {**BASE, "seeds": [0, 1, 2], "leaderboard": {"unranked": ["A"]}}
    models = {**BASE["models"], "B": {"class": "m:B", "seeds": [0]}, "C": {"class": "m:C", "seeds": [2, 1, 0]},
              "D": {"class": "m:D", "protocol": "streaming", "stream": "moment", "seeds": [1]}}
    tasks = {**BASE["tasks"], "watch_time": {"models": ["A", "D"], "reference": "A"}}
    p = parse_params({**board, "models": models, "tasks": tasks,
                      "shared": {"B": {"tasks": ["ctr"], "stream": ["moment"]}, "C": {"tasks": ["ctr"]}}})
    assert p.models["B"].seeds == (0,) and p.models["A"].seeds is None
    assert p.few_seed_rows == ("B", "B@moment", "D", "D@moment")
    assert p.unranked_rows == ("A", "B", "B@moment", "D", "D@moment")
    for bad, message in (([3], "seed 3 is not one of the board's seeds"), ([], "non-empty list"),
                         ("0", "non-empty list"), ([True], "integer seeds")):
        with pytest.raises(BenchmarkError, match=f"models.B.seeds.*{message}"):
            parse_params({**board, "models": {**BASE["models"], "B": {"class": "m:B", "seeds": bad}}})


def test_the_stages_run_a_models_own_seeds(tiny_data, tmp_path):
    params = {"dataset": DATASET, "seeds": [0, 1], "threads": 1,
              "models": {"SeesLabels": {"class": "tests.test_shared_fit:SeesLabels", "seeds": [1]},
                         "Alone": {"class": "tests.test_shared_fit:SeesLabels", "seeds": [0]}},
              "tasks": {"ctr": {"models": ["Alone"], "reference": "Alone"}},
              "shared": {"SeesLabels": {"tasks": ["ctr"]}}}
    records = run_shared_stage(params, "SeesLabels", tiny_data, tmp_path, quiet=True)
    assert [(r["seed"], r["status"]) for r in records] == [(1, "ok")]
    folder = run_folder(tmp_path, DATASET, "ctr", "SeesLabels", shared=True)
    assert sorted(p.name for p in folder.iterdir()) == ["seed1"]
    assert [r["seed"] for r in run_shared_stage(params, "SeesLabels", tiny_data, tmp_path, [0], quiet=True)] == [0]
    assert [r["seed"] for r in run_model_stage(params, "ctr", "Alone", tiny_data, tmp_path, quiet=True)] == [0]


class CountsUpdates(Baseline):
    """A shared fit that scores each sample by the number of `update` calls its copy has had."""

    tasks = ("ctr", "watch_time")
    shared_fit = True
    deterministic = True

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame, ctx: Context) -> None:
        self.updates = 0

    def predict(self, test: pd.DataFrame, ctx: Context) -> np.ndarray:
        return np.full(len(test), float(self.updates))

    def update(self, revealed: pd.DataFrame, ctx: Context) -> None:
        self.updates += 1


def test_a_shared_fits_streams_come_from_its_shared_block():
    """`shared.<model>.stream` gives the rows <model>@<stream> on each listed task (the board's row list and
    the shared-fit list, so collect and significance read them from the shared stage's folder); a model block
    saying protocol: streaming for a shared model is refused with where to write the streams instead."""
    p = parse_params({**BASE, "shared": {"B": {"tasks": ["ctr", "watch_time"], "stream": ["moment", "fast_slow"]}}})
    assert p.shared["B"].streams == ("moment", "fast_slow")
    assert p.tasks["ctr"].rows == ("A", "B", "B@moment", "B@fast_slow")
    assert p.tasks["watch_time"].shared == ("B", "B@moment", "B@fast_slow")
    models = {**BASE["models"], "B": {"class": "m:B", "protocol": "streaming", "stream": "moment"}}
    with pytest.raises(BenchmarkError, match="write shared.B.stream"):
        parse_params({**BASE, "models": models, "shared": {"B": {"tasks": ["ctr"]}}})
    with pytest.raises(BenchmarkError, match="shared.B.stream = 'hourly'"):
        parse_params({**BASE, "shared": {"B": {"tasks": ["ctr"], "stream": "hourly"}}})


def test_a_shared_fit_replays_each_task_from_its_own_copy(tiny_data, tmp_path):
    """One fit, a static row and a row per stream on each task; each replay starts from the fit (a model that
    counts its updates starts every replay at 0) and the rows land in the shared stage's folder."""
    spec = ModelSpec("Counter", "tests.test_shared_fit:CountsUpdates")
    recs = run_shared(DATASET, SharedFit("Counter", ("ctr", "watch_time"), None, ("moment",)), spec, 0, tiny_data,
                      tmp_path, quiet=True)
    assert [(r["task"], r["model"], r["status"]) for r in recs] == [
        ("ctr", "Counter", "ok"), ("ctr", "Counter@moment", "ok"),
        ("watch_time", "Counter", "ok"), ("watch_time", "Counter@moment", "ok")]
    for task in ("ctr", "watch_time"):
        static = pq.read_table(run_folder(tmp_path, DATASET, task, "Counter", shared=True) / "seed0" /
                               "predictions.parquet")["score"].to_numpy()
        online = pq.read_table(run_folder(tmp_path, DATASET, task, "Counter@moment", shared=True) / "seed0" /
                               "predictions.parquet")["score"].to_numpy()
        assert (static == 0).all()              # the static row predicts before any update
        # its replay starts from the fit, not where the other task's replay ended (~4,500 updates on tiny)
        assert online.min() < 100 and online.max() <= recs[1]["replay"]["update_calls"]
    assert recs[1]["replay"]["update_calls"] == recs[3]["replay"]["update_calls"] > 1000  # the platform's one stream
