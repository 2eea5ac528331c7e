"""Significance of every model against its task's reference on the test split, user as the unit (spec §7).

Reads the run directories (docs/runs.md), averages each model over its successful seeds, runs the
tests of `benchmark.significance`, then corrects for multiple testing (`finalize`). docs/leaderboard.md
says which test serves which metric and why.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from tqdm import tqdm

from benchmark import metrics as M
from benchmark import significance as S
from benchmark.errors import BenchmarkError, DataError
from benchmark.io import log, run_folder, write_json_atomic
from benchmark.metrics import MetricInputError
from benchmark.params import Params, as_params, split_row
from benchmark.tasks import get_task
from benchmark.tasks.scoring import MetricPlan

TEST = "users and seeds t-test"
PER_USER_TEST = "weighted paired sign-flip"             # the user-level cross-check of a per-user metric
GLOBAL_TEST = "user-cluster randomisation"              # ... of a global metric (rank-normalised for ranks)


# ---------------------------------------------------------------------------------------------
# reading run directories
# ---------------------------------------------------------------------------------------------

def run_dirs(runs_root: Path, dataset: str, task: str, model: str, seeds: Iterable[int] | None = None,
             shared: Collection[str] = ()) -> list[tuple[int, Path]]:
    """(seed, folder) of every run of a model that wrote metrics.json, by seed; only `seeds` if given.
    `shared`: the models whose rows come from a shared fit (they live in its stage's folder)."""
    base = run_folder(runs_root, dataset, task, model, split_row(model)[0] in shared)
    if not base.is_dir():
        return []
    wanted = None if seeds is None else {int(s) for s in seeds}
    out = []
    for d in base.glob("seed*"):
        tail = d.name[4:]
        if not (d.is_dir() and tail.isdigit() and (d / "metrics.json").exists()):
            continue
        if wanted is None or int(tail) in wanted:
            out.append((int(tail), d))
    return sorted(out)


def read_metrics(path: Path) -> dict:
    """One run's metrics.json (NaN allowed, as the runner writes it)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise DataError(str(path), f"unreadable metrics.json ({e})") from None


def listed_unranked(row: str, unranked: Iterable[str]) -> bool:
    """Whether params' `leaderboard.unranked` lists this row or its model (a model's streaming rows follow it)."""
    return row in unranked or split_row(row)[0] in unranked


def uses_oracle(runs_root: Path, dataset: str, task: str, model: str, shared: Collection[str] = ()) -> bool:
    """Whether a model's runs declare uses_oracle (then it is a reference row whatever params say)."""
    return any(read_metrics(d / "metrics.json").get("uses_oracle")
               for _, d in run_dirs(runs_root, dataset, task, model, None, shared))


def _ok_runs(runs_root: Path, dataset: str, task: str, model: str, seeds: Iterable[int] | None,
             shared: Collection[str] = ()) -> tuple[list[tuple[int, Path]], list[str]]:
    """Successful runs (seed, folder) and the errors of the failed ones."""
    ok, errors = [], []
    for seed, d in run_dirs(runs_root, dataset, task, model, seeds, shared):
        rec = read_metrics(d / "metrics.json")
        if rec.get("status") == "ok":
            ok.append((seed, d))
        else:
            errors.append(f"seed{seed}: {rec.get('error') or 'failed without an error message'}")
    return ok, errors


def _read_parquet(path: Path, columns: list[str]) -> pd.DataFrame:
    if not path.exists():
        raise DataError(str(path), "missing (the run says status ok: rerun the model)")
    try:
        return pq.read_table(path, columns=columns).to_pandas()
    except (OSError, ValueError, KeyError) as e:
        raise DataError(str(path), f"unreadable or missing columns {columns} ({e})") from None


def per_user_runs(folders: list[Path], metric: str) -> pd.DataFrame:
    """One per-user metric of every run: user_id, weight and one value column per run (run0, run1, ...),
    over the users every run holds (the same users in practice: which users a metric covers depends on
    the labels alone)."""
    merged = None
    for i, d in enumerate(folders):
        df = _read_parquet(d / "per_user.parquet", ["metric", "user_id", "value", "weight"])
        df = df.loc[df["metric"] == metric, ["user_id", "value", "weight"]]
        if df.empty:
            raise DataError(str(d / "per_user.parquet"), f"no rows for metric '{metric}'")
        df = df.rename(columns={"value": f"run{i}", "weight": f"weight{i}"})
        merged = df if merged is None else merged.merge(df, on="user_id", how="inner")
    weights = merged[[f"weight{i}" for i in range(len(folders))]].mean(axis=1)
    out = merged[["user_id"] + [f"run{i}" for i in range(len(folders))]].assign(weight=weights)
    return out.sort_values("user_id", kind="stable").reset_index(drop=True)


def seed_mean_per_user(folders: list[Path], metric: str) -> pd.DataFrame:
    """user_id, value, weight of one per-user metric, the value averaged over the runs."""
    runs = per_user_runs(folders, metric)
    cols = [c for c in runs.columns if c.startswith("run")]
    return pd.DataFrame({"user_id": runs["user_id"], "value": runs[cols].mean(axis=1), "weight": runs["weight"]})


def score_runs(folders: list[Path], column: str, sample_ids: np.ndarray) -> np.ndarray:
    """One score column of every run as a (runs, samples) array aligned to `sample_ids` (sorted); every
    id must be predicted."""
    out = np.empty((len(folders), sample_ids.size))
    for i, d in enumerate(folders):
        path = d / "predictions.parquet"
        df = _read_parquet(path, ["sample_id", column])
        ids = df["sample_id"].to_numpy()
        order = np.argsort(ids, kind="stable")
        if ids.size != sample_ids.size or not np.array_equal(ids[order], sample_ids):
            raise DataError(str(path), f"holds {ids.size:,} predictions that do not match the "
                            f"{sample_ids.size:,} test samples (task files rebuilt since this run?)",
                            column="sample_id")
        out[i] = df[column].to_numpy(dtype=np.float64)[order]
    return out


def load_test_labels(data_root: Path, dataset: str, task: str, labels: list[str]) -> pd.DataFrame:
    """sample_id, user_id and the given label columns of the task's test split, sorted by sample_id."""
    path = Path(data_root) / "tasks" / dataset / task / "test.parquet"
    if not path.exists():
        raise DataError(str(path), "missing (run the tasks stage first)")
    df = _read_parquet(path, ["sample_id", "user_id", *labels])
    return df.sort_values("sample_id", kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# one comparison
# ---------------------------------------------------------------------------------------------

def _p(result: Any) -> float:
    """A test's p-value, whether it returns a float or an object with `pvalue`."""
    return float(getattr(result, "pvalue", result))


def _two_level(t: S.TwoLevelResult) -> dict:
    """A comparison's numbers from its users and seeds test, the per-seed metric of each side included."""
    m, r = np.asarray(t.runs_a), np.asarray(t.runs_b)
    return {"diff": t.estimate, "ci_low": t.ci[0], "ci_high": t.ci[1], "pvalue": t.pvalue, "test": TEST,
            "se_users": t.se_users, "se_seeds": t.se_seeds, "df": t.df, "n_users": t.n,
            "model_value": float(m.mean()), "reference_value": float(r.mean()),
            "model_seed_sd": float(np.std(m, ddof=1)) if m.size > 1 else None,
            "reference_seed_sd": float(np.std(r, ddof=1)) if r.size > 1 else None}


def _per_user(model: pd.DataFrame, ref: pd.DataFrame, n_resamples: int, seed: int, alpha: float) -> dict:
    """A per-user metric (per_user_runs frames): the two-level test of the per-seed means, whose user
    term is the user-robust standard error of the weighted mean difference, plus the sign-flip test of
    the seed-averaged per-user differences as the user-level cross-check."""
    users = np.intersect1d(model["user_id"].to_numpy(), ref["user_id"].to_numpy())
    if users.size < 2:
        raise MetricInputError(f"only {users.size} user(s) have this metric for both models")
    m = model.set_index("user_id").loc[users]
    r = ref.set_index("user_id").loc[users]
    vm = m[[c for c in m.columns if c.startswith("run")]].to_numpy().T
    vr = r[[c for c in r.columns if c.startswith("run")]].to_numpy().T
    w = 0.5 * (m["weight"].to_numpy() + r["weight"].to_numpy())
    out = _two_level(S.per_user_two_level_test(vm, vr, w, alpha))
    flip = S.paired_permutation_test(vm.mean(axis=0), vr.mean(axis=0), n_resamples=n_resamples, seed=seed,
                                     weights=w)
    return {**out, "user_test": PER_USER_TEST, "p_users": _p(flip), "n_resamples": n_resamples}


FAST_BOOTSTRAP = ("auc", "normalized_gini", "logloss", "mae")  # exact weighted paths in cluster_bootstrap_ci


def _global(plan: MetricPlan, labels: np.ndarray, users: np.ndarray, a: np.ndarray, b: np.ndarray,
            n_resamples: int, seed: int, alpha: float, n_bootstrap_recompute: int = 200) -> dict:
    """A global metric, a and b (runs × samples): the two-level test of the per-seed means, whose user
    term is the user-cluster bootstrap's standard error, plus the user-cluster randomisation test as
    the user-level cross-check (rank-normalised scores for AUC, XAUC and Gini).

    A metric without an exact weighted bootstrap path (xauc) recomputes the metric per resample and
    run; it uses min(n_resamples, n_bootstrap_recompute) resamples. The randomisation test always uses
    n_resamples."""
    if plan.fn == "logloss" and not (((a >= 0) & (a <= 1)).all() and ((b >= 0) & (b <= 1)).all()):
        raise MetricInputError("scores outside [0, 1]: LogLoss is undefined for this pair")
    f = getattr(M, plan.fn)
    runs_m = np.array([f(labels, r) for r in a])
    runs_r = np.array([f(labels, r) for r in b])
    if not (np.isfinite(runs_m).all() and np.isfinite(runs_r).all()):
        raise MetricInputError(f"{plan.fn} is undefined on the test labels")
    n_boot = n_resamples if plan.fn in FAST_BOOTSTRAP else min(n_resamples, n_bootstrap_recompute)
    boot = S.cluster_bootstrap_ci(labels, a, b, users, plan.fn, n_resamples=n_boot, seed=seed, alpha=alpha)
    out = _two_level(S.users_and_seeds_test(runs_m, runs_r, boot.se, boot.n, alpha, boot.interaction_a,
                                            boot.interaction_b))
    rand = S.cluster_randomization_test(labels, a, b, users, plan.fn, n_resamples=n_resamples, seed=seed)
    return {**out, "user_test": rand.method, "p_users": _p(rand), "n_resamples": n_resamples,
            "n_bootstrap": n_boot}


def _skipped(dataset: str, task: str, model: str, reference: str, reason: str, metric: str | None = None,
             ranked: bool = True) -> dict:
    return {"dataset": dataset, "task": task, "metric": metric, "model": model, "reference": reference,
            "status": "skipped", "reason": reason, "ranked": ranked}


def ablation_rows(rows: Iterable[str], oracle: str) -> list[str]:
    """The Oracle's ablations among a task's rows: `<oracle>-<mechanism>blind`, the truth with one mechanism
    hidden (docs/baselines.md)."""
    return [r for r in rows if r.startswith(f"{oracle}-") and r.endswith("blind")]


def compare_runs(runs_root: Path, dataset: str, task: str, models: list[str], reference: str,
                 data_root: Path = Path("data"), n_resamples: int = 10000, n_cluster_resamples: int = 1000,
                 seed: int = 0, seeds: Iterable[int] | None = None, unranked: Iterable[str] = (),
                 quiet: bool = False, n_bootstrap_recompute: int = 200, alpha: float = 0.05,
                 shared: Collection[str] = (), oracle_reference: bool = False) -> list[dict]:
    """Every model vs `reference` on one task's test split: one record per (model, tested metric).

    Only runs with status "ok" count (`seeds` restricts which seed folders are read). A model with no
    successful run, or a metric whose test cannot be computed, gets a record with status "skipped" and
    the reason. Models in `unranked` (artifact probe) and those whose runs declare uses_oracle (Oracle) are
    compared but marked ranked=False, so
    `finalize` leaves them out of the multiple-testing families. holm_p and bh_q stay None here.
    `oracle_reference` allows a reference that reads the truth (the Oracle, against its ablations).
    """
    plans = get_task(task).tests
    if not plans:
        raise BenchmarkError(f"compare: task '{task}' declares no tested metric (Task.tests)")
    seeds = None if seeds is None else list(seeds)
    others = [m for m in dict.fromkeys(models) if m != reference]
    if not oracle_reference and uses_oracle(runs_root, dataset, task, reference, shared):
        raise BenchmarkError(f"params.yaml: the {task} reference {reference} declares uses_oracle: a model that "
                             "reads the simulator's truth is a reference row, never the reference")
    unranked = {m for m in others if listed_unranked(m, unranked) or uses_oracle(runs_root, dataset, task, m, shared)}
    ref_ok, ref_err = _ok_runs(runs_root, dataset, task, reference, seeds, shared)
    if not ref_ok:
        why = "; ".join(ref_err) if ref_err else "no run found"
        return [_skipped(dataset, task, m, reference, f"reference {reference} has no successful run ({why})",
                         ranked=m not in unranked) for m in others]

    per_user_ref = {p.metric: per_user_runs([d for _, d in ref_ok], p.metric)
                    for p in plans if p.kind == "per_user"}
    glob = [p for p in plans if p.kind == "global"]
    test = load_test_labels(data_root, dataset, task, sorted({p.label for p in glob})) if glob else None
    if test is not None:
        sample_ids, users = test["sample_id"].to_numpy(), test["user_id"].to_numpy()
        ref_scores = {p.column: score_runs([d for _, d in ref_ok], p.column, sample_ids) for p in glob}

    records: list[dict] = []
    for model in tqdm(others, desc=f"significance {task}", disable=quiet, leave=False):
        ranked = model not in unranked
        ok, errors = _ok_runs(runs_root, dataset, task, model, seeds, shared)
        if not ok:
            reason = ("all runs failed: " + "; ".join(errors)) if errors else "no run found"
            records.append(_skipped(dataset, task, model, reference, reason, ranked=ranked))
            log(quiet, f"significance {dataset}/{task}/{model}: skipped ({reason})")
            continue
        folders = [d for _, d in ok]
        base = {"dataset": dataset, "task": task, "model": model, "reference": reference, "status": "ok",
                "ranked": ranked, "model_seeds": [s for s, _ in ok],
                "reference_seeds": [s for s, _ in ref_ok]}
        for plan in plans:
            try:
                if plan.kind == "per_user":
                    res = _per_user(per_user_runs(folders, plan.metric), per_user_ref[plan.metric],
                                    n_resamples, seed, alpha)
                else:
                    scores = score_runs(folders, plan.column, sample_ids)
                    res = _global(plan, test[plan.label].to_numpy(dtype=np.float64), users, scores,
                                  ref_scores[plan.column], n_cluster_resamples, seed, alpha, n_bootstrap_recompute)
            except MetricInputError as e:
                records.append(_skipped(dataset, task, model, reference, str(e), plan.metric, ranked))
                continue
            records.append({**base, "metric": plan.metric, "kind": plan.kind,
                            "higher_is_better": plan.higher_is_better, **res, "holm_p": None, "bh_q": None})
    return records


# ---------------------------------------------------------------------------------------------
# multiple testing, the stage
# ---------------------------------------------------------------------------------------------

def finalize(comparisons: list[dict]) -> list[dict]:
    """Holm within each family (dataset, task, metric) and Benjamini–Hochberg over the whole build.

    Only successful comparisons of ranked models enter the families; the others get holm_p = bh_q = None.
    Returns new records in the input order.
    """
    out = [dict(c, holm_p=None, bh_q=None) for c in comparisons]
    tested = [i for i, c in enumerate(out) if c.get("status") == "ok" and c.get("ranked", True)]
    families: dict[tuple, list[int]] = {}
    for i in tested:
        families.setdefault((out[i]["dataset"], out[i]["task"], out[i]["metric"]), []).append(i)
    for idx in families.values():
        for i, p in zip(idx, S.holm([out[i]["pvalue"] for i in idx]), strict=True):
            out[i]["holm_p"] = float(p)
    if tested:
        for i, q in zip(tested, S.benjamini_hochberg([out[i]["pvalue"] for i in tested]), strict=True):
            out[i]["bh_q"] = float(q)
    return out


def json_clean(obj: Any) -> Any:
    """obj with NaN/inf floats as None and numpy scalars as Python numbers, so it is strict JSON."""
    if isinstance(obj, dict):
        return {str(k): json_clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def significance_stage(params: Params | Mapping, runs_root: Path, data_root: Path, out: Path,
                       quiet: bool = False) -> dict:
    """`kuailive-bench significance`: compare every task's models with its reference, correct, write `out`.

    Reads params `dataset`, `seeds`, `tasks.<task>.{models, reference}`, `significance.{n_resamples,
    n_cluster_resamples, seed, alpha}` and `leaderboard.{unranked, oracle}` (unranked with the few-seed rows
    of `models.<name>.seeds`); writes {dataset, settings, comparisons, ablations} to `out` atomically and
    returns it. `ablations` tests each of the Oracle's ablation rows against the Oracle itself (what a
    mechanism is worth, with its interval); they are reference rows, outside every multiple-testing family.
    """
    params = as_params(params)
    dataset = params.dataset.name
    sig = params.significance
    oracle = params.leaderboard.oracle
    comparisons: list[dict] = []
    ablations: list[dict] = []
    for task, plan in params.tasks.items():
        log(quiet, f"significance: {dataset}/{task}: {len(plan.rows)} rows vs {plan.reference}")
        settings = dict(data_root=Path(data_root), seeds=params.seeds, quiet=quiet, shared=plan.shared,
                        **asdict(sig))   # its fields are compare_runs' test settings, by name
        comparisons += compare_runs(Path(runs_root), dataset, task, list(plan.rows), plan.reference,
                                    unranked=params.unranked_rows, **settings)
        blind = ablation_rows(plan.rows, oracle)
        if blind and oracle in plan.rows:
            log(quiet, f"significance: {dataset}/{task}: {len(blind)} ablations vs {oracle}")
            ablations += compare_runs(Path(runs_root), dataset, task, blind, oracle, unranked=blind,
                                      oracle_reference=True, **settings)
    result = {"dataset": dataset, "settings": asdict(sig), "comparisons": finalize(comparisons),
              "ablations": ablations}
    write_json_atomic(json_clean(result), Path(out))
    n_ok = sum(c["status"] == "ok" for c in comparisons)
    log(quiet, f"significance: {n_ok} comparisons, {len(comparisons) - n_ok} skipped -> {out}")
    return json_clean(result)
