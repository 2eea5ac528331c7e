"""The Evaluator: owns every task's metrics, computed from stored predictions and the task's labels.

Models never compute metrics (spec §1). `evaluate` returns the metric values and the per-user values
the significance tests need (user = the unit of every test).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from benchmark import metrics as M
from benchmark.tasks import get_task

RANK_KS = (10, 50)


@dataclass
class Evaluation:
    """Metric values plus per-user values (user_id, value, weight) for the user-decomposable ones."""

    metrics: dict[str, float]
    per_user: dict[str, pd.DataFrame] = field(default_factory=dict)


def _per_user_gauc(labels: np.ndarray, scores: np.ndarray, users: np.ndarray) -> pd.DataFrame:
    g, a, w = M.gauc_per_group(labels, scores, users)
    return pd.DataFrame({"user_id": g, "value": a, "weight": w})


def _binary(labels: np.ndarray, scores: np.ndarray, users: np.ndarray, prefix: str = "") -> tuple[dict, pd.DataFrame]:
    out = {f"{prefix}auc": M.auc(labels, scores), f"{prefix}gauc": M.gauc(labels, scores, users)}
    if np.all((scores >= 0) & (scores <= 1)):
        out[f"{prefix}logloss"] = M.logloss(labels, scores)
        out[f"{prefix}calibration_error"] = M.calibration_error(labels, scores)
    return out, _per_user_gauc(labels, scores, users)


def evaluate_scores(task: str, table: pd.DataFrame, scores: np.ndarray | pd.DataFrame) -> Evaluation:
    """Metrics of a sample-level task (ctr, multi_behavior, watch_time, gift_price) on one split's table."""
    users = table["user_id"].to_numpy()
    if task == "ctr":
        s = np.asarray(scores, dtype=np.float64).reshape(-1)
        m, pu = _binary(table["click"].to_numpy(), s, users)
        return Evaluation(m, {"gauc": pu})
    if task == "multi_behavior":
        labels = get_task(task).labels
        m, parts = {}, []
        for label in labels:
            s = np.asarray(scores[label], dtype=np.float64)
            mm, pu = _binary(table[label].to_numpy(), s, users, prefix=f"{label}_")
            m.update({k.replace(f"{label}_", "") + f"_{label}": v for k, v in mm.items()})
            pu["weight"] = pu["weight"] / pu["weight"].sum() / len(labels)
            parts.append(pu)
        m["mean_gauc"] = float(np.mean([m[f"gauc_{label}"] for label in labels]))
        both = pd.concat(parts)
        both["wv"] = both["value"] * both["weight"]
        agg = both.groupby("user_id", sort=True)[["wv", "weight"]].sum()
        pu = pd.DataFrame({"user_id": agg.index.to_numpy(), "value": (agg["wv"] / agg["weight"]).to_numpy(),
                           "weight": agg["weight"].to_numpy()})
        return Evaluation(m, {"mean_gauc": pu})
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if task == "watch_time":
        y = table["watch_s"].to_numpy()
        return Evaluation({"xauc": M.xauc(y, s), "mae_s": M.mae(y, s), "rmse_log1p": M.rmse_log1p(y, s),
                           "spearman": M.spearman(y, s)})
    if task == "gift_price":
        y = table["gift_value"].to_numpy().astype(np.float64)
        return Evaluation({"normalized_gini": M.normalized_gini(y, s), "auc_gift": M.auc((y > 0).astype(int), s),
                           "spearman": M.spearman(y, s),
                           "mae_log1p": M.mae(np.log1p(y), np.log1p(np.maximum(s, 0)))})
    raise ValueError(f"evaluate_scores: unknown sample-level task '{task}'")


def evaluate_ranks(queries: pd.DataFrame, ranks: np.ndarray, top10: np.ndarray | None = None,
                   n_items: int | None = None) -> Evaluation:
    """topk metrics from each query's target rank, overall and split into repeat vs new targets."""
    ranks = np.asarray(ranks, dtype=np.float64)
    users = queries["user_id"].to_numpy()
    repeat = queries["repeat"].to_numpy().astype(bool)
    m: dict[str, float] = {}
    for name, mask in (("", np.ones(ranks.size, bool)), ("_repeat", repeat), ("_new", ~repeat)):
        r = ranks[mask]
        if r.size == 0:
            continue
        m[f"ndcg@10{name}"] = M.ndcg_at_k(r, 10)
        for k in RANK_KS:
            m[f"recall@{k}{name}"] = M.recall_at_k(r, k)
        m[f"mrr{name}"] = M.mrr(r)
    if top10 is not None and n_items:
        m["coverage@10"] = M.coverage_at_k(top10, n_items)
    u, means, counts = M.per_user_mean(M.ndcg_gains(ranks, 10), users)
    return Evaluation(m, {"ndcg@10": pd.DataFrame({"user_id": u, "value": means, "weight": counts})})


def sampled_view_metrics(ranks: np.ndarray) -> dict[str, float]:
    """The dataset paper's sampled view (target + sampled live negatives), keyed `sampled/<metric>`:
    not comparable number for number with the paper, whose split is leave-one-out."""
    r = np.asarray(ranks, dtype=np.float64)
    out = {"sampled/ndcg@10": M.ndcg_at_k(r, 10), "sampled/mrr": M.mrr(r)}
    out.update({f"sampled/recall@{k}": M.recall_at_k(r, k) for k in RANK_KS})
    return out


def breakdown_groups(table: pd.DataFrame, features) -> dict[str, np.ndarray]:
    """Per test row: user activity tercile (train clicks), seen/unseen streamer (in train), peak/off-peak."""
    users = table["user_id"].to_numpy()
    train_clicks = features.train_clicks(users)
    uniq_users, first = np.unique(users, return_index=True)
    cuts = np.quantile(train_clicks[first], [1 / 3, 2 / 3]) if uniq_users.size else np.array([0, 0])
    activity = np.array(["low", "mid", "high"])[np.searchsorted(cuts, train_clicks, side="right").clip(0, 2)]
    seen = np.where(features.encode("streamer_id", table["streamer_id"].to_numpy()) > 0, "seen", "unseen")
    hour = ((table["ts"].to_numpy() + 8 * 3_600_000) % 86_400_000) // 3_600_000
    peak = np.where(hour >= 18, "peak", "offpeak")
    return {"activity": activity, "streamer": seen, "time": peak}


def breakdowns(task: str, table: pd.DataFrame, groups: dict[str, np.ndarray], scores=None, ranks=None) -> dict:
    """The primary metric on each subgroup, keyed `breakdown/<group>=<value>/<metric>`, with the
    subgroup's sample (topk: query) and user counts as `.../n_samples` and `.../n_users`."""
    primary = get_task(task).primary
    out = {}
    for group, values in groups.items():
        for v in np.unique(values):
            m = values == v
            sub = table[m].reset_index(drop=True)
            out[f"breakdown/{group}={v}/n_samples"] = int(m.sum())
            out[f"breakdown/{group}={v}/n_users"] = int(sub["user_id"].nunique())
            if task == "topk":
                ev = evaluate_ranks(sub, ranks[m])
            else:
                s = scores[m].reset_index(drop=True) if isinstance(scores, pd.DataFrame) else scores[m]
                ev = evaluate_scores(task, sub, s)
            out[f"breakdown/{group}={v}/{primary}"] = ev.metrics.get(primary, float("nan"))
    return out
