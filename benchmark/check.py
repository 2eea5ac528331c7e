"""`kuailive-bench check MODULE:CLASS`: run a model on the tiny preset and say plainly what is wrong.

Like scikit-learn's check_estimator, but for the benchmark's contract: output shape, NaN, test-label
access, determinism over two runs with the same seed, and time.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmark.interface import load_class
from benchmark.io import log
from benchmark.runner import run_one
from benchmark.tasks import get_task

DATASET = "sim-tiny-s0"
SPLIT = {"timezone": "Asia/Shanghai", "train": ["2025-05-05", "2025-05-20"],
         "valid": ["2025-05-21", "2025-05-22"], "test": ["2025-05-23", "2025-05-25"]}


@dataclass(frozen=True)
class Finding:
    """One verdict line: PASS, WARN or FAIL, on a topic, in plain words."""

    verdict: str
    task: str
    topic: str
    message: str

    def __str__(self) -> str:
        return f"{self.verdict:4s}  {self.task:14s} {self.topic:13s} {self.message}"


def prepare_tiny(data_root: Path, quiet: bool = True) -> Path:
    """Simulate the tiny preset and run ingest -> split -> features -> tasks into data_root (once)."""
    from benchmark.data.ingest import ingest
    from benchmark.features import build_features
    from benchmark.sim import simulate
    from benchmark.split import make_split
    from benchmark.tasks import TASKS, build_tasks

    data_root = Path(data_root)
    d = {k: data_root / k / DATASET for k in ("raw", "processed", "split", "features", "tasks")}
    if all((d["tasks"] / t / "test.parquet").exists() for t in TASKS):
        return data_root
    log(quiet, "check: building the tiny preset")
    simulate(preset="tiny", seed=0, out=d["raw"], quiet=True)
    ingest(d["raw"], d["processed"], quiet=True)
    make_split(d["processed"], d["split"], split_params=SPLIT, long_view_seconds=60, quiet=True)
    build_features(d["processed"], d["split"], d["features"], quiet=True)
    build_tasks(d["processed"], d["split"], d["features"], d["tasks"], quiet=True,
                params={"features": {"long_view_seconds": 60}, "queries": {"max_queries": 10000}})
    return data_root


def _with_scrambled_test_labels(data_root: Path, task: str, out: Path) -> Path:
    """A data root identical to data_root except that the task's test labels on disk are permuted."""
    for k in ("raw", "processed", "split", "features"):
        (out / k).mkdir(parents=True, exist_ok=True)
        (out / k / DATASET).symlink_to((data_root / k / DATASET).resolve())
    src, dst = data_root / "tasks" / DATASET / task, out / "tasks" / DATASET / task
    dst.mkdir(parents=True)
    for f in src.iterdir():
        if f.name != "test.parquet":
            (dst / f.name).symlink_to(f.resolve())
    test = pq.read_table(src / "test.parquet")
    rng = np.random.default_rng(12345)
    perm = pa.array(rng.permutation(test.num_rows))
    labels = list(get_task(task).labels) + (["repeat"] if task == "topk" else [])
    for c in labels:
        i = test.column_names.index(c)
        test = test.set_column(i, c, test[c].take(perm))
    if task == "topk":  # a scrambled target must still be a live candidate, so draw one per query
        from benchmark.features import FeatureStore

        store = FeatureStore.open(data_root / "features" / DATASET, data_root / "processed" / DATASET)
        offsets, streamers, _ = store.live_index.candidates(test["ts"].to_numpy())
        pick = offsets[:-1] + (rng.random(test.num_rows) * np.diff(offsets)).astype(np.int64)
        i = test.column_names.index("target_streamer_id")
        test = test.set_column(i, "target_streamer_id", pa.array(streamers[pick]))
    pq.write_table(test, dst / "test.parquet")
    return out


def _predictions(run_dir: Path) -> pa.Table | None:
    """The model's own output: scores, or for topk its top-100 lists (target ranks depend on the labels)."""
    p = run_dir / "predictions.parquet"
    if not p.exists():
        return None
    t = pq.read_table(p)
    return t.drop([c for c in ("target_rank", "sampled_target_rank") if c in t.column_names])


def check_model(spec: str, tasks: list[str] | None = None, data_root: Path | None = None,
                quiet: bool = False) -> list[Finding]:
    """Run every check on every task the model supports (or those given); returns the findings."""
    cls = load_class(spec)
    tasks = list(tasks or cls.tasks)
    findings: list[Finding] = []
    with tempfile.TemporaryDirectory(prefix="kuailive-check-") as tmp:
        tmp = Path(tmp)
        data_root = prepare_tiny(Path(data_root) if data_root else tmp / "data", quiet)
        for task in tasks:
            if task not in cls.tasks:
                findings.append(Finding("FAIL", task, "support", f"{spec} does not declare task '{task}'"))
                continue
            model = {"class": spec}
            runs = {name: tmp / f"runs-{name}" for name in ("a", "b", "scrambled")}
            log(quiet, f"check: {task}: two runs with seed 0")
            rec = run_one(DATASET, task, "check", model, 0, data_root, runs["a"], quiet=True)
            run_dir = Path(runs["a"]) / DATASET / task / "check" / "seed0"
            if rec["status"] != "ok":
                topic = "NaN" if "NaN" in rec["error"] else "shape" if "scores for" in rec["error"] else "crash"
                findings.append(Finding("FAIL", task, topic, rec["error"]))
                continue
            n = json.loads((run_dir / "metrics.json").read_text())["n_test"]
            findings.append(Finding("PASS", task, "shape", f"{n:,} finite scores for {n:,} test samples"))
            run_one(DATASET, task, "check", model, 0, data_root, runs["b"], quiet=True)
            a = _predictions(run_dir)
            b = _predictions(Path(runs["b"]) / DATASET / task / "check" / "seed0")
            same_seed_same = b is not None and a.equals(b)
            findings.append(Finding("PASS", task, "determinism", "two runs with seed 0 gave identical predictions")
                            if same_seed_same else
                            Finding("FAIL", task, "determinism", "two runs with the same seed gave different "
                                    "predictions: seed every random source (numpy, torch) from ctx.seed"))
            log(quiet, f"check: {task}: a run with the test labels on disk scrambled")
            scrambled_root = _with_scrambled_test_labels(data_root, task, tmp / "scrambled-data" / task)
            run_one(DATASET, task, "check", model, 0, scrambled_root, runs["scrambled"], quiet=True)
            c = _predictions(Path(runs["scrambled"]) / DATASET / task / "check" / "seed0")
            if not same_seed_same:
                findings.append(Finding("WARN", task, "label access", "not judged: the model is not deterministic"))
            elif c is None or not a.equals(c):
                findings.append(Finding("FAIL", task, "label access", "predictions change when the test labels on "
                                        "disk change: the model reads test labels"))
            else:
                findings.append(Finding("PASS", task, "label access", "predictions do not depend on test labels"))
            if cls.deterministic:
                run_one(DATASET, task, "check", model, 1, data_root, runs["b"], quiet=True)
                d = _predictions(Path(runs["b"]) / DATASET / task / "check" / "seed1")
                if d is None or not a.equals(d):
                    findings.append(Finding("FAIL", task, "determinism", "declared deterministic, but seed 1 gives "
                                            "other predictions than seed 0: set deterministic = False"))
            findings.append(Finding("PASS", task, "time", f"fit {rec['train_seconds']:.2f} s, predict "
                                    f"{rec['predict_seconds']:.2f} s ({rec['predict_rows_per_second']:,.0f} rows/s) "
                                    "on tiny; small is about 7x larger"))
    return findings
