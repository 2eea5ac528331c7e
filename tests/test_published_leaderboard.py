"""The committed boards (leaderboard/<dataset>/) are exactly what their own results.json render to, and the
index (leaderboard/README.md) is exactly what those boards render to (never typed by hand)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmark.leaderboard import audit, render
from benchmark.leaderboard.boards import find_boards, render_boards
from benchmark.params import load_params

REPO = Path(__file__).resolve().parents[1]
ROOT = REPO / "leaderboard"
BOARDS = sorted(p.name for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith("."))
DEFAULT = load_params(REPO / "params.yaml").dataset.name


def test_the_default_and_the_studies_are_published():
    assert DEFAULT in BOARDS
    assert {"sim-dense-s0", "sim-small-s0-nohighlights"} <= set(BOARDS), BOARDS


def test_the_index_lists_every_board_and_is_regenerated_from_them():
    text = (ROOT / "README.md").read_text()
    assert text == render_boards(find_boards(ROOT), DEFAULT), "leaderboard/README.md is stale"
    assert all(f"]({b}/README.md)" in text for b in BOARDS)


@pytest.mark.parametrize("board", BOARDS)
def test_committed_markdown_is_regenerated_from_committed_results(tmp_path, board):
    results = json.loads((ROOT / board / "results.json").read_text())
    assert results["dataset"] == board
    written = render(results, tmp_path)
    pages = sorted(p.name for p in written if p.suffix == ".md")
    assert pages == sorted(p.name for p in (ROOT / board).glob("*.md"))
    for name in pages:
        stale = f"leaderboard/{board}/{name} is stale"
        assert (tmp_path / name).read_text() == (ROOT / board / name).read_text(), stale


@pytest.mark.parametrize("board", BOARDS)
def test_committed_results_are_the_pipelines(board):
    """Every board ran params.yaml's models (a study board: a subset, the set of its build) and seeds on its own
    dataset, and every run succeeded; the default board's rows and references are params.yaml's. Another
    board's reference may be set for its build (`dvc exp run -S tasks.<task>.reference=...`) to follow the
    reference rule on its own valid split, which the audit below checks."""
    params = load_params(REPO / "params.yaml")
    results = json.loads((ROOT / board / "results.json").read_text())
    assert results["seeds"] == list(params.seeds)
    for task, plan in params.tasks.items():
        if board == DEFAULT:
            assert results["tasks"][task]["models"] == list(plan.rows)   # streaming models' rows included
            assert results["references"][task] == plan.reference
        else:  # a study board is rebuilt when its study needs it: it may lack a row added since (its code version says)
            assert set(results["tasks"][task]["models"]) <= set(plan.rows), board
    assert all(r["status"] == "ok" for r in results["runs"]), [r for r in results["runs"] if r["status"] != "ok"]


@pytest.mark.parametrize("board", BOARDS)
def test_every_mark_on_the_published_board_means_what_it_says(board):
    """Δ is the table's difference of per-seed means, p < 0.05 exactly when the interval excludes 0, and
    every reference follows the reference rule (docs/leaderboard.md)."""
    results = json.loads((ROOT / board / "results.json").read_text())
    a = audit(results)
    assert a["comparisons"] > 0
    assert a == {"comparisons": a["comparisons"], "other_quantity": [], "inconsistent": [], "rule_violations": []}
