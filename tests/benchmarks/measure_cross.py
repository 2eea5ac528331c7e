"""What Cross buys PLE on the default board's dataset (docs/moment-cross.md): PLE+Cross and Moment&Cross
(PLE+Cross replayed under `moment`) against PLE, each row without one sequence against PLE+Cross, the primary
metric by user-activity tercile, and the training throughput with and without Cross.

Run after `dvc repro` (which fits PLE into runs/); it fits the Cross rows into the same runs/ folder, and
compares with DIN on ctr where DIN's runs are there (`kuailive-bench run --task ctr --model DIN`):
    python tests/benchmarks/measure_cross.py --seeds 0 1 2 --ablation-seeds 0 [--skip-fit] [--out F]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path
from types import MappingProxyType

import numpy as np
from tabulate import tabulate

from benchmark.compare import compare_runs, finalize, run_dirs
from benchmark.params import ModelSpec, SharedFit, load_params
from benchmark.shared_fit import run_shared
from benchmark.tasks import get_task

TASKS = ("ctr", "multi_behavior", "watch_time", "gift_price")
MAIN = "PLE+Cross"
ABLATIONS = tuple(f"PLE+Cross-no{s}" for s in ("short", "long", "aidhard", "livelong", "mixed"))
SHARED = ("PLE", MAIN, f"{MAIN}@moment", *ABLATIONS)


def fit(params, name: str, seeds: list[int], streams: tuple[str, ...], data: Path, runs: Path) -> None:
    spec = params.models[name]
    spec = ModelSpec(name, spec.cls, spec.code, MappingProxyType(dict(spec.params)), (), spec.device)
    for seed in seeds:
        t0 = time.perf_counter()
        recs = run_shared(params.dataset.name, SharedFit(name, TASKS, None, streams), spec, seed, data, runs,
                          params.threads, quiet=True)
        bad = [r for r in recs if r["status"] != "ok"]
        assert not bad, bad[0].get("error")
        net = recs[0]["fit"]["network"]
        print(f"{name} seed {seed}: {time.perf_counter() - t0:.0f} s in all; fit {recs[0]['train_seconds']:.0f} s, "
              f"{net['epochs']} epochs, {net['train_samples_per_second']:,.0f} samples/s, "
              f"peak {recs[0]['peak_memory_mb']:,.0f} MB", flush=True)


def tests(params, data: Path, runs: Path, task: str, models: list[str], reference: str, seeds: list[int]) -> list:
    found = [m for m in models if run_dirs(runs, params.dataset.name, task, m, seeds, SHARED)]
    return [c for c in finalize(compare_runs(runs, params.dataset.name, task, found, reference, data, seeds=seeds,
                                             quiet=True, shared=SHARED, **asdict(params.significance)))
            if c.get("metric") == get_task(task).primary and c["status"] == "ok"]


def activity(runs: Path, ds: str, task: str, model: str, seeds: list[int]) -> list[float]:
    primary = get_task(task).primary
    recs = [json.loads((d / "metrics.json").read_text()) for _, d in run_dirs(runs, ds, task, model, seeds, SHARED)]
    return [float(np.mean([r["metrics"].get(f"breakdown/activity={k}/{primary}", np.nan) for r in recs]))
            for k in ("low", "mid", "high")]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--ablation-seeds", type=int, nargs="+", default=[0])
    p.add_argument("--skip-fit", action="store_true")
    p.add_argument("--no-ablations", action="store_true")
    p.add_argument("--data-root", default="data")
    p.add_argument("--runs-root", default="runs")
    p.add_argument("--out", default=None)
    a = p.parse_args()
    params = load_params("params.yaml")
    ds, data, runs = params.dataset.name, Path(a.data_root), Path(a.runs_root)
    if not a.skip_fit:
        fit(params, MAIN, a.seeds, ("moment",), data, runs)
        for name in () if a.no_ablations else ABLATIONS:
            fit(params, name, a.ablation_seeds, (), data, runs)
    rows, out = [], {}
    for task in TASKS:
        for c in tests(params, data, runs, task, [MAIN, f"{MAIN}@moment"], "PLE", a.seeds):
            low, mid, high = (m - b for m, b in zip(activity(runs, ds, task, c["model"], a.seeds),
                                                   activity(runs, ds, task, "PLE", a.seeds), strict=True))
            rows.append([task, c["model"], "PLE", c["model_value"], c["reference_value"], c["diff"],
                         f"[{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]", c["pvalue"], low, mid, high])
            out.setdefault(task, []).append({**c, "activity_gain": [low, mid, high]})
        if task == "ctr":   # DIN (RecBole, ctr only) when its runs are there: `kuailive-bench run --model DIN`
            for c in tests(params, data, runs, task, ["PLE", MAIN, f"{MAIN}@moment"], "DIN", a.seeds):
                rows.append([task, c["model"], "DIN", c["model_value"], c["reference_value"], c["diff"],
                             f"[{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]", c["pvalue"], "", "", ""])
                out.setdefault("ctr vs DIN", []).append(c)
        for c in tests(params, data, runs, task, list(ABLATIONS), MAIN, a.ablation_seeds):
            rows.append([task, c["model"], MAIN, c["model_value"], c["reference_value"], c["diff"],
                         f"[{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]", c["pvalue"], "", "", ""])
            out.setdefault(task, []).append(c)
    print(tabulate(rows, ["task", "row", "against", "row", "against", "Δ", "95%", "p", "Δ low activity", "Δ mid",
                          "Δ high"], floatfmt=".4f"))
    if a.out:
        Path(a.out).write_text(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    main()
