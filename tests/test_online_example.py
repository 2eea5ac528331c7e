"""The streaming protocol's worked example (docs/submitting.md §4): a small torch model that learns online
through `update`, from its params block to a static row and a streaming row on the board, on tiny."""

from __future__ import annotations

import json

import pytest

from benchmark.compare import significance_stage
from benchmark.io import significance_path
from benchmark.leaderboard import leaderboard_stage
from benchmark.params import parse_params
from benchmark.runner import run_model_stage
from benchmark.streaming_report import report

DATASET = "sim-tiny-s0"


def test_an_online_model_gets_a_static_and_a_streaming_row_on_the_board(tiny_data, tmp_path):
    raw = {"dataset": DATASET, "seeds": [0], "threads": 1,
           "models": {"OnlineLogistic": {"class": "baselines.online_logistic:OnlineLogistic",
                                         "code": "baselines/online_logistic.py", "protocol": "streaming",
                                         "stream": "moment", "params": {"epochs": 1}},
                      "Popularity": {"class": "baselines.simple:Popularity"}},
           "tasks": {"ctr": {"models": ["Popularity", "OnlineLogistic"], "reference": "Popularity"}},
           "significance": {"n_resamples": 200, "n_cluster_resamples": 50, "n_bootstrap_recompute": 20}}
    params = parse_params(raw)
    assert params.tasks["ctr"].rows == ("Popularity", "OnlineLogistic", "OnlineLogistic@moment")
    runs = tmp_path / "runs"
    run_model_stage(params, "ctr", "Popularity", tiny_data, runs, quiet=True)
    static, online = run_model_stage(params, "ctr", "OnlineLogistic", tiny_data, runs, quiet=True)
    assert static["status"] == online["status"] == "ok", (static.get("error"), online.get("error"))
    assert online["model"] == "OnlineLogistic@moment" and online["train_seconds"] == static["train_seconds"]
    assert online["replay"]["update_calls"] > 1000 and online["replay"]["revealed_rows"] > 10_000
    assert static["metrics"]["auc"] > 0.7 and online["metrics"]["auc"] > 0.7
    assert online["metrics"]["auc"] != static["metrics"]["auc"]   # the updates moved the scores

    sig = significance_stage(params, runs, tiny_data, significance_path(runs, DATASET), quiet=True)
    tested = {c["model"] for c in sig["comparisons"] if c["status"] == "ok"}
    assert tested == {"OnlineLogistic", "OnlineLogistic@moment"}
    leaderboard_stage(params, runs, tiny_data, tmp_path / "board", quiet=True)
    page = (tmp_path / "board" / "ctr.md").read_text()
    assert "| OnlineLogistic " in page and "| OnlineLogistic@moment " in page
    card = json.loads((tmp_path / "board" / "results.json").read_text())["models"]["OnlineLogistic@moment"]
    assert card["protocol"] == "streaming" and card["stream"] == "moment" and "`moment`" in card["about"]

    costs, paired = report(params, runs, tiny_data)   # what streaming bought: the row vs its own static fit
    assert [c[1] for c in costs] == ["OnlineLogistic", "OnlineLogistic@moment"] and costs[1][5] > 1000
    gauc = [p for p in paired if p[3] == "gauc"]
    assert [p[1:3] for p in gauc] == [["OnlineLogistic@moment", "OnlineLogistic"]]
    assert gauc[0][6] == pytest.approx(online["metrics"]["gauc"] - static["metrics"]["gauc"])
