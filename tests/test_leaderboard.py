"""benchmark.leaderboard: results.json holds every run and comparison; the pages are regenerated from it alone."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from benchmark.compare import significance_stage
from benchmark.errors import DataError
from benchmark.io import significance_path
from benchmark.leaderboard import (
    audit,
    budget,
    collect_results,
    leaderboard_stage,
    reference_rule,
    render,
    render_index,
    render_task,
)
from benchmark.leaderboard.view import _TaskView
from tests.test_compare import DATASET, ERROR, PARAMS, SEEDS, build_world

RUN_KEYS = {"dataset", "task", "model", "seed", "status", "metrics", "train_seconds", "predict_seconds",
            "n_params", "device"}


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """The synthetic world through significance and leaderboard: (data, runs, leaderboard folder)."""
    root = tmp_path_factory.mktemp("board")
    data, runs = build_world(root)
    significance_stage(PARAMS, runs, data, significance_path(runs, DATASET), quiet=True)
    leaderboard_stage(PARAMS, runs, data, root / "leaderboard", quiet=True)
    return data, runs, root / "leaderboard"


@pytest.fixture
def results(board):
    return json.loads((board[2] / "results.json").read_text())


def _rows(page: str, model: str) -> list[list[str]]:
    """The cells of every table row whose second cell is `model` (main table first)."""
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in page.splitlines()
            if line.startswith("|")]
    return [r for r in rows if len(r) > 1 and r[1] == model]


def _row(page: str, model: str) -> list[str]:
    """The cells of the main table's row of `model`."""
    rows = _rows(page, model)
    assert rows, f"no row for {model}"
    return rows[0]


def _pages(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(folder.glob("*.md"))}


def test_stage_writes_results_tables_plots_and_index(board):
    _, _, out = board
    names = sorted(p.name for p in out.iterdir())
    assert names == ["README.md", "ctr.md", "ctr.png", "metrics.json", "results.json", "topk.md", "topk.png"]
    assert (out / "ctr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    results = json.loads((out / "results.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())  # what `dvc metrics show` reads
    assert set(metrics) == {"ctr", "topk"} and set(metrics["ctr"]) == set(results["tasks"]["ctr"]["models"])
    gauc = [r["metrics"]["gauc"] for r in results["runs"] if r["model"] == "Better" and r["task"] == "ctr"]
    assert metrics["ctr"]["Better"]["gauc"] == round(float(np.mean(gauc)), 6) and "auc" in metrics["ctr"]["Better"]
    assert metrics["ctr"]["Broken"] == {}  # no successful run: nothing to show
    assert not list(out.parent.glob(".leaderboard*")), "temporary folders left behind"


def test_results_json_holds_every_run_with_the_contract_fields(results):
    runs = results["runs"]
    assert all(RUN_KEYS <= set(r) for r in runs)
    ctr = [(r["model"], r["seed"]) for r in runs if r["task"] == "ctr"]
    expected = [(m, s) for m in PARAMS["tasks"]["ctr"]["models"] for s in ((0,) if m == "Oracle" else SEEDS)]
    assert sorted(ctr) == sorted(expected)
    broken = [r for r in runs if r["model"] == "Broken"]
    assert broken and all(r["status"] == "failed" and r["error"] == ERROR for r in broken)
    ok = next(r for r in runs if r["model"] == "Better" and r["seed"] == 1 and r["task"] == "ctr")
    assert ok["status"] == "ok" and 0.5 < ok["metrics"]["gauc"] <= 1 and ok["train_seconds"] == 1.5 + 1 + 0.25
    assert results["seeds"] == list(SEEDS) and results["references"] == {"ctr": "Ref", "topk": "Ref"}
    assert results["reference_rows"] == ["Oracle"]
    data = results["data"]
    assert data["synthetic"] is True and data["source_hash"] == "ab" * 32
    assert data["split"]["test"] == {"first_day": "2025-05-23", "last_day": "2025-05-25", "rows": 3000,
                                     "hash": "2" * 64}
    assert data["ingest"]["rows"] == {"click.csv": 1234, "negative.csv": 5678}
    assert {"python", "platform", "packages", "threads"} <= set(results["environment"])
    assert {"numpy", "pandas", "pyarrow", "scipy", "scikit-learn", "torch", "dvc"} <= set(
        results["environment"]["packages"])
    assert "describe" in results["code_version"] and "commit" in results["code_version"]
    assert any(c["status"] == "skipped" and c["model"] == "Broken" for c in results["comparisons"])


def test_markdown_regenerated_from_results_json_equals_what_was_written(board, results, tmp_path):
    _, _, out = board
    render(results, tmp_path)
    assert _pages(tmp_path) == _pages(out)
    render(results, tmp_path / "again")
    assert _pages(tmp_path / "again") == _pages(out)
    assert (tmp_path / "ctr.png").read_bytes() == (tmp_path / "again" / "ctr.png").read_bytes()


def test_main_table_ranks_marks_and_failures(board):
    page = (board[2] / "ctr.md").read_text()
    better, ref, same = _row(page, "Better"), _row(page, "Ref"), _row(page, "Same")
    assert better[0] == "1" and better[2] == "3/3" and "▲" in better
    assert "reference" in ref and "·" in same
    assert _row(page, "Flaky")[2] == "2/3"
    oracle = _row(page, "Oracle")
    assert oracle[0] == "ref"
    broken = _row(page, "Broken")
    assert broken[0] == "—" and broken[3] == f"failed: {ERROR}"
    ranks = [_row(page, m)[0] for m in ("Better", "Ref", "Same", "Flaky")]
    assert sorted(ranks) == ["1", "2", "3", "4"]
    assert "## Breakdown of gauc" in page and "activity=low" in page and "time=peak" in page
    assert "Broken (all metrics): all runs failed" in page
    assert "Table 3" in (board[2] / "topk.md").read_text() and "Table 3" not in page
    readme = (board[2] / "README.md").read_text()
    assert "synthetic" in readme and "ab" * 32 in readme and "2025-05-23 … 2025-05-25" in readme
    assert "never ranked" in readme and "Oracle" in readme


def test_a_few_seed_row_is_unranked_unmarked_and_says_its_seeds(results, tmp_path):
    """A row run with fewer seeds than the board's (`models.<name>.seeds`): unranked (the significance stage
    leaves it out of the families, so no Holm p and no mark), its seeds cell and the reference-row text say so."""
    changed = copy.deepcopy(results)
    changed["runs"] = [r for r in changed["runs"] if not (r["model"] == "Same" and r["seed"] != 0)]
    changed["row_seeds"], changed["reference_rows"] = {"Same": [0]}, [*changed["reference_rows"], "Same"]
    for c in changed["comparisons"]:
        if c["model"] == "Same":
            c.update(ranked=False, holm_p=None, bh_q=None)
    render(changed, tmp_path)
    row = _row((tmp_path / "ctr.md").read_text(), "Same")
    assert row[0] == "ref" and row[2] == "1/1 (seed 0 only)"
    assert not {"▲", "▼", "·"} & set(row)
    assert "Same ran with fewer seeds than the board's" in (tmp_path / "README.md").read_text()


def _ctr_run(results: dict, model: str, seed: int) -> dict:
    return next(r for r in results["runs"]
                if r["task"] == "ctr" and r["model"] == model and r["seed"] == seed)


def _ctr_comparison(results: dict, model: str, metric: str) -> dict:
    return next(c for c in results["comparisons"] if c["task"] == "ctr" and c["model"] == model
                and c.get("metric") == metric)


BREAKDOWN_KEY = "breakdown/time=peak/gauc"
PERTURBATIONS = {
    "primary metric of one seed": lambda r: _ctr_run(r, "Same", 1)["metrics"].update(gauc=0.123456),
    "other metric": lambda r: _ctr_run(r, "Same", 0)["metrics"].update(auc=0.31337),
    "breakdown value": lambda r: _ctr_run(r, "Same", 0)["metrics"].update({BREAKDOWN_KEY: 0.2468}),
    "train time": lambda r: _ctr_run(r, "Same", 2).update(train_seconds=987.0),
    "throughput": lambda r: _ctr_run(r, "Same", 2).update(predict_rows_per_second=4242.0),
    "parameters": lambda r: [_ctr_run(r, "Same", s).update(n_params=777) for s in SEEDS],
    "difference": lambda r: _ctr_comparison(r, "Same", "gauc").update(diff=0.5555),
    "interval": lambda r: _ctr_comparison(r, "Same", "gauc").update(ci_high=0.6666),
    "Holm p": lambda r: _ctr_comparison(r, "Same", "gauc").update(holm_p=0.0001),
    "failure": lambda r: _ctr_run(r, "Same", 0).update(status="failed", error="Boom: 42"),
}


@pytest.mark.parametrize("what", sorted(PERTURBATIONS))
def test_changing_a_number_in_results_json_changes_the_markdown(results, tmp_path, what):
    render(results, tmp_path / "before")
    changed = copy.deepcopy(results)
    PERTURBATIONS[what](changed)
    render(changed, tmp_path / "after")
    before, after = (tmp_path / "before" / "ctr.md").read_text(), (tmp_path / "after" / "ctr.md").read_text()
    assert before != after
    assert _rows(before, "Same") != _rows(after, "Same"), "the change must land in the model's own rows"
    for m in ("Better", "Ref", "Broken"):
        assert [r[1:] for r in _rows(before, m)] == [r[1:] for r in _rows(after, m)], "others must not change"


def test_the_new_number_is_the_one_printed(results, tmp_path):
    changed = copy.deepcopy(results)
    for s in SEEDS:
        _ctr_run(changed, "Same", s)["metrics"]["gauc"] = 0.25 + 0.125 * s   # mean 0.375, std 0.125
    _ctr_comparison(changed, "Same", "gauc").update(diff=-0.0123, ci_low=-0.0456, ci_high=-0.0011,
                                                    holm_p=0.0123)
    render(changed, tmp_path)
    row = _row((tmp_path / "ctr.md").read_text(), "Same")
    assert "0.3750 ± 0.1250" in row
    assert "-0.0123 [-0.0456, -0.0011]" in row and "0.012" in row and "▼" in row
    assert row[0] == "4", "the lowest mean of the four ranked models"


def test_stage_failure_leaves_the_previous_leaderboard_untouched(board, tmp_path):
    data, runs, out = board
    before = _pages(out)
    with pytest.raises(DataError, match="significance"):
        leaderboard_stage(PARAMS, runs, data, out, quiet=True, significance=tmp_path / "missing.json")
    assert _pages(out) == before


def test_significance_inside_the_leaderboard_folder_is_carried_over(board, tmp_path):
    data, runs, _ = board
    out = tmp_path / "lb"
    significance_stage(PARAMS, runs, data, out / "significance.json", quiet=True)
    sig = (out / "significance.json").read_bytes()
    leaderboard_stage(PARAMS, runs, data, out, quiet=True, significance=out / "significance.json")
    assert (out / "significance.json").read_bytes() == sig
    assert json.loads((out / "results.json").read_text())["comparisons"] == json.loads(sig)["comparisons"]


def test_collect_refuses_a_significance_file_of_another_dataset(board, tmp_path):
    data, runs, _ = board
    sig = json.loads((significance_path(runs, DATASET)).read_text())
    sig["dataset"] = "sim-small-s0"
    (tmp_path / "s.json").write_text(json.dumps(sig))
    with pytest.raises(DataError, match="not 'sim-tiny-s0'"):
        collect_results(runs, DATASET, PARAMS, data, significance=tmp_path / "s.json")


def test_a_listed_model_that_never_ran_is_shown_as_failed(board, tmp_path):
    data, runs, _ = board
    params = copy.deepcopy(PARAMS)
    params["tasks"]["ctr"]["models"].append("Ghost")
    leaderboard_stage(params, runs, data, tmp_path / "lb", quiet=True)
    res = json.loads((tmp_path / "lb" / "results.json").read_text())
    ghost = [r for r in res["runs"] if r["model"] == "Ghost"]
    assert len(ghost) == 1 and ghost[0]["status"] == "failed" and "no run found" in ghost[0]["error"]
    row = _row((tmp_path / "lb" / "ctr.md").read_text(), "Ghost")
    assert row[0] == "—" and row[3].startswith("failed: no run found")


def test_pages_name_the_simulator_and_the_topk_queries(results):
    """Every page names the simulator version and overrides; the topk page states its queries and whether
    the sampled view is the full ranking."""
    r = copy.deepcopy(results)
    n = r["data"]["task_rows"]["topk"]["test"]
    r["data"]["simulator"] = {"version": "kuailive-sim-1", "overrides": {"highlights": False}}
    r["data"]["task_stats"]["topk"] = {"dropped_target_not_live": {"test": 3}, "capped_from": {"test": n + 50},
                                       "repeat_share": {"test": 0.25}, "test_candidates": {"mean": 40.0, "max": 90},
                                       "sampled_view": {"negatives": 10_000, "seed": 0}}
    page = render_task(r, "topk", "topk.png")
    assert f"Test queries: {n:,} (a fixed random subset of {n + 50:,}); 3 dropped" in page
    assert "Repeat share (the user clicked the target streamer before): 25.0%" in page
    assert "mean 40.0, max 90" in page and "sampled view **equals the full ranking**" in page
    assert "simulator `kuailive-sim-1`, overrides: highlights=False" in render_task(r, "ctr", None)
    assert "simulator `kuailive-sim-1`" in render_index(r, {t: f"{t}.md" for t in r["tasks"]})
    r["data"]["task_stats"]["topk"]["test_candidates"]["max"] = 20_000  # more live streamers than sampled negatives
    assert "equals the full ranking**" not in render_task(r, "topk", "topk.png")


def test_the_topk_page_shows_what_each_rows_top_10_is_worth(results):
    """results.json's `top_outcomes` (sim data) becomes its own table on the topk page, mean ± std over seeds,
    in the board's order; a board without them (the real release) has no such section."""
    r = copy.deepcopy(results)
    models = r["tasks"]["topk"]["models"]
    r["top_outcomes"] = {models[0]: [{"seed": 0, "clicks": 4.0, "long_views": 1.0, "gift_value": 6.0},
                                     {"seed": 1, "clicks": 5.0, "long_views": 2.0, "gift_value": 8.0}]}
    page = render_task(r, "topk", None)
    assert "What each row's top 10 is worth" in page
    assert ["4.5000 ± 0.7071", "1.5000 ± 0.7071", "7.0000 ± 1.4142"] in [r[2:] for r in _rows(page, models[0])]
    r["top_outcomes"] = {}
    assert "What each row's top 10 is worth" not in render_task(r, "topk", None)


def _with_fit(results: dict, model: str, fit: dict, learned: bool = True, valid: float | None = None) -> dict:
    out = copy.deepcopy(results)
    for r in out["runs"]:
        if r["task"] == "ctr" and r["model"] == model:
            r.update(fit=fit, learned=learned, n_train=1000)
            if valid is not None:
                r["valid_metrics"] = {"gauc": valid}
    return out


def test_budget_says_what_bounded_a_fit():
    capped = [{"learned": True, "n_train": 1000, "n_params": 50,
               "fit": {"click": {"train_rows": 500, "epochs": 2, "max_epochs": 2, "early_stopped": False}}}]
    text, is_capped = budget(capped)
    assert is_capped and text == "**capped**: 500 of 1,000 train rows; 2/2 epochs, budget reached"
    full = [{"learned": True, "n_train": 1000, "fit": {"click": {"train_rows": 1000, "iterations": 90,
                                                                 "max_iterations": 300, "early_stopped": True}}}]
    assert budget(full) == ("all 1,000 train rows; 90/300 iterations, early-stopped", False)
    out_of_epochs = [{"learned": True, "n_train": 1000, "n_params": 50,
                      "fit": {"click": {"train_rows": 1000, "epochs": 10, "max_epochs": 10, "early_stopped": False}}}]
    assert budget(out_of_epochs)[1] is True
    text, is_capped = budget([{"learned": False, "fit": {}}])
    assert not is_capped and "predict time" in text
    assert budget([{"uses_oracle": True, "fit": {}}]) == ("no training: reads the simulator's truth", False)
    counting = [{"learned": True, "n_train": 10, "n_params": 1,
                 "fit": {"model": {"train_rows": 10, "epochs": 1, "max_epochs": 1, "early_stopped": False}}}]
    assert budget(counting) == ("all 10 train rows; 1/1 epochs, one counting pass (no trainable parameters)", False)
    clicks = [{"learned": True, "n_train": 100, "n_params": 50,   # trained on clicks, not on the task's rows
               "fit": {"decoder": {"train_rows": 600, "train_rows_available": 900, "train_unit": "clicks",
                                   "epochs": 3, "max_epochs": 3, "early_stopped": True}}}]
    assert budget(clicks) == ("**capped**: 600 of 900 train clicks; 3/3 epochs, early-stopped", True)


def test_reference_rule_picks_the_best_uncapped_learned_model_by_valid_metric(results, tmp_path):
    """The page restates the rule; a board whose params name another reference says so and fails the audit."""
    full = {"click": {"train_rows": 1000, "iterations": 50, "max_iterations": 300, "early_stopped": True}}
    cap = {"click": {"train_rows": 10, "iterations": 50, "max_iterations": 300, "early_stopped": True}}
    res = _with_fit(results, "Ref", full, valid=0.70)
    res = _with_fit(res, "Same", full, valid=0.72)
    res = _with_fit(res, "Better", cap, valid=0.90)              # capped: never the reference
    res = _with_fit(res, "Flaky", {}, learned=False, valid=0.95)  # heuristic: never the reference
    res = _with_fit(res, "Oracle", full, valid=0.99)               # reference row: never the reference
    assert reference_rule(_TaskView(res, "ctr")) == ("Same", pytest.approx(0.72))
    page = render_task(res, "ctr", None)
    assert "here Same (0.7200)" in page and "params.yaml names Ref instead" in page
    assert audit(res)["rule_violations"] == ["ctr: Ref (the rule picks Same)"]
    res = _with_fit(res, "Same", full, valid=0.60)
    assert reference_rule(_TaskView(res, "ctr"))[0] == "Ref" and audit(res)["rule_violations"] == []
    assert "**capped**: 10 of 1,000 train rows" in _row(render_task(res, "ctr", None), "Better")[-4]


def test_audit_counts_other_quantities_and_inconsistent_intervals(results):
    clean = audit(results)
    assert clean["comparisons"] > 0 and clean["other_quantity"] == [] and clean["inconsistent"] == []
    bad = copy.deepcopy(results)
    c = next(c for c in bad["comparisons"] if c["status"] == "ok" and c["model"] == "Better")
    c["diff"] += 0.01                                   # no longer the table's difference
    c["ci_low"], c["ci_high"], c["pvalue"] = -0.1, 0.1, 0.001   # p says different, the interval holds 0
    got = audit(bad)
    key = f"{c['task']}/Better/{c['metric']}"
    assert got["other_quantity"] == [key] and got["inconsistent"] == [key]


def test_breakdown_shows_counts_and_na_for_undefined_cells(results):
    res = copy.deepcopy(results)
    for r in res["runs"]:
        if r["task"] == "ctr" and r["status"] == "ok":
            r["metrics"]["breakdown/time=peak/gauc"] = float("nan")
    page = render_task(res, "ctr", None)
    counts = _rows(page, "samples / users")
    assert counts and all(" / " in cell for cell in counts[0][2:])
    assert _rows(page, "Better")[1][2:].count("n/a") == 1


def test_code_version_counts_code_edits_but_not_what_a_build_or_exp_run_rewrites(tmp_path, monkeypatch):
    """`dvc exp run -S dataset=...` edits params.yaml and the build rewrites dvc.lock and leaderboard/: none
    of them is a change of the code that built the board; an edited module is."""
    import subprocess

    from benchmark.leaderboard import collect

    for f in ("params.yaml", "dvc.lock", "leaderboard/x/README.md", "benchmark/m.py"):
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text("a\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(tmp_path)]
    subprocess.run(git + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-qm", "x"], check=True)
    monkeypatch.setattr(collect, "REPO", tmp_path)
    for f in ("params.yaml", "dvc.lock", "leaderboard/x/README.md"):
        (tmp_path / f).write_text("b\n")
    assert collect.code_version()["local_changes"] is False
    (tmp_path / "benchmark/m.py").write_text("b\n")
    assert collect.code_version()["local_changes"] is True
