"""One task's runs and comparisons as the pages read them, and the rules the board checks itself by:
each model's training budget, the reference rule, and the audit of every mark."""

from __future__ import annotations

import numpy as np

DASH = "—"


def _mean(values: list) -> float | None:
    v = [x for x in values if x is not None]
    return float(np.mean(v)) if v else None


def _std(values: list) -> float | None:
    v = [x for x in values if x is not None]
    return float(np.std(v, ddof=1)) if len(v) >= 2 else None


def _is_ref_row(results: dict, model: str) -> bool:
    return model in results.get("reference_rows", [])


class _TaskView:
    """One task's runs grouped per model, its comparisons, and the row order of its tables."""

    def __init__(self, results: dict, task: str):
        self.results, self.task = results, task
        self.meta = results["tasks"][task]
        self.primary = self.meta["primary"]
        self.reference = self.meta["reference"]
        self.ranking = self.meta.get("kind") == "ranking"   # queries ranking live candidates, not scored rows
        self.fixed_reference = self.meta.get("fixed_reference")  # the rule's fixed choice (topk), else None
        runs = [r for r in results["runs"] if r["task"] == task]
        names = list(dict.fromkeys(self.meta.get("models", []) + sorted({r["model"] for r in runs})))
        self.ok = {m: sorted((r for r in runs if r["model"] == m and r["status"] == "ok"),
                             key=lambda r: r["seed"]) for m in names}
        self.failed = {m: [r for r in runs if r["model"] == m and r["status"] != "ok"] for m in names}
        self.comparisons = [c for c in results.get("comparisons", []) if c.get("task") == task]
        self.ablations = [c for c in results.get("ablations", []) if c.get("task") == task]   # each vs the Oracle
        self.order, self.ranks = self._order(names)

    def values(self, model: str, metric: str) -> list:
        return [r["metrics"].get(metric) for r in self.ok[model]]

    def mean(self, model: str, key: str) -> float | None:
        return _mean([r.get(key) for r in self.ok[model]])

    def _order(self, names: list[str]) -> tuple[list[str], dict[str, str]]:
        """Ranked models by primary mean (ties share a rank), then reference rows, then failed models."""
        ok = [m for m in names if self.ok[m]]
        score = {m: _mean(self.values(m, self.primary)) for m in ok}
        ranked = [m for m in ok if not _is_ref_row(self.results, m) and score[m] is not None]
        ranked.sort(key=lambda m: (-score[m], m))
        ranks = {m: str(1 + sum(score[o] > score[m] for o in ranked)) for m in ranked}
        refs = sorted((m for m in ok if _is_ref_row(self.results, m)),
                      key=lambda m: (score[m] is None, -(score[m] or 0.0), m))
        ranks.update({m: "ref" for m in refs})
        rest = [m for m in names if m not in ranks]
        ranks.update({m: DASH for m in rest})
        return ranked + refs + rest, ranks

    @property
    def best(self) -> str | None:
        """The best ranked model by primary mean (the first of a tie), None when nothing is ranked."""
        return next((m for m in self.order if self.ranks[m] == "1"), None)

    def comparison(self, model: str, metric: str) -> dict | None:
        for c in self.comparisons:
            if c.get("model") == model and c.get("metric") == metric and c.get("status") == "ok":
                return c
        return None

    def other_metrics(self) -> list[str]:
        present = {k for runs in self.ok.values() for r in runs for k in r["metrics"]}
        return [m for m in self.meta.get("others", []) if m in present and m != self.primary]

    def mark(self, c: dict | None) -> str:
        if c is None or c.get("holm_p") is None:
            return DASH
        if c["holm_p"] >= self.results["significance"]["alpha"]:
            return "·"
        better = c["diff"] > 0 if c.get("higher_is_better", True) else c["diff"] < 0
        return "▲" if better else "▼"


def _fit_entries(runs: list[dict]) -> list[dict]:
    """Every (run, fitted label) entry of fit logs that record train_rows."""
    return [e for r in runs for e in (r.get("fit") or {}).values()
            if isinstance(e, dict) and e.get("train_rows") is not None]


def budget(runs: list[dict]) -> tuple[str, bool]:
    """(text, capped) of one model's successful runs: the rows it trained on of the train split, the
    epochs or boosting iterations run of the budget, and whether early stopping or the budget ended
    the fit. capped: it trained on a subsample, or the epoch/iteration budget ended some fit."""
    if runs and all(r.get("learned") is False for r in runs):
        return "no training: its work is done at predict time (see predict rows/s)", False
    if runs and all(r.get("uses_oracle") for r in runs):
        return "no training: reads the simulator's truth", False
    entries = _fit_entries(runs)
    if not entries:
        return DASH, False
    # a model that trains on other units than the task's rows (OneLive: every train click) says how many it had
    available = [int(e["train_rows_available"]) for e in entries if e.get("train_rows_available") is not None]
    n_train = max(available) if available else max((r.get("n_train") or 0) for r in runs) or None
    what = f"train {entries[0].get('train_unit', 'rows')}"
    rows = sorted({int(e["train_rows"]) for e in entries})
    sub = n_train is not None and rows[0] < n_train
    shown = f"{rows[0]:,}" if len(rows) == 1 else f"{rows[0]:,}–{rows[-1]:,}"
    text = (f"{shown} of {n_train:,} {what}" if sub else
            f"all {n_train:,} {what}" if n_train else f"{shown} {what}")
    unit, most = ("epochs", "max_epochs") if "max_epochs" in entries[0] else ("iterations", "max_iterations")
    done = sorted({int(e.get(unit) or 0) for e in entries})
    ceiling = max(int(e.get(most) or 0) for e in entries)
    stopped = [bool(e.get("early_stopped")) for e in entries if "early_stopped" in e]
    if ceiling:
        span = f"{done[0]}" if len(done) == 1 else f"{done[0]}–{done[-1]}"
        how = ("early-stopped" if stopped and all(stopped) else
               "budget reached" if stopped and not any(stopped) else
               f"early-stopped in {sum(stopped)} of {len(stopped)} fits")
        text += f"; {span}/{ceiling} {unit}, {how}"
    # a model without trainable parameters (RecBole's Pop holds one placeholder) is done after one pass
    counts_only = all((r.get("n_params") or 0) <= 1 for r in runs)
    capped = sub or (bool(stopped) and not all(stopped) and not counts_only)
    if counts_only and ceiling:
        text = text.replace(", budget reached", ", one counting pass (no trainable parameters)")
    return ("**capped**: " if capped else "") + text, capped


def reference_rule(view: _TaskView) -> tuple[str | None, float | None]:
    """The rule's reference of a pointwise task: the ranked, learned, uncapped model with the best mean
    valid-split primary metric (None when no model qualifies or the runs hold no valid metrics)."""
    best, best_value = None, None
    for m in view.order:
        runs = view.ok.get(m) or []
        if not runs or _is_ref_row(view.results, m) or not all(r.get("learned", True) for r in runs):
            continue
        if budget(runs)[1]:
            continue
        value = _mean([(r.get("valid_metrics") or {}).get(view.primary) for r in runs])
        if value is not None and (best_value is None or value > best_value):
            best, best_value = m, value
    return best, best_value


def audit(results: dict, alpha: float = 0.05) -> dict:
    """Whether every mark means what it says: comparisons (the Oracle's ablation tests included) whose Δ is
    not the difference of the per-seed means the table shows, comparisons whose p (< alpha) and 95% interval
    (excludes 0) disagree, and the pointwise tasks whose reference is not the reference rule's choice."""
    other, inconsistent, n = [], [], 0
    for task in results["tasks"]:
        v = _TaskView(results, task)
        for c in v.comparisons + v.ablations:
            if c.get("status") != "ok":
                continue
            n += 1
            model, ref = _mean(v.values(c["model"], c["metric"])), _mean(v.values(c["reference"], c["metric"]))
            if model is None or ref is None or abs((model - ref) - c["diff"]) > 1e-9 + 1e-6 * abs(c["diff"]):
                other.append(f"{task}/{c['model']}/{c['metric']}")
            if (c["pvalue"] < alpha) != (c["ci_low"] > 0 or c["ci_high"] < 0):
                inconsistent.append(f"{task}/{c['model']}/{c['metric']}")
    rule = []
    for task in results["tasks"]:
        v = _TaskView(results, task)
        if v.fixed_reference:
            best = v.fixed_reference if v.ok.get(v.fixed_reference) else None
        else:
            best = reference_rule(v)[0]
        if best is not None and best != v.reference:
            rule.append(f"{task}: {v.reference} (the rule picks {best})")
    return {"comparisons": n, "other_quantity": other, "inconsistent": inconsistent, "rule_violations": rule}
