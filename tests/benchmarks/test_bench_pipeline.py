"""Wall time and peak memory of the data stages: simulate -> ingest -> split -> features -> tasks.

Each stage runs as its own `kuailive-bench` process (exactly what `dvc repro` runs), so its peak
resident memory is that process's own (os.wait4). Preset: tiny by default, KLB_BENCH_SCALE=full gives
the full (KuaiLive-size) preset, KLB_BENCH_PRESET=small|... picks any. Threads follow the machine
(CI and the figures in the closing notes: 2 cores). Run with
`pytest tests/benchmarks/test_bench_pipeline.py -m bench --benchmark-enable -s`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.bench   # speed measurements: run only when asked (-m bench)

FULL = os.environ.get("KLB_BENCH_SCALE", "").lower() == "full"
PRESET = os.environ.get("KLB_BENCH_PRESET", "full" if FULL else "tiny")
DATASET = f"sim-{PRESET}-s0"
REPO = Path(__file__).resolve().parents[2]
_FIGURES: dict[str, tuple[float, float]] = {}


def _stage_commands(work: Path) -> list[tuple[str, list[str]]]:
    raw, proc, split, feats, tasks = (work / d for d in ("raw", "processed", "split", "features", "tasks"))
    params = ["--params", str(work / "params.yaml")]
    return [
        ("simulate", ["simulate", "--preset", PRESET, "--seed", "0", "--out", str(raw)]),
        ("ingest", ["ingest", "--source", str(raw), "--out", str(proc)]),
        ("split", ["split", "--processed", str(proc), "--out", str(split), *params]),
        ("features", ["features", "--processed", str(proc), "--split", str(split), "--out", str(feats), *params]),
        ("tasks", ["tasks", "--processed", str(proc), "--split", str(split), "--features", str(feats),
                   "--out", str(tasks), *params]),
    ]


def run_measured(args: list[str]) -> tuple[float, float]:
    """Run `kuailive-bench ARGS` in its own process: (wall seconds, peak RSS in GB of that process)."""
    cmd = [sys.executable, "-m", "benchmark.cli",
           *args, "--quiet"]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read() if proc.stderr else ""
    assert os.waitstatus_to_exitcode(status) == 0, err
    return wall, usage.ru_maxrss / 2**20


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    path = tmp_path_factory.mktemp(f"bench-{PRESET}")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["dataset"] = DATASET
    (path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("stage", ["simulate", "ingest", "split", "features", "tasks"])
def test_stage(benchmark, work, stage):
    args = dict(_stage_commands(work))[stage]
    benchmark.group = f"pipeline stages, preset {PRESET}"
    wall, peak = benchmark.pedantic(run_measured, args=(args,), rounds=1, iterations=1)
    _FIGURES[stage] = (wall, peak)


def test_report(capsys):
    if not _FIGURES:
        pytest.skip("no stage ran")
    with capsys.disabled():
        print(f"\n[pipeline, preset {PRESET}, {os.cpu_count()} CPUs]")
        for stage, (wall, peak) in _FIGURES.items():
            print(f"  {stage:<9} {wall:7.1f} s  peak {peak:5.2f} GB")
        total = sum(w for w, _ in _FIGURES.values())
        print(f"  {'total':<9} {total:7.1f} s  peak {max(p for _, p in _FIGURES.values()):5.2f} GB")
