"""`kuailive-bench check` passes a good model and names the problem of each planted bad one."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from benchmark.check import DATASET, check_model
from benchmark.interface import load_class
from benchmark.runner import run_one


@pytest.fixture
def tiny_root(tiny_data):
    return tiny_data


def _verdicts(findings, topic):
    return {f.verdict for f in findings if f.topic == topic}


def test_worked_example_passes_every_check(tiny_root):
    findings = check_model("tests.example_submission.recency_model:RecencyModel", data_root=tiny_root, quiet=True)
    assert findings and all(f.verdict == "PASS" for f in findings), "\n".join(map(str, findings))
    assert {f.task for f in findings} == {"ctr", "topk"}


@pytest.mark.parametrize("name, failing, passing", [
    ("ReadsTestLabels", "label access", ("shape", "determinism")),
    ("EmitsNaN", "NaN", ()),
    ("NotDeterministic", "determinism", ("shape",)),
    ("WrongShape", "shape", ()),
])
def test_planted_bad_models_are_caught(tiny_root, name, failing, passing):
    findings = check_model(f"tests.planted_models:{name}", data_root=tiny_root, quiet=True)
    text = "\n".join(map(str, findings))
    assert _verdicts(findings, failing) == {"FAIL"}, text
    for topic in passing:
        assert _verdicts(findings, topic) == {"PASS"}, text



def test_gradient_boosting_is_deterministic_as_declared(tiny_root, tmp_path):
    """GradientBoosting (and ArtifactProbe, its subclass) run once because another seed gives the same
    predictions, its train subsample included (capped here so that the subsample is drawn)."""
    spec = {"class": "baselines.simple:GradientBoosting", "params": {"max_iter": 20, "max_train_rows": 500}}
    preds = []
    for seed in (0, 1):
        rec = run_one(DATASET, "ctr", "gb", spec, seed, tiny_root, tmp_path, threads=2, quiet=True)
        assert rec["status"] == "ok", rec.get("error")
        preds.append(pq.read_table(tmp_path / DATASET / "ctr" / "gb" / f"seed{seed}" / "predictions.parquet"))
    assert load_class(spec["class"]).deterministic and load_class("baselines.simple:ArtifactProbe").deterministic
    assert preds[0].equals(preds[1])
