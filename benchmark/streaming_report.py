"""`python -m benchmark.streaming_report`: what streaming bought each streaming model, from the stored runs.

The board tests every row against its task's reference; this report pairs each `<model>@<stream>` row with
its own static row (the same fit, so the difference is the online learning alone), with the same test
(users and seeds t-test, Holm within each task and metric), and prints the replay's costs.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

import numpy as np
from tabulate import tabulate

from benchmark.compare import compare_runs, finalize, read_metrics, run_dirs
from benchmark.params import Params, as_params, load_params, split_row


def _mean(records: list[dict], key: str, block: str | None = None) -> float | None:
    """Mean of a record field (or of a field of one of its blocks) over the runs that have it."""
    values = [(r.get(block) or {}).get(key) if block else r.get(key) for r in records]
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def report(params: Params | Mapping, runs_root: Path = Path("runs"), data_root: Path = Path("data")
           ) -> tuple[list[list], list[list]]:
    """(cost rows, comparison rows) for every streaming model of params' tasks: its static row and each
    streaming row; each streaming row paired with its static row."""
    params = as_params(params)
    ds = params.dataset.name
    costs, comparisons = [], []
    for task, plan in params.tasks.items():
        streaming = {m: params.models[m].rows for m in plan.models if m in params.models and params.models[m].streams}
        streaming.update({m: fit.rows for m, fit in params.shared.items() if task in fit.tasks and fit.streams})
        for model, rows in streaming.items():
            shared = rows if model in params.shared else ()
            for row in rows:
                recs = [read_metrics(d / "metrics.json")
                        for _, d in run_dirs(runs_root, ds, task, row, params.seeds, shared)]
                recs = [r for r in recs if r.get("status") == "ok"]
                if not recs:
                    continue
                costs.append([task, row, len(recs), _mean(recs, "train_seconds"), _mean(recs, "predict_seconds"),
                              *(_mean(recs, k, "replay") for k in ("update_calls", "revealed_rows", "update_seconds",
                                                                   "revealed_rows_per_second"))])
            comparisons += compare_runs(runs_root, ds, task, list(rows[1:]), model, data_root, seeds=params.seeds,
                                        quiet=True, shared=shared, **asdict(params.significance))
    rows = [[c["task"], c["model"], split_row(c["model"])[0], c["metric"], c.get("model_value"),
             c.get("reference_value"), c.get("diff"), f"[{c['ci_low']:+.5f}, {c['ci_high']:+.5f}]", c["pvalue"],
             c["holm_p"]] for c in finalize(comparisons) if c["status"] == "ok"]
    return costs, rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--runs-root", default="runs")
    p.add_argument("--data-root", default="data")
    a = p.parse_args(argv)
    costs, rows = report(load_params(a.params), Path(a.runs_root), Path(a.data_root))
    print(tabulate(costs, ["task", "row", "seeds", "fit s", "predict / replay s", "update calls", "revealed rows",
                           "update s", "revealed rows/s"], floatfmt=",.2f", tablefmt="github", missingval="—"))
    print()
    print(tabulate(rows, ["task", "row", "paired with", "metric", "row", "static", "Δ", "95% CI", "p", "Holm p"],
                   floatfmt=".5g", tablefmt="github"))


if __name__ == "__main__":
    main()
