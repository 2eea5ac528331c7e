"""OneLive aligned to PLE's fused score by GRPO and DPO (docs/onelive.md, "Alignment"): their topk rows beside the
supervised OneLive with marks, what each row's top 10 is worth by the simulator's truth, and the cost of alignment.

Run after `dvc repro` (the board's PLE fits, its OneLive and reference runs are linked into this script's own runs
folder, nothing of theirs is refitted):
    python tests/benchmarks/measure_align.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
from tabulate import tabulate

from benchmark.compare import compare_runs, finalize, run_dirs
from benchmark.params import parse_params, read_params_file
from benchmark.shared_fit import run_shared_stage
from benchmark.top_outcomes import OUTCOMES, board_outcomes

ALIGNED = ("OneLive+GRPO", "OneLive+DPO")
LINKED = ("RepeatConsumption", "OneLive", "BPR", "Pop", "Oracle")
METRICS = ("ndcg@10", "recall@10", "recall@50", "mrr")
ALPHA = 0.05


def kuaishou(dataset: str | None):
    """params.yaml with the kuaishou sets (OneLive+GRPO and OneLive+DPO load PLE's fit), on `dataset`."""
    raw = read_params_file("params.yaml")
    raw.update(tasks=raw["model_sets"]["kuaishou"], shared=raw["shared_sets"]["kuaishou"],
               shared_with_input=raw["shared_with_input_sets"]["kuaishou"])
    if dataset:
        raw["dataset"] = dataset
    return parse_params(raw)


def link(board: Path, runs: Path, dataset: str) -> None:
    """The board's topk runs of LINKED and PLE's shared folder (its fits are the reward model), linked."""
    for src, dst in [*((board / dataset / "topk" / m, runs / dataset / "topk" / m) for m in LINKED),
                     (board / dataset / "shared" / "PLE", runs / dataset / "shared" / "PLE")]:
        if src.exists() and not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.symlink_to(src.resolve(), target_is_directory=True)


def compare(params, data: Path, runs: Path, models: list[str], reference: str, seeds: list[int]) -> dict:
    """Each model vs `reference` on NDCG@10 (users and seeds t-test), Holm within this family."""
    out = finalize(compare_runs(runs, params.dataset.name, "topk", models, reference, data, seeds=seeds, quiet=True,
                                shared=params.tasks["topk"].shared, **asdict(params.significance)))
    return {c["model"]: c for c in out if c.get("metric") == "ndcg@10" and c["status"] == "ok"}


def _delta(c: dict | None) -> str:
    if c is None:
        return "—"
    interval = f"{c['diff']:+.4f} [{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]"
    if c["holm_p"] is None:   # a reference row (the Oracle): never in a family, never marked
        return f"{interval} (p {c['pvalue']:.3g}, unranked)"
    mark = "·" if c["holm_p"] >= ALPHA else "▲" if c["diff"] > 0 else "▼"
    return f"{interval} {mark} (Holm p {c['holm_p']:.3g})"


def _mean_sd(values: list[float], digits: int = 4) -> str:
    sd = f" ± {np.std(values, ddof=1):.{digits}f}" if len(values) > 1 else ""
    return f"{np.mean(values):.{digits}f}{sd}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default=None, help="params.yaml's dataset by default")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--data-root", default="data")
    p.add_argument("--board-runs", default="runs", help="the board's runs (PLE and the references linked from here)")
    p.add_argument("--runs-root", default="runs-align")
    p.add_argument("--out", default=None, help="write the figures as JSON here")
    a = p.parse_args()
    params = kuaishou(a.dataset)
    ds, data, runs = params.dataset.name, Path(a.data_root).resolve(), Path(a.runs_root).resolve()
    link(Path(a.board_runs).resolve(), runs, ds)
    shared = params.tasks["topk"].shared
    for model in ALIGNED:
        for seed in a.seeds:
            if run_dirs(runs, ds, "topk", model, [seed], shared):
                continue
            t0 = time.perf_counter()
            [rec] = run_shared_stage(params, model, data, runs, [seed], quiet=True)
            assert rec["status"] == "ok", rec.get("error")
            took = rec["fit"]["alignment"]["seconds"]
            print(f"{ds} {model} seed {seed}: {time.perf_counter() - t0:.0f} s (fit {rec['train_seconds']:.0f} s, "
                  f"of which alignment {took:.0f} s; rank {rec['predict_seconds']:.0f} s)", flush=True)
    rows = ["OneLive", *ALIGNED, "PLE", "BPR", "Pop", "RepeatConsumption", "Oracle"]
    vs_ref = compare(params, data, runs, [m for m in rows if m != "RepeatConsumption"], "RepeatConsumption", a.seeds)
    vs_sup = compare(params, data, runs, list(ALIGNED), "OneLive", a.seeds)
    worth = board_outcomes(runs, data, ds, tuple(rows), shared, tuple(a.seeds))
    table, out = [], {}
    for m in rows:
        recs = [json.loads((d / "metrics.json").read_text()) for _, d in run_dirs(runs, ds, "topk", m, a.seeds, shared)]
        recs = [r for r in recs if r["status"] == "ok"]
        if not recs:
            continue
        got = {k: [r["metrics"][k] for r in recs] for k in METRICS}
        got.update({k: [w[k] for w in worth.get(m, [])] for k in OUTCOMES})
        cost = [r["fit"].get("alignment") for r in recs if "alignment" in (r.get("fit") or {})]
        out[m] = {**got, "alignment": cost}
        table.append([m, len(recs), _mean_sd(got["ndcg@10"]), *(f"{np.mean(got[k]):.4f}" for k in METRICS[1:]),
                      _delta(vs_ref.get(m)), _delta(vs_sup.get(m)),
                      *(_mean_sd(got[k], 3) if got[k] else "—" for k in OUTCOMES)])
    print(f"\n{ds} topk, seeds {a.seeds}; Δ NDCG@10 vs RepeatConsumption and vs OneLive (supervised): users and seeds "
          "t-test, Holm within each column; expected outcomes of the top 10 per query by the simulator's truth")
    print(tabulate(table, headers=["row", "seeds", *METRICS, "Δ vs RepeatConsumption", "Δ vs OneLive",
                                   *(f"top-10 {k}" for k in OUTCOMES)], tablefmt="github"))
    print("\nalignment cost (2 threads unless the runs say otherwise)")
    print(tabulate([[m, r["steps"], f"{r['seconds']:.1f}", f"{r['seconds_per_step']:.3f}",
                     f"{r['sampled_reward_first_tenth']:.4f} -> {r['sampled_reward_last_tenth']:.4f}"]
                    for m in ALIGNED for r in out.get(m, {}).get("alignment", [])],
                   headers=["row", "steps", "seconds", "seconds/step", "sampled reward, first -> last tenth"],
                   tablefmt="github"))
    if a.out:
        Path(a.out).write_text(json.dumps({"dataset": ds, "rows": out, "vs_reference": vs_ref, "vs_onelive": vs_sup},
                                          indent=1, default=float))


if __name__ == "__main__":
    main()
