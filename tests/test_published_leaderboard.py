"""The committed leaderboard/ is exactly what its own results.json renders to (never typed by hand)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmark.leaderboard import audit, render
from benchmark.params import load_params

REPO = Path(__file__).resolve().parents[1]
BOARD = REPO / "leaderboard"


def test_committed_markdown_is_regenerated_from_committed_results(tmp_path):
    results = json.loads((BOARD / "results.json").read_text())
    written = render(results, tmp_path)
    pages = sorted(p.name for p in written if p.suffix == ".md")
    assert pages == sorted(p.name for p in BOARD.glob("*.md"))
    for name in pages:
        assert (tmp_path / name).read_text() == (BOARD / name).read_text(), f"leaderboard/{name} is stale"


def test_committed_results_are_the_default_pipelines(tmp_path):
    params = load_params(REPO / "params.yaml")
    results = json.loads((BOARD / "results.json").read_text())
    assert results["dataset"] == params.dataset.name
    assert results["seeds"] == list(params.seeds)
    for task, plan in params.tasks.items():
        assert results["tasks"][task]["models"] == list(plan.rows)   # streaming models' rows included
        assert results["references"][task] == plan.reference
    assert all(r["status"] == "ok" for r in results["runs"]), [r for r in results["runs"] if r["status"] != "ok"]


def test_every_mark_on_the_published_board_means_what_it_says():
    """Δ is the table's difference of per-seed means, p < 0.05 exactly when the interval excludes 0, and
    every reference follows the reference rule (docs/leaderboard.md)."""
    results = json.loads((BOARD / "results.json").read_text())
    a = audit(results)
    assert a["comparisons"] > 0
    assert a == {"comparisons": a["comparisons"], "other_quantity": [], "inconsistent": [], "rule_violations": []}
