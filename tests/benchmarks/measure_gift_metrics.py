"""How well gift_price's candidate primary metrics resolve models: GradientBoosting vs Popularity and the Oracle
vs GradientBoosting, each with the board's own test (users and seeds, user-cluster bootstrap), from stored runs.

    python tests/benchmarks/measure_gift_metrics.py sim-small-s0 sim-dense-s0 sim-small-s0-nohighlights

Candidates: normalized Gini of the raw value (the primary), of log1p(value) (whales weigh less) and AUC of
"any gift" (ignores the value). Needs each dataset's data/tasks and runs/ (its `dvc exp run`); docs/tasks.md
quotes the figures.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from benchmark.compare import _global, _ok_runs, load_test_labels, score_runs
from benchmark.tasks.scoring import MetricPlan

PAIRS = (("Popularity", "GradientBoosting"), ("Oracle", "GradientBoosting"))
CANDIDATES = {"normalized_gini (raw value)": ("normalized_gini", np.asarray),
              "normalized_gini (log1p value)": ("normalized_gini", np.log1p),
              "auc (any gift)": ("auc", lambda v: (v > 0).astype(np.float64))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("datasets", nargs="+")
    ap.add_argument("--runs-root", default="runs")
    ap.add_argument("--data-root", default="data")
    ap.add_argument("--resamples", type=int, default=1000)
    a = ap.parse_args()
    for ds in a.datasets:
        test = load_test_labels(Path(a.data_root), ds, "gift_price", ["gift_value"])
        ids, users = test["sample_id"].to_numpy(), test["user_id"].to_numpy()
        value = test["gift_value"].to_numpy(dtype=np.float64)
        scores = {}
        for m in {m for pair in PAIRS for m in pair}:
            ok, _ = _ok_runs(Path(a.runs_root), ds, "gift_price", m, None, ())
            scores[m] = score_runs([d for _, d in ok], "score", ids)
        print(f"## {ds}: {ids.size:,} clicks, {int((value > 0).sum()):,} with a gift, {np.unique(users).size:,} users")
        for name, (fn, transform) in CANDIDATES.items():
            plan = MetricPlan(fn, "global", "gift_value", "score", fn)
            cells = []
            for model, ref in PAIRS:
                r = _global(plan, transform(value), users, scores[model], scores[ref], a.resamples, 0, 0.05)
                cells.append(f"{model} - {ref} {r['diff']:+.4f} [{r['ci_low']:+.4f}, {r['ci_high']:+.4f}] "
                             f"(width {r['ci_high'] - r['ci_low']:.3f})")
            print(f"- {name}: " + "; ".join(cells))


if __name__ == "__main__":
    main()
