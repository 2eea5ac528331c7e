"""What Moment's real-time stream buys PLE, and how it depends on highlights (docs/moment-cross.md).

For each dataset: PLE's shared fit per seed, its static ctr row and its replays under `moment` and `fast_slow`
(runs under --runs-root), then the ctr GAUC overall and on the test exposures inside a highlight window (the
simulator's oracle says which), each streaming row paired with the static row (users and seeds t-test, as the
board), and the difference-in-differences between two datasets (moment's gain with highlights on minus off).

    python tests/benchmarks/measure_moment.py sim-small-s0 sim-dense-s0 sim-dense-s0-nohighlights --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pyarrow.parquet as pq
from tabulate import tabulate

from benchmark.compare import compare_runs
from benchmark.io import run_folder
from benchmark.metrics import gauc
from benchmark.params import ModelSpec, SharedFit, load_params
from benchmark.runner import load_oracle, load_split
from benchmark.shared_fit import run_shared

ROWS = ("PLE", "PLE@moment", "PLE@fast_slow")


def highlight_gauc(runs: Path, data: Path, dataset: str, seeds: list[int]) -> dict[str, list[float]]:
    """Per row, per seed, the ctr GAUC on the test exposures inside a highlight window (NaN when none)."""
    test = load_split(data / "tasks" / dataset / "ctr", "test")
    inside = load_oracle(data, dataset).in_highlight(test["live_id"].to_numpy(), test["ts"].to_numpy())
    out: dict[str, list[float]] = {}
    for row in ROWS:
        for seed in seeds:
            pred = pq.read_table(run_folder(runs, dataset, "ctr", row, shared=True) / f"seed{seed}" /
                                 "predictions.parquet").to_pandas().set_index("sample_id")["score"]
            sub = test[inside]
            value = gauc(sub["click"].to_numpy(), pred.loc[sub["sample_id"]].to_numpy(), sub["user_id"].to_numpy()) \
                if inside.any() else float("nan")
            out.setdefault(row, []).append(value)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("datasets", nargs="+")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--data-root", default="data")
    p.add_argument("--runs-root", default="runs-moment")
    p.add_argument("--skip-fit", action="store_true", help="only read runs already under --runs-root")
    p.add_argument("--out", default=None, help="write the figures as JSON here")
    a = p.parse_args()
    params = load_params("params.yaml")
    spec = params.models["PLE"]
    spec = ModelSpec(spec.name, spec.cls, spec.code, MappingProxyType(dict(spec.params)), (), spec.device)
    data, runs = Path(a.data_root), Path(a.runs_root)
    figures: dict = {}
    for ds in a.datasets:
        if not a.skip_fit:
            for seed in a.seeds:
                t0 = time.perf_counter()
                recs = run_shared(ds, SharedFit("PLE", ("ctr",), None, ("moment", "fast_slow")), spec, seed, data,
                                  runs, params.threads, quiet=True)
                bad = [r for r in recs if r["status"] != "ok"]
                assert not bad, bad[0].get("error")
                replays = ", ".join(f"{r['predict_seconds']:.0f} s" for r in recs[1:])
                print(f"{ds} seed {seed}: {time.perf_counter() - t0:.0f} s (fit {recs[0]['train_seconds']:.0f} s, "
                      f"replays {replays})", flush=True)
        tests = compare_runs(runs, ds, "ctr", list(ROWS[1:]), "PLE", data, 10000, 1000, 0, seeds=a.seeds,
                             quiet=True, shared=ROWS)
        inside = highlight_gauc(runs, data, ds, a.seeds)
        figures[ds] = {"tests": [{k: c.get(k) for k in ("model", "metric", "model_value", "reference_value", "diff",
                                                        "ci_low", "ci_high", "pvalue")}
                                 for c in tests if c.get("status") == "ok"],
                       "highlight_gauc": inside}
    rows = []
    for ds, f in figures.items():
        static_hl = np.nanmean(f["highlight_gauc"]["PLE"])
        for c in (c for c in f["tests"] if c["metric"] == "gauc"):
            hl = np.nanmean(f["highlight_gauc"][c["model"]])
            rows.append([ds, c["model"], c["reference_value"], c["model_value"], c["diff"],
                         f"[{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]", c["pvalue"], static_hl, hl, hl - static_hl])
    print(tabulate(rows, ["dataset", "row", "static gauc", "row gauc", "Δ vs static", "95%", "p",
                          "static gauc in highlights", "row gauc in highlights", "Δ in highlights"], floatfmt=".4f"))
    print(tabulate([[ds, c["model"], c["metric"], c["reference_value"], c["model_value"], c["diff"],
                     f"[{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]", c["pvalue"]]
                    for ds, f in figures.items() for c in f["tests"] if c["metric"] != "gauc"],
                   ["dataset", "row", "metric", "static", "row", "Δ vs static", "95%", "p"], floatfmt=".4f"))
    names = list(figures)
    for on, off in zip(names, names[1:], strict=False):
        if off != f"{on}-nohighlights":
            continue
        for row in ROWS[1:]:
            a_, b_ = ({c["model"]: c for c in figures[d]["tests"] if c["metric"] == "gauc"}[row] for d in (on, off))
            half = np.hypot(a_["ci_high"] - a_["ci_low"], b_["ci_high"] - b_["ci_low"]) / 2
            did = a_["diff"] - b_["diff"]
            print(f"difference-in-differences, {row} vs static, {on} minus {off}: {did:+.4f} "
                  f"[{did - half:+.4f}, {did + half:+.4f}] (independent intervals combined)")
    if a.out:
        Path(a.out).write_text(json.dumps(figures, indent=1, default=float))


if __name__ == "__main__":
    main()
