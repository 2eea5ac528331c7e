"""Moment&Cross's bases on the default board's dataset: MMoE, CGC and PLE (3 seeds each, shared fits) beside
the board's simple baselines and DeepFM, each tested against the task's reference as the board does (users and
seeds t-test, Holm within task and metric), with the primary metric by user-activity tercile.

Run after `dvc repro` (which fits PLE and the others); it fits MMoE and CGC into the same runs/ folder:
    python tests/benchmarks/measure_mtl.py [--skip-fit]
"""

from __future__ import annotations

import argparse
import json
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
BASES = ("MMoE", "CGC", "PLE")
OTHERS = ("GlobalMean", "Popularity", "RepeatConsumption", "DeepFM", "MultiTaskMLP")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--skip-fit", action="store_true")
    p.add_argument("--data-root", default="data")
    p.add_argument("--runs-root", default="runs")
    p.add_argument("--out", default=None)
    a = p.parse_args()
    params = load_params("params.yaml")
    ds, data, runs = params.dataset.name, Path(a.data_root), Path(a.runs_root)
    for name in BASES[:2]:
        if a.skip_fit:
            break
        spec = params.models[name]
        spec = ModelSpec(name, spec.cls, spec.code, MappingProxyType(dict(spec.params)), (), spec.device)
        for seed in params.seeds:
            recs = run_shared(ds, SharedFit(name, TASKS), spec, seed, data, runs, params.threads, quiet=True)
            print(f"{name} seed {seed}: fit {recs[0]['train_seconds']:.0f} s, "
                  f"{recs[0]['fit']['network']['epochs']} epochs", flush=True)
    shared = (*BASES, "MultiTaskMLP")
    rows, out = [], {}
    for task in TASKS:
        primary = get_task(task).primary
        plan = params.tasks[task]
        models = [m for m in (*BASES, *OTHERS) if m != plan.reference and
                  run_dirs(runs, ds, task, m, params.seeds, shared)]
        comps = finalize(compare_runs(runs, ds, task, models, plan.reference, data, seeds=params.seeds, quiet=True,
                                      shared=shared, **asdict(params.significance)))
        for c in comps:
            if c.get("metric") != primary or c["status"] != "ok":
                continue
            recs = [json.loads((d / "metrics.json").read_text())
                    for _, d in run_dirs(runs, ds, task, c["model"], params.seeds, shared)]
            per_seed = [r["metrics"][primary] for r in recs]
            act = [np.mean([r["metrics"].get(f"breakdown/activity={k}/{primary}", np.nan) for r in recs])
                   for k in ("low", "mid", "high")]
            mark = "▲" if c["holm_p"] < 0.05 and c["diff"] > 0 else "▼" if c["holm_p"] < 0.05 else "·"
            sd = np.std(per_seed, ddof=1) if len(per_seed) > 1 else 0.0
            rows.append([task, c["model"], f"{np.mean(per_seed):.4f} ± {sd:.4f}",
                         f"{c['diff']:+.4f} [{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]", f"{c['holm_p']:.3g}", mark,
                         *(f"{v:.4f}" for v in act)])
            out.setdefault(task, {})[c["model"]] = {"mean": float(np.mean(per_seed)), "per_seed": per_seed,
                                                   "diff": c["diff"], "ci": [c["ci_low"], c["ci_high"]],
                                                   "holm_p": c["holm_p"], "activity": act}
        ref = [json.loads((d / "metrics.json").read_text())["metrics"][primary]
               for _, d in run_dirs(runs, ds, task, plan.reference, params.seeds, shared)]
        rows.append([task, f"{plan.reference} (reference)", f"{np.mean(ref):.4f}", "", "", "", "", "", ""])
    print(tabulate(rows, ["task", "row", "primary (mean ± sd over seeds)", "Δ vs reference [95%]", "Holm p", "mark",
                          "low activity", "mid", "high"]))
    if a.out:
        Path(a.out).write_text(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    main()
