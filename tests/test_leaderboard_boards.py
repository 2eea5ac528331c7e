"""One board per dataset: a build writes leaderboard/<dataset>/ alone, and the index lists every board."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from benchmark.compare import significance_stage
from benchmark.errors import BenchmarkError
from benchmark.io import significance_path
from benchmark.leaderboard import leaderboard_stage
from benchmark.leaderboard.boards import find_boards, index_stage, render_boards
from tests.test_compare import DATASET, PARAMS, build_world


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """leaderboard/ holding the synthetic world's board (sim-tiny-s0)."""
    base = tmp_path_factory.mktemp("boards")
    data, runs = build_world(base)
    significance_stage(PARAMS, runs, data, significance_path(runs, DATASET), quiet=True)
    leaderboard_stage(PARAMS, runs, data, base / "leaderboard" / DATASET, quiet=True)
    return base / "leaderboard"


def _plant(root: Path, dataset: str) -> None:
    """Another dataset's board: the synthetic board under a new name (its results.json names it)."""
    shutil.copytree(root / DATASET, root / dataset)
    results = json.loads((root / dataset / "results.json").read_text())
    results["dataset"] = results["data"]["dataset"] = dataset
    (root / dataset / "results.json").write_text(json.dumps(results))


def _copy(root: Path, tmp_path: Path) -> Path:
    out = tmp_path / "leaderboard"
    shutil.copytree(root, out)
    return out


def test_rebuilding_one_board_leaves_every_other_board_alone(root, tmp_path):
    lb = _copy(root, tmp_path)
    _plant(lb, "sim-dense-s0")
    before = {p.name: p.read_bytes() for p in (lb / "sim-dense-s0").iterdir()}
    build = tmp_path / "build"
    data, runs = build_world(build)
    significance_stage(PARAMS, runs, data, significance_path(runs, DATASET), quiet=True)
    leaderboard_stage(PARAMS, runs, data, lb / DATASET, quiet=True)
    assert {p.name: p.read_bytes() for p in (lb / "sim-dense-s0").iterdir()} == before
    assert sorted(find_boards(lb)) == ["sim-dense-s0", DATASET]


def test_index_lists_the_default_first_and_says_what_each_board_is_for(root, tmp_path):
    lb = _copy(root, tmp_path)
    for d in ("sim-dense-s0", "sim-small-s0-nohighlights", "kuailive"):
        _plant(lb, d)
    out = index_stage(lb, default=DATASET, quiet=True)
    text = out.read_text()
    assert out == lb / "README.md"
    boards_table = text.split("## Boards")[1].split("## ")[0]
    rows = [line for line in boards_table.splitlines() if line.startswith("| [")]
    row = {line.split("](")[1].split("/")[0]: line for line in rows}
    assert list(row) == [DATASET, "kuailive", "sim-dense-s0", "sim-small-s0-nohighlights"]
    assert "the default (params.yaml)" in row[DATASET]
    assert "mechanism study, not KuaiLive-shaped" in row["sim-dense-s0"]
    assert "control: `highlights` off" in row["sim-small-s0-nohighlights"]
    assert "the real release" in row["kuailive"]
    results = json.loads((lb / DATASET / "results.json").read_text())
    better = [r["metrics"]["gauc"] for r in results["runs"] if (r["task"], r["model"]) == ("ctr", "Better")]
    assert f"Better {sum(better) / len(better):.4f}" in text   # read from the board's results.json, not typed
    assert text == render_boards(find_boards(lb), DATASET)
    assert not list(lb.glob(".README*")), "temporary files left behind"


def test_a_folder_that_is_not_a_board_is_one_clear_error_and_the_index_stays(root, tmp_path):
    lb = _copy(root, tmp_path)
    index_stage(lb, default=DATASET, quiet=True)
    before = (lb / "README.md").read_text()
    (lb / "stray").mkdir()
    with pytest.raises(BenchmarkError, match=r"stray: not a board \(no results.json\)"):
        index_stage(lb, default=DATASET, quiet=True)
    shutil.rmtree(lb / "stray")
    _plant(lb, "sim-dense-s0")
    results = json.loads((lb / "sim-dense-s0" / "results.json").read_text())
    results["dataset"] = "sim-dense-s1"
    (lb / "sim-dense-s0" / "results.json").write_text(json.dumps(results))
    with pytest.raises(BenchmarkError, match=r"sim-dense-s0/results.json: column 'dataset' is 'sim-dense-s1', "
                                             r"expected 'sim-dense-s0'"):
        index_stage(lb, default=DATASET, quiet=True)
    assert (lb / "README.md").read_text() == before
