"""`kuailive-bench check` passes a good model and names the problem of each planted bad one."""

from __future__ import annotations

import pytest

from benchmark.check import check_model


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
