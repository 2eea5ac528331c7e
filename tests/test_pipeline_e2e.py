"""`dvc repro` end to end on the tiny preset, in a temporary copy of the repository."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from benchmark.io import run_folder
from benchmark.params import parse_params, split_row

REPO = Path(__file__).resolve().parents[1]
TASKS = ("ctr", "multi_behavior", "watch_time", "gift_price", "topk")


def _copy_repo(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split()
    for f in files:
        src = REPO / f
        if src.is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)


@pytest.fixture(scope="module")
def tiny_repo(tmp_path_factory):
    repo = tmp_path_factory.mktemp("repo")
    _copy_repo(repo)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["dataset"] = "sim-tiny-s0"
    # fewer resamples: this tests the pipeline, not the statistics (tests/test_significance.py does)
    params["significance"].update(n_resamples=2000, n_cluster_resamples=200, n_bootstrap_recompute=50)
    for block in params["models"].values():  # short fits keep CI inside its budget: RecBole one epoch,
        if block["class"] == "baselines.simple:GradientBoosting":  # boosting 30 rounds
            block["params"]["max_iter"] = 30
        if block["class"].startswith("baselines.recbole:"):
            block["params"]["epochs"] = 1
            if block["class"].endswith("ContextModel"):
                block["params"]["max_train_rows"] = 5000
        if block["class"].startswith("baselines.moment_cross:"):  # Moment&Cross's base: one epoch
            block["params"]["epochs"] = 1
        if block.get("protocol") == "streaming":  # one epoch, one stream: a replay costs ~10 s a seed on tiny
            block["params"]["epochs"], block["stream"] = 1, "moment"
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    dvc = [sys.executable, "-m", "dvc"]
    run = subprocess.run(dvc + ["repro", "--quiet"], cwd=repo, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    return repo


def test_dvc_repro_builds_every_task_on_tiny(tiny_repo):
    ds = "sim-tiny-s0"
    manifest = json.loads((tiny_repo / "data/split" / ds / "split_manifest.json").read_text())
    assert all(manifest["splits"][s]["rows"] > 0 for s in ("train", "valid", "test"))
    for task in TASKS:
        for split in ("train", "valid", "test"):
            t = pq.read_table(tiny_repo / "data/tasks" / ds / task / f"{split}.parquet")
            assert t.num_rows > 0, (task, split)
    report = json.loads((tiny_repo / "data/processed" / ds / "ingest_report.json").read_text())
    assert report["rows"]["click.csv"] > 0
    assert (tiny_repo / "dvc.lock").exists()


def test_dvc_repro_publishes_a_leaderboard_from_its_runs(tiny_repo):
    board = tiny_repo / "leaderboard" / "sim-tiny-s0"
    results = json.loads((board / "results.json").read_text())
    params = yaml.safe_load((tiny_repo / "params.yaml").read_text())
    assert results["dataset"] == "sim-tiny-s0" and results["data"]["synthetic"] is True
    runs = {(r["task"], r["model"], r["seed"]): r for r in results["runs"]}
    rows = {task: plan.rows for task, plan in parse_params(params).tasks.items()}
    shared = parse_params(params).shared   # MultiTaskMLP and PLE: their rows live in their stage's folder
    assert "OnlineLogistic@moment" in rows["ctr"]   # a streaming model's row, from the same DVC stage
    for task in ("ctr", "multi_behavior", "watch_time", "gift_price"):  # a shared fit's rows, from one stage
        assert "MultiTaskMLP" in rows[task]
        assert (run_folder(tiny_repo / "runs", "sim-tiny-s0", task, "MultiTaskMLP", shared=True) / "seed0" /
                "metrics.json").exists()
    for task in TASKS:
        for model in rows[task]:
            assert any(k[:2] == (task, model) for k in runs), (task, model)
        page = (board / f"{task}.md").read_text()
        assert all(f"| {m} " in page for m in rows[task])
    assert all(r["status"] == "ok" for r in results["runs"]), [r for r in results["runs"] if r["status"] != "ok"]
    # every reported primary metric is the one the run directory wrote
    for (task, model, seed), r in runs.items():
        in_shared = split_row(model)[0] in shared
        folder = run_folder(tiny_repo / "runs", "sim-tiny-s0", task, model, in_shared) / f"seed{seed}"
        stored = json.loads((folder / "metrics.json").read_text())
        primary = results["tasks"][task]["primary"]
        assert r["metrics"][primary] == pytest.approx(stored["metrics"][primary])
    compared = {(c["task"], c["model"]) for c in results["comparisons"] if c["status"] == "ok"}
    for task in TASKS:
        ref = params["tasks"][task]["reference"]
        assert {(task, m) for m in rows[task] if m != ref} <= compared
    assert "sim-tiny-s0" in (board / "README.md").read_text()
    assert "[sim-tiny-s0](sim-tiny-s0/README.md)" in (tiny_repo / "leaderboard" / "README.md").read_text()


def test_building_one_dataset_leaves_every_other_board_alone(tiny_repo):
    """The copy carried the committed boards (the default's and the studies'); building sim-tiny-s0 added
    its own board beside them, changed none of their files, and the index lists them all."""
    published = sorted(p.name for p in (REPO / "leaderboard").iterdir() if p.is_dir())
    assert published, "no committed board to keep"
    for board in published:
        for f in (REPO / "leaderboard" / board).iterdir():
            assert (tiny_repo / "leaderboard" / board / f.name).read_bytes() == f.read_bytes(), (board, f.name)
    index = (tiny_repo / "leaderboard" / "README.md").read_text()
    assert all(f"[{b}]({b}/README.md)" in index for b in [*published, "sim-tiny-s0"])


def test_dvc_sees_the_boards_metrics_and_plots(tiny_repo):
    """`dvc metrics show` reads leaderboard/<dataset>/metrics.json (task -> model -> metric, the mean over seeds) and
    `dvc plots show` renders the per-task figures."""
    dvc = [sys.executable, "-m", "dvc"]
    shown = subprocess.run(dvc + ["metrics", "show", "--json"], cwd=tiny_repo, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    ((_, workspace),) = data.items()
    metrics = workspace["data"]["leaderboard/sim-tiny-s0/metrics.json"]["data"]
    results = json.loads((tiny_repo / "leaderboard" / "sim-tiny-s0" / "results.json").read_text())
    gb = [r["metrics"]["gauc"] for r in results["runs"] if (r["task"], r["model"]) == ("ctr", "GradientBoosting")]
    assert metrics["ctr"]["GradientBoosting"]["gauc"] == pytest.approx(sum(gb) / len(gb), abs=1e-6)
    plots = subprocess.run(dvc + ["plots", "show", "--json"], cwd=tiny_repo, capture_output=True, text=True)
    assert plots.returncode == 0, plots.stderr
    assert all(f"leaderboard/sim-tiny-s0/{task}.png" in plots.stdout for task in TASKS)


def test_second_repro_is_a_no_op(tiny_repo):
    status = subprocess.run([sys.executable, "-m", "dvc", "status"], cwd=tiny_repo, capture_output=True, text=True)
    assert status.returncode == 0
    assert "changed" not in status.stdout, status.stdout


def test_editing_one_models_params_reruns_that_model_alone(tiny_repo):
    params_file = tiny_repo / "params.yaml"
    original = params_file.read_text()
    params = yaml.safe_load(original)
    params["models"]["Popularity"]["params"] = {"note": "edited"}
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        status = subprocess.run([sys.executable, "-m", "dvc", "status", "--json"], cwd=tiny_repo,
                                capture_output=True, text=True, check=True)
        changed = set(json.loads(status.stdout))
    finally:
        params_file.write_text(original)
    expected = {f"run-{t}@Popularity" for t in TASKS if "Popularity" in params["tasks"][t]["models"]}
    assert changed == expected


def test_editing_one_models_code_reruns_that_models_stages_alone(tiny_repo):
    """A change to the RecBole wrapper's code touches the RecBole models' stages and no other: first their
    code fingerprints, then, once one is rebuilt (Pop's), that model's runs."""
    dvc = [sys.executable, "-m", "dvc"]

    def changed() -> set[str]:
        status = subprocess.run(dvc + ["status", "--json"], cwd=tiny_repo, capture_output=True, text=True, check=True)
        return set(json.loads(status.stdout))

    params = yaml.safe_load((tiny_repo / "params.yaml").read_text())
    recbole = {m for m, block in params["models"].items() if block["code"] == "baselines/recbole"}
    code = tiny_repo / "baselines" / "recbole" / "models.py"
    original = code.read_text()
    code.write_text(original + "\n# an edit\n")
    try:
        assert changed() == {f"model-code@{m}" for m in recbole}
        subprocess.run(dvc + ["repro", "--quiet", "model-code@Pop"], cwd=tiny_repo, check=True, capture_output=True)
        pop_runs = {f"run-{t}@Pop" for t in TASKS if "Pop" in params["tasks"][t]["models"]}
        assert pop_runs and changed() == {f"model-code@{m}" for m in recbole - {"Pop"}} | pop_runs
    finally:
        code.write_text(original)
        subprocess.run(dvc + ["repro", "--quiet", "model-code@Pop"], cwd=tiny_repo, check=True, capture_output=True)
    assert not changed()
