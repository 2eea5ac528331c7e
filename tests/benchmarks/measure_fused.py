"""What the fused ranking score Π (1 + ŷ)^w buys PLE on topk, against ranking by one tower (docs/moment-cross.md).

Loads PLE's saved shared fits (runs/<dataset>/shared/PLE/fit/seed<k>/, written by `dvc repro`), ranks the test
queries' live candidates under each weighting from the same fit, and prints NDCG@10, Recall@10/50, MRR (overall,
repeat and new targets) averaged over seeds. The first weighting is params.yaml's: it must match the board row.

    python tests/benchmarks/measure_fused.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
from tabulate import tabulate

from benchmark.params import load_params
from benchmark.runner import load_split, open_model, rank_queries, run_record
from benchmark.sandbox import sandbox
from benchmark.shared_fit import fit_folder, load_fit
from benchmark.tasks import get_task

WEIGHTINGS = {"click only": {"click": 1.0}, "long_view only": {"long_view": 1.0}, "gift only": {"gift": 1.0},
              "click, long_view": {"click": 1.0, "long_view": 1.0}}
METRICS = ("ndcg@10", "recall@10", "recall@50", "mrr", "ndcg@10_repeat", "ndcg@10_new")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default=None, help="params.yaml's dataset by default")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--data-root", default="data")
    p.add_argument("--runs-root", default="runs")
    p.add_argument("--out", default=None, help="write the figures as JSON here")
    a = p.parse_args()
    params = load_params("params.yaml")
    dataset = a.dataset or params.dataset.name
    spec = params.models["PLE"]
    weightings = {f"params {dict(spec.params)['fusion']}": dict(spec.params)["fusion"], **WEIGHTINGS}
    task = get_task("topk")
    data, runs = Path(a.data_root).resolve(), Path(a.runs_root).resolve()   # the sandbox changes directory
    test = load_split(data / "tasks" / dataset / "topk", "test")
    table: dict[str, list[dict]] = {}
    for seed in a.seeds:
        with sandbox() as work:
            _, ctx, store, periods = open_model(dataset, spec, seed, data, work, params.threads, True,
                                                run_record(dataset, "topk", seed, params.threads))
            ctx = replace(ctx, task="topk", labels=task.labels, kind=task.kind)
            model = load_fit(fit_folder(runs, dataset, "PLE", seed), ctx, store, False)
            for name, weights in weightings.items():
                model.params["fusion"] = weights
                ranks, _, _ = rank_queries(model, test, store, ctx, periods)
                table.setdefault(name, []).append(task.evaluate(test, ranks).metrics)
                print(f"seed {seed}: {name}: ndcg@10 {table[name][-1]['ndcg@10']:.4f}", flush=True)
    rows = [[name, *(np.mean([m[k] for m in runs]) for k in METRICS)] for name, runs in table.items()]
    print(f"\nPLE on {dataset} topk, one fit per seed ranked under each weighting; mean of seeds {a.seeds}")
    print(tabulate(rows, headers=["weighting", *METRICS], floatfmt=".4f", tablefmt="github"))
    if a.out:
        Path(a.out).write_text(json.dumps({"dataset": dataset, "seeds": a.seeds, "runs": table}, indent=1))


if __name__ == "__main__":
    main()
