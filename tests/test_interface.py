"""Registration by params (module:Class) and by entry point; runs write the spec's run directory."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from benchmark.errors import BenchmarkError
from benchmark.interface import load_class, registered_models
from benchmark.params import parse_params
from benchmark.runner import run_model_stage
from tests.example_submission.recency_model import RecencyModel
from tests.planted_models import TopkOnly

EXAMPLE = "tests.example_submission.recency_model:RecencyModel"


def test_load_class_by_module_path():
    assert load_class(EXAMPLE) is RecencyModel


def test_load_class_by_entry_point(tmp_path, monkeypatch):
    dist = tmp_path / "klb_example-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: klb-example\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[kuailive_bench.baselines]\nRecency = {EXAMPLE}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert load_class("Recency") is RecencyModel
    assert registered_models({})["Recency"].cls == EXAMPLE


@pytest.mark.parametrize("spec, words", [
    ("no_such_module:X", "cannot load"),
    ("benchmark.interface:NoSuchClass", "cannot load"),
    ("benchmark.interface:Context", "not a subclass"),
    ("NotRegistered", "entry-point group"),
])
def test_bad_specs_say_what_is_wrong(spec, words):
    with pytest.raises(BenchmarkError, match=words):
        load_class(spec)


def test_params_block_needs_a_class():
    with pytest.raises(BenchmarkError, match="models.M needs a 'class"):
        registered_models({"models": {"M": {"params": {}}}})


@pytest.mark.parametrize("block, words", [
    ({"protocol": "online"}, "protocol = 'online' is not one of static, streaming"),
    ({"protocol": "streaming"}, "protocol streaming needs a stream"),
    ({"protocol": "streaming", "stream": ["moment", "hourly"]}, "from moment, fast_slow"),
    ({"stream": "moment"}, "has a stream but no 'protocol: streaming'"),
    ({"streams": "moment"}, "unknown key\\(s\\) streams"),
    ({"protocol": "streaming", "stream": {"moment": 1}}, "needs a stream or a list"),
])
def test_a_streaming_block_that_cannot_work_is_one_clear_error(block, words):
    with pytest.raises(BenchmarkError, match=words):
        registered_models({"models": {"M": {"class": EXAMPLE, **block}}})


def test_a_streaming_model_gives_a_row_per_stream_and_no_name_may_hold_the_separator():
    spec = registered_models({"models": {"M": {"class": EXAMPLE, "protocol": "streaming",
                                               "stream": ["moment", "fast_slow", "moment"]}}})["M"]
    assert spec.streams == ("moment", "fast_slow") and spec.rows == ("M", "M@moment", "M@fast_slow")
    with pytest.raises(BenchmarkError, match="'@' is reserved"):
        registered_models({"models": {"M@x": {"class": EXAMPLE}}})
    with pytest.raises(BenchmarkError, match="names the row 'M@moment': list the model"):
        parse_params({"models": {"M": {"class": EXAMPLE, "protocol": "streaming", "stream": "moment"}},
                      "tasks": {"ctr": {"models": ["M@moment"], "reference": "M"}}})


def test_run_stage_writes_run_directories(tiny_data, tmp_path):
    params = {"dataset": "sim-tiny-s0", "seeds": [0, 1, 2], "threads": 1,
              "models": {"Recency": {"class": EXAMPLE, "params": {"half_life_hours": 12}},
                         "Broken": {"class": "tests.planted_models:EmitsNaN"}}}
    records = run_model_stage(params, "ctr", "Recency", tiny_data, tmp_path, quiet=True)
    assert [r["seed"] for r in records] == [0]          # deterministic: runs once
    run = tmp_path / "sim-tiny-s0" / "ctr" / "Recency" / "seed0"
    m = json.loads((run / "metrics.json").read_text())
    for key in ("dataset", "task", "model", "seed", "status", "metrics", "train_seconds", "predict_seconds",
                "n_params", "device", "peak_memory_mb"):
        assert key in m
    assert m["status"] == "ok" and 0.5 < m["metrics"]["gauc"] <= 1
    assert any(k.startswith("breakdown/activity=") for k in m["metrics"])
    cells = [k[: -len("/n_samples")] for k in m["metrics"] if k.endswith("/n_samples")]
    time_cells = [c for c in cells if c.startswith("breakdown/time=")]
    assert time_cells and sum(m["metrics"][f"{c}/n_samples"] for c in time_cells) == m["n_test"]
    assert all(0 < m["metrics"][f"{c}/n_users"] <= m["metrics"][f"{c}/n_samples"] for c in cells)
    # what the reference rule and the budget column read: the valid split's metrics, train rows, learned
    assert 0.5 < m["valid_metrics"]["gauc"] <= 1 and m["valid_metrics"]["gauc"] != m["metrics"]["gauc"]
    assert m["n_train"] > 0 and m["learned"] is True
    preds = pq.read_table(run / "predictions.parquet")
    assert preds.column_names == ["sample_id", "score"] and preds.num_rows == m["n_test"]
    per_user = pq.read_table(run / "per_user.parquet").to_pandas()
    assert set(per_user.metric) == {"gauc"}
    weighted = (per_user.value * per_user.weight).sum() / per_user.weight.sum()
    assert weighted == pytest.approx(m["metrics"]["gauc"], abs=1e-12)
    broken = run_model_stage(params, "ctr", "Broken", tiny_data, tmp_path, quiet=True)
    assert len(broken) == 3 and all(r["status"] == "failed" and "NaN" in r["error"] for r in broken)
    assert (tmp_path / "sim-tiny-s0" / "ctr" / "Broken" / "seed1" / "traceback.txt").exists()


def test_topk_run_ranks_every_live_candidate(tiny_data, tmp_path):
    params = {"dataset": "sim-tiny-s0", "seeds": [0], "models": {"Recency": {"class": EXAMPLE}}}
    (rec,) = run_model_stage(params, "topk", "Recency", tiny_data, tmp_path, quiet=True)
    assert rec["status"] == "ok", rec.get("error")
    preds = pq.read_table(tmp_path / "sim-tiny-s0" / "topk" / "Recency" / "seed0" / "predictions.parquet")
    ranks = preds["target_rank"].to_numpy()
    assert (ranks >= 1).all() and rec["metrics"]["ndcg@10"] > 0
    assert {"ndcg@10_repeat", "ndcg@10_new", "recall@50", "mrr", "coverage@10"} <= set(rec["metrics"])


class _ConstantTopk(TopkOnly):
    def score_candidates(self, queries, candidates, ctx):
        import numpy as np

        return np.zeros(candidates.streamer_id.size)


def test_constant_scorer_lands_mid_list(tiny_data, tmp_path):
    from benchmark.features import FeatureStore

    params = {"dataset": "sim-tiny-s0", "seeds": [0], "models": {"C": {"class": f"{__name__}:_ConstantTopk"}}}
    (rec,) = run_model_stage(params, "topk", "C", tiny_data, tmp_path, quiet=True)
    assert rec["status"] == "ok", rec.get("error")
    ranks = pq.read_table(tmp_path / "sim-tiny-s0" / "topk" / "C" / "seed0" / "predictions.parquet")
    test = pq.read_table(tiny_data / "tasks" / "sim-tiny-s0" / "topk" / "test.parquet")
    store = FeatureStore.open(tiny_data / "features" / "sim-tiny-s0")
    n = store.live_index.count(test["ts"].to_numpy())
    assert ranks["target_rank"].to_numpy().tolist() == ((n + 1) / 2).tolist()
