"""A/A over retrained seeds: one non-deterministic model trained with many seeds, split into disjoint
k-seed-vs-k-seed comparisons of that model with itself, tested as the board tests (docs/statistics.md).

Every such comparison is a true null, so the share marked different is the test's false-positive rate
when retraining variance is real. `before` reproduces the board's former test (seed-averaged scores,
users-only tests, raw scores swapped); `after` is `benchmark.compare`'s test. Run
`python -m benchmark.aa_retrain --model LR` (trains the missing seeds first, ~20 s each at small).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from tqdm import tqdm

from benchmark import compare as C
from benchmark import significance as S
from benchmark.params import load_params
from benchmark.tasks import get_task


def _before(plan: C.MetricPlan, a: list[Path], b: list[Path], test, n_resamples: int) -> tuple[float, float, float]:
    """The former test of one comparison: (p, ci_low, ci_high) on seed-averaged values and raw scores."""
    if plan.kind == "per_user":
        ma, mb = C.seed_mean_per_user(a, plan.metric), C.seed_mean_per_user(b, plan.metric)
        pair = ma.merge(mb, on="user_id", suffixes=("_a", "_b"))
        va, vb = pair["value_a"].to_numpy(), pair["value_b"].to_numpy()
        w = 0.5 * (pair["weight_a"].to_numpy() + pair["weight_b"].to_numpy())
        p = S.paired_permutation_test(va, vb, n_resamples=n_resamples, weights=w).pvalue
        ci = S.paired_bootstrap_ci(va, vb, weights=w, n_resamples=n_resamples)
        return p, ci.low, ci.high
    ids, users, y = test["sample_id"].to_numpy(), test["user_id"].to_numpy(), test[plan.label].to_numpy(float)
    sa = C.score_runs(a, plan.column, ids).mean(axis=0)
    sb = C.score_runs(b, plan.column, ids).mean(axis=0)
    p = S.cluster_randomization_test(y, sa, sb, users, plan.fn, n_resamples=n_resamples, rank_normalised=False).pvalue
    ci = S.cluster_bootstrap_ci(y, sa, sb, users, plan.fn, n_resamples=n_resamples)
    return p, ci.low, ci.high


def _after(plan: C.MetricPlan, a: list[Path], b: list[Path], test, n_resamples: int, alpha: float) -> dict:
    if plan.kind == "per_user":
        return C._per_user(C.per_user_runs(a, plan.metric), C.per_user_runs(b, plan.metric), n_resamples, 0, alpha)
    ids, users, y = test["sample_id"].to_numpy(), test["user_id"].to_numpy(), test[plan.label].to_numpy(float)
    return C._global(plan, y, users, C.score_runs(a, plan.column, ids), C.score_runs(b, plan.column, ids),
                     n_resamples, 0, alpha)


def retrain_aa(runs_root: Path, data_root: Path, dataset: str, task: str, model: str, seeds: list[int],
               per_side: int = 3, n_resamples: int = 1000, alpha: float = 0.05, quiet: bool = False) -> list[dict]:
    """One record per (comparison, metric): seeds[2kn : 2kn+n] vs the next n (n = per_side), before and
    after. Only runs with status ok are used; seeds are taken in the order given."""
    ok = dict(C._ok_runs(Path(runs_root), dataset, task, model, seeds)[0])
    folders = [ok[s] for s in seeds if s in ok]
    plans = get_task(task).tests
    labels = sorted({p.label for p in plans if p.kind == "global"})
    test = C.load_test_labels(Path(data_root), dataset, task, labels)
    out = []
    n_cmp = len(folders) // (2 * per_side)
    for k in tqdm(range(n_cmp), desc=f"A/A {model} {per_side}v{per_side}", disable=quiet):
        a = folders[2 * k * per_side:(2 * k + 1) * per_side]
        b = folders[(2 * k + 1) * per_side:(2 * k + 2) * per_side]
        for plan in plans:
            p0, lo0, hi0 = _before(plan, a, b, test, n_resamples)
            new = _after(plan, a, b, test, n_resamples, alpha)
            out.append({"comparison": k, "metric": plan.metric, "seeds_a": [int(d.name[4:]) for d in a],
                        "seeds_b": [int(d.name[4:]) for d in b], "before_p": p0, "before_ci": (lo0, hi0),
                        "after_p": new["pvalue"], "after_ci": (new["ci_low"], new["ci_high"]),
                        "diff": new["diff"], "se_users": new["se_users"], "se_seeds": new["se_seeds"],
                        "p_users": new["p_users"]})
    return out


def summary(records: list[dict], alpha: float = 0.05) -> str:
    """Per metric and over any metric: how many comparisons each test marks different (p < alpha)."""
    lines = []
    comps = sorted({r["comparison"] for r in records})
    for metric in dict.fromkeys(r["metric"] for r in records):
        rs = [r for r in records if r["metric"] == metric]
        before = sum(r["before_p"] < alpha for r in rs)
        after = sum(r["after_p"] < alpha for r in rs)
        ratio = np.median([r["se_seeds"] / r["se_users"] for r in rs if r["se_users"] > 0])
        lines.append(f"{metric:10s} marked different: before {before}/{len(rs)}, after {after}/{len(rs)} "
                     f"(median se_seeds / se_users {ratio:.2f})")
    any_b = sum(any(r["before_p"] < alpha for r in records if r["comparison"] == k) for k in comps)
    any_a = sum(any(r["after_p"] < alpha for r in records if r["comparison"] == k) for k in comps)
    lines.append(f"{'any metric':10s} marked different: before {any_b}/{len(comps)}, after {any_a}/{len(comps)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="LR")
    ap.add_argument("--task", default="ctr")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--first-seed", type=int, default=100)
    ap.add_argument("--n-seeds", type=int, default=120)
    ap.add_argument("--per-side", type=int, default=3)
    ap.add_argument("--n-resamples", type=int, default=1000)
    ap.add_argument("--data-root", default="data")
    ap.add_argument("--runs-root", default="runs-aa")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    params = load_params(args.params)
    dataset = params.dataset.name
    seeds = list(range(args.first_seed, args.first_seed + args.n_seeds))
    missing = [s for s in seeds if not C.run_dirs(Path(args.runs_root), dataset, args.task, args.model, [s])]
    if missing:
        from benchmark.runner import run_model_stage
        run_model_stage(params, args.task, args.model, Path(args.data_root), Path(args.runs_root), seeds=missing,
                        quiet=args.quiet)
    records = retrain_aa(Path(args.runs_root), Path(args.data_root), dataset, args.task, args.model, seeds,
                         args.per_side, args.n_resamples, quiet=args.quiet)
    for r in records:
        print(f"{r['comparison']:2d} {r['metric']:8s} Δ {r['diff']:+.4f}  before p {r['before_p']:.3f} "
              f"[{r['before_ci'][0]:+.4f}, {r['before_ci'][1]:+.4f}]  after p {r['after_p']:.3f} "
              f"[{r['after_ci'][0]:+.4f}, {r['after_ci'][1]:+.4f}]  "
              f"se users {r['se_users']:.4f} seeds {r['se_seeds']:.4f}")
    print(summary(records))


if __name__ == "__main__":
    main()
