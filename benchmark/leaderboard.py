"""The leaderboard: collect every run into results.json, then render tables and plots from it alone (spec §7).

`collect_results` reads run directories, significance.json, the split manifest and the ingest report;
`render` turns results.json into markdown (tabulate) and PNG plots, so every number on the published
pages is regenerated from results.json and never typed. docs/leaderboard.md describes the pages.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from tabulate import tabulate

from benchmark.compare import (
    json_clean,
    read_metrics,
    run_dirs,
    significance_settings,
    task_plan,
    unranked_models,
)
from benchmark.errors import DataError
from benchmark.io import atomic_dir, log
from benchmark.params import parse_dataset
from benchmark.tasks import get_task

SCHEMA_VERSION = 1
PACKAGES = ("numpy", "pandas", "pyarrow", "scipy", "scikit-learn", "torch", "dvc", "matplotlib", "tabulate")
RUN_FIELDS = ("train_seconds", "predict_seconds", "predict_rows_per_second", "n_params", "device",
              "peak_memory_mb", "threads", "n_test", "uses_oracle", "learned", "n_train", "fit", "valid_metrics")
BREAKDOWN_ORDER = {"activity": 0, "streamer": 1, "time": 2}
VALUE_ORDER = {"low": 0, "mid": 1, "high": 2, "seen": 0, "unseen": 1, "peak": 0, "offpeak": 1}
DASH = "—"
TOPK_REFERENCE = "RepeatConsumption"   # the reference rule on topk (docs/leaderboard.md)
REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------
# collecting results.json
# ---------------------------------------------------------------------------------------------

def _run_record(dataset: str, task: str, model: str, seed: int, folder: Path) -> dict:
    """One results.json run record from a run's metrics.json (identity taken from the folder)."""
    raw = read_metrics(folder / "metrics.json")
    rec: dict[str, Any] = {"dataset": dataset, "task": task, "model": model, "seed": seed,
                           "status": "ok" if raw.get("status") == "ok" else "failed"}
    if rec["status"] == "failed":
        rec["error"] = str(raw.get("error") or "failed without an error message")
    rec["metrics"] = dict(raw.get("metrics") or {})
    rec.update({k: raw.get(k) for k in RUN_FIELDS})
    return rec


def reference_rows(params: dict, runs: list[dict]) -> list[str]:
    """Rows shown but never ranked: params' `leaderboard.unranked` plus every model whose runs declare
    uses_oracle (that declaration alone makes a reference row; params cannot undo it)."""
    declared = [r["model"] for r in runs if r.get("uses_oracle")]
    return list(dict.fromkeys([*unranked_models(params), *declared]))


def collect_runs(runs_root: Path, dataset: str, params: dict) -> list[dict]:
    """One record per (task, model, seed) of params' task lists; a listed model without any run
    directory gets one failed record (seed None) saying so."""
    seeds = params.get("seeds")
    out = []
    for task, spec in task_plan(params).items():
        for model in dict.fromkeys(spec["models"]):
            found = run_dirs(runs_root, dataset, task, model, seeds)
            if not found:
                where = Path(runs_root) / dataset / task / model
                out.append({"dataset": dataset, "task": task, "model": model, "seed": None,
                            "status": "failed", "error": f"no run found under {where}", "metrics": {},
                            **{k: None for k in RUN_FIELDS}})
            out += [_run_record(dataset, task, model, s, d) for s, d in found]
    return out


def _read_json(path: Path, stage: str) -> dict:
    if not path.exists():
        raise DataError(str(path), f"missing (run the {stage} stage first)")
    try:
        return json.loads(path.read_text())
    except ValueError as e:
        raise DataError(str(path), f"not valid JSON ({e})") from None


def data_card(dataset: str, data_root: Path, tasks: list[str]) -> dict:
    """Which data: real or synthetic, split boundaries, content hashes, ingest row counts, task sizes."""
    name = parse_dataset(dataset)
    manifest = _read_json(Path(data_root) / "split" / dataset / "split_manifest.json", "split")
    report = _read_json(Path(data_root) / "processed" / dataset / "ingest_report.json", "ingest")
    splits = manifest.get("splits") or {}
    bounds = manifest.get("boundaries") or {}
    card = {
        "dataset": dataset, "source": name.source, "synthetic": name.source == "sim",
        "preset": name.preset, "sim_seed": name.seed,
        "timezone": manifest.get("timezone"),
        "source_hash": manifest.get("source_hash"),
        "split": {s: {"first_day": (bounds.get(s) or {}).get("first_day"),
                      "last_day": (bounds.get(s) or {}).get("last_day"),
                      "rows": (splits.get(s) or {}).get("rows"), "hash": (splits.get(s) or {}).get("hash")}
                  for s in ("train", "valid", "test")},
        "ingest": {"rows": report.get("rows"), "source_md5": report.get("source_md5"),
                   "rooms_distinct": report.get("rooms_distinct")},
        "task_rows": {},
    }
    for task in tasks:
        meta = Path(data_root) / "tasks" / dataset / task / "task.json"
        if meta.exists():
            m = json.loads(meta.read_text())
            card["task_rows"][task] = m.get("rows")
            if task == "topk":
                card["topk_queries"] = {k: m.get(k) for k in ("dropped_target_not_live", "capped_from",
                                                               "repeat_share", "test_candidates")}
    sim = Path(data_root) / "raw" / dataset / "oracle" / "latent" / "params.json"
    if name.source == "sim" and sim.exists():
        latent = json.loads(sim.read_text())
        card["simulator"] = {"version": latent.get("version"), "overrides": latent.get("overrides") or {}}
    return card


def sim_text(data: dict) -> str:
    """The simulator version and its overrides, for every page ('' for the real data)."""
    sim = data.get("simulator")
    if not sim:
        return ""
    over = ", ".join(f"{k}={v}" for k, v in sorted(sim["overrides"].items())) or "none"
    return f"simulator `{sim['version']}`, overrides: {over}"


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def code_version() -> dict:
    """git describe and commit of the harness when it is a git checkout, and the package version."""
    try:
        pkg = metadata.version("kuailive-bench")
    except metadata.PackageNotFoundError:
        pkg = None
    # The build itself rewrites dvc.lock and leaderboard/, so they do not count as local changes.
    changes = _git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!dvc.lock", ":!leaderboard")
    return {"describe": _git("describe", "--always", "--tags"), "commit": _git("rev-parse", "HEAD"),
            "local_changes": None if changes is None and _git("rev-parse", "HEAD") is None else bool(changes),
            "package": pkg}


def environment(params: dict) -> dict:
    """Python, platform, package versions and thread count of this build."""
    versions = {}
    for p in PACKAGES:
        try:
            versions[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            versions[p] = None
    return {"python": platform.python_version(), "implementation": sys.implementation.name,
            "platform": platform.platform(), "machine": platform.machine(), "cpu_count": os.cpu_count(),
            "threads": params.get("threads"), "packages": versions}


def _significance_path(runs_root: Path, dataset: str, significance: Path | None) -> Path:
    return Path(significance) if significance is not None else Path(runs_root) / dataset / "significance.json"


def collect_results(runs_root: Path, dataset: str, params: dict, data_root: Path,
                    significance: Path | None = None) -> dict:
    """results.json: every run, every comparison (from significance.json, by default
    runs/<dataset>/significance.json), data and split hashes, code version, environment, seeds."""
    plan = task_plan(params)
    sig_path = _significance_path(runs_root, dataset, significance)
    sig = _read_json(sig_path, "significance")
    if sig.get("dataset") != dataset:
        raise DataError(str(sig_path), f"is for dataset '{sig.get('dataset')}', not '{dataset}' "
                        "(rerun the significance stage)")
    board = params.get("leaderboard") or {}
    queries = params.get("queries") or {}
    tasks = {}
    for task, spec in plan.items():
        t = get_task(task)
        tasks[task] = {"primary": t.primary, "others": list(t.others), "unit": t.unit,
                       "labels": list(t.labels), "models": spec["models"], "reference": spec["reference"]}
        if task == "topk":
            tasks[task]["sampled_negatives"] = queries.get("sampled_negatives")
    runs = collect_runs(runs_root, dataset, params)
    results = {
        "schema_version": SCHEMA_VERSION,
        "dataset": dataset,
        "data": data_card(dataset, data_root, list(plan)),
        "code_version": code_version(),
        "environment": environment(params),
        "seeds": list(params.get("seeds") or []),
        "references": {task: spec["reference"] for task, spec in plan.items()},
        "reference_rows": reference_rows(params, runs),
        "oracle": str(board.get("oracle", "Oracle")),
        "significance": {**significance_settings(params), **(sig.get("settings") or {})},
        "tasks": tasks,
        "runs": runs,
        "comparisons": list(sig.get("comparisons") or []),
        "models": model_cards(params, plan),
    }
    return json_clean(results)


def model_cards(params: dict, plan: dict) -> dict[str, dict]:
    """Per listed model: its class, params and the first paragraph of the class docstring. A class that
    cannot be imported gets about=None: a broken model fails its own runs, never the leaderboard."""
    from benchmark.interface import load_class, registered_models

    registry = registered_models(params)
    cards = {}
    for model in dict.fromkeys(m for spec in plan.values() for m in spec["models"]):
        spec = registry.get(model, {"class": None, "params": {}})
        about = None
        try:
            doc = load_class(spec["class"]).__doc__ if spec["class"] else None
            about = " ".join(doc.strip().split("\n\n")[0].split()) if doc else None
        except Exception:  # noqa: BLE001 - reported as unknown, the runs say why
            about = None
        # params' leaderboard.about overrides the docstring, e.g. to say what an ablation removes
        about = ((params.get("leaderboard") or {}).get("about") or {}).get(model, about)
        cards[model] = {"class": spec["class"], "params": spec["params"], "about": about}
    return cards


# ---------------------------------------------------------------------------------------------
# formatting
# ---------------------------------------------------------------------------------------------

def _num(x: float | None) -> str:
    if x is None:
        return DASH
    return f"{x:,.1f}" if abs(x) >= 1000 else f"{x:.4f}"


def _num_na(x: float | None) -> str:
    """A metric cell that reads n/a where the metric is undefined (a cell without samples, or one class)."""
    return "n/a" if x is None or not np.isfinite(x) else _num(x)


def _signed(x: float | None) -> str:
    return DASH if x is None else f"{x:+.4f}"


def _pval(p: float | None) -> str:
    if p is None:
        return DASH
    return f"{p:.1e}" if p < 0.001 else f"{p:.3f}"


def _delta(c: dict) -> str:
    return f"{_signed(c['diff'])} [{_signed(c['ci_low'])}, {_signed(c['ci_high'])}]"


def _days(split: dict) -> str:
    return f"{split.get('first_day') or DASH} … {split.get('last_day') or DASH}"


def _cell(text: str, limit: int = 100) -> str:
    """Free text safe inside a markdown table cell."""
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _table(rows: list[list[str]], headers: list[str]) -> str:
    return tabulate(rows, headers=headers, tablefmt="pipe", disable_numparse=True)


def _mean(values: list) -> float | None:
    v = [x for x in values if x is not None]
    return float(np.mean(v)) if v else None


def _std(values: list) -> float | None:
    v = [x for x in values if x is not None]
    return float(np.std(v, ddof=1)) if len(v) >= 2 else None


def _is_ref_row(results: dict, model: str) -> bool:
    return model in results.get("reference_rows", [])


# ---------------------------------------------------------------------------------------------
# training budgets and the reference rule
# ---------------------------------------------------------------------------------------------

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
    n_train = max((r.get("n_train") or 0) for r in runs) or None
    rows = sorted({int(e["train_rows"]) for e in entries})
    sub = n_train is not None and rows[0] < n_train
    shown = f"{rows[0]:,}" if len(rows) == 1 else f"{rows[0]:,}–{rows[-1]:,}"
    text = (f"{shown} of {n_train:,} train rows" if sub else
            f"all {n_train:,} train rows" if n_train else f"{shown} train rows")
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


def _reference_text(v: _TaskView) -> str:
    if v.task == "topk":
        return (f"Reference rule: on topk the reference is {TOPK_REFERENCE} (the rule's learned-model choice "
                f"does not apply to ranking; docs/leaderboard.md). This board's reference: {v.reference}.")
    best, value = reference_rule(v)
    if best is None:
        return (f"Reference rule: no uncapped learned model with a valid-split {v.primary} ran; the reference "
                f"is params.yaml's {v.reference}.")
    head = (f"Reference rule (fixed in params.yaml before the test split is read): the strongest uncapped "
            f"learned model by valid-split {v.primary}, here {best} ({value:.4f}).")
    if best == v.reference:
        return head
    return head + f" **params.yaml names {v.reference} instead: this board does not follow its own rule.**"


# ---------------------------------------------------------------------------------------------
# one task's page
# ---------------------------------------------------------------------------------------------

class _TaskView:
    """One task's runs grouped per model, its comparisons, and the row order of its tables."""

    def __init__(self, results: dict, task: str):
        self.results, self.task = results, task
        self.meta = results["tasks"][task]
        self.primary = self.meta["primary"]
        self.reference = self.meta["reference"]
        runs = [r for r in results["runs"] if r["task"] == task]
        names = list(dict.fromkeys(self.meta.get("models", []) + sorted({r["model"] for r in runs})))
        self.ok = {m: sorted((r for r in runs if r["model"] == m and r["status"] == "ok"),
                             key=lambda r: r["seed"]) for m in names}
        self.failed = {m: [r for r in runs if r["model"] == m and r["status"] != "ok"] for m in names}
        self.comparisons = [c for c in results.get("comparisons", []) if c.get("task") == task]
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


def _main_table(v: _TaskView) -> str:
    others = v.other_metrics()
    headers = ["rank", "model", "seeds ok", f"{v.primary} (mean ± std)", *others,
               f"Δ {v.primary} vs {v.reference} [95% CI]", "Holm p", "sig.", f"valid {v.primary}", "training budget",
               "parameters", "train s", "predict rows/s"]
    rows = []
    for m in v.order:
        n_ok, n_all = len(v.ok[m]), len(v.ok[m]) + len(v.failed[m])
        if not v.ok[m]:
            err = v.failed[m][0].get("error") if v.failed[m] else "no run"
            rows.append([v.ranks[m], m, f"0/{n_all}", _cell(f"failed: {err}"), *[DASH] * len(others),
                         DASH, DASH, DASH, DASH, DASH, DASH, DASH, DASH])
            continue
        vals = v.values(m, v.primary)
        std = _std(vals)
        primary = _num(_mean(vals)) + ("" if std is None else f" ± {_num(std)}")
        c = v.comparison(m, v.primary)
        if m == v.reference:
            delta, holm_p, mark = "reference", DASH, DASH
        elif c is None:
            delta, holm_p, mark = DASH, DASH, DASH
        else:
            delta = _delta(c)
            holm_p, mark = _pval(c.get("holm_p")), v.mark(c)
        n_params = v.ok[m][0].get("n_params")
        rps = v.mean(m, "predict_rows_per_second")
        train = v.mean(m, "train_seconds")
        valid = _mean([(r.get("valid_metrics") or {}).get(v.primary) for r in v.ok[m]])
        rows.append([v.ranks[m], m, f"{n_ok}/{n_all}", primary,
                     *[_num(_mean(v.values(m, o))) for o in others],
                     delta, holm_p, mark, _num(valid), budget(v.ok[m])[0],
                     DASH if n_params is None else f"{int(n_params):,}",
                     DASH if train is None else f"{train:.2f}", DASH if rps is None else f"{rps:,.0f}"])
    return _table(rows, headers)


def _breakdown_table(v: _TaskView) -> str | None:
    keys = set()
    for runs in v.ok.values():
        for r in runs:
            for k in r["metrics"]:
                parts = k.split("/")
                if len(parts) == 3 and parts[0] == "breakdown" and parts[2] == v.primary and "=" in parts[1]:
                    keys.add(parts[1])
    if not keys:
        return None

    def order(key: str) -> tuple:
        group, value = key.split("=", 1)
        return (BREAKDOWN_ORDER.get(group, len(BREAKDOWN_ORDER)), group, VALUE_ORDER.get(value, 9), value)

    cols = sorted(keys, key=order)

    def count(c: str, what: str) -> str:
        key = f"breakdown/{c}/{what}"
        got = {x for runs in v.ok.values() for r in runs if (x := r["metrics"].get(key)) is not None}
        return DASH if not got else "/".join(f"{int(x):,}" for x in sorted(got))

    unit = "queries" if v.task == "topk" else "samples"
    rows = [["", f"{unit} / users", *[f"{count(c, 'n_samples')} / {count(c, 'n_users')}" for c in cols]]]
    rows += [[v.ranks[m], m, *[_num_na(_mean(v.values(m, f"breakdown/{c}/{v.primary}"))) for c in cols]]
             for m in v.order if v.ok[m]]
    return _table(rows, ["rank", "model", *cols])


def _sampled_table(v: _TaskView) -> str | None:
    keys = sorted({k for runs in v.ok.values() for r in runs for k in r["metrics"] if k.startswith("sampled/")})
    models = [m for m in v.order if v.ok[m]]
    if not keys or not models:
        return None
    rows = [[v.ranks[m], m, *[_num(_mean(v.values(m, k))) for k in keys]] for m in models]
    return _table(rows, ["rank", "model", *keys])


def _further_table(v: _TaskView) -> str | None:
    shown = {v.primary, *v.other_metrics()}
    keys = sorted({k for runs in v.ok.values() for r in runs for k in r["metrics"]
                   if not k.startswith(("breakdown/", "sampled/")) and k not in shown})
    models = [m for m in v.order if v.ok[m]]
    if not keys or not models:
        return None
    rows = [[k, *[_num(_mean(v.values(m, k))) for m in models]] for k in keys]
    return _table(rows, ["metric", *models])


def _se(x: float | None) -> str:
    return DASH if x is None else f"{x:.4f}"


def _comparisons_table(v: _TaskView) -> tuple[str | None, list[str]]:
    ok = [c for c in v.comparisons if c.get("status") == "ok"]
    rows = [[c["metric"], c["model"], _delta(c), _pval(c.get("pvalue")), _pval(c.get("holm_p")),
             _pval(c.get("bh_q")), _se(c.get("se_users")), _se(c.get("se_seeds")),
             DASH if c.get("df") is None else f"{c['df']:,.1f}",
             f"{_pval(c.get('p_users'))} ({c.get('user_test', DASH)})", f"{c.get('n_users', 0):,}"] for c in ok]
    skipped = [f"- {c.get('model')} ({c.get('metric') or 'all metrics'}): {_cell(c.get('reason', ''), 300)}"
               for c in v.comparisons if c.get("status") != "ok"]
    headers = ["metric", "model", "Δ vs reference [95% CI]", "p", "Holm p", "BH q", "SE users", "SE seeds", "df",
               "users-only p (test)", "users"]
    return (_table(rows, headers) if rows else None), skipped


def _legend(results: dict) -> str:
    alpha = results["significance"]["alpha"]
    return ("Marks: ▲ significantly better than the reference, ▼ significantly worse (Holm-adjusted "
            f"p < {alpha} within the family of this dataset, task and metric), · no significant difference, "
            f"{DASH} not tested (the reference itself, reference rows, failed models). Reference rows "
            f"({', '.join(results.get('reference_rows', [])) or 'none'}) are shown but never ranked and stay "
            "out of the Holm and BH families.")


def _queries_text(q: dict, rows: dict) -> str:
    """The topk test queries: how many, how many dropped or capped, the repeat share, the candidate sets."""
    n = rows.get("test")
    before = (q.get("capped_from") or {}).get("test")
    dropped = (q.get("dropped_target_not_live") or {}).get("test")
    share = (q.get("repeat_share") or {}).get("test")
    cand = q.get("test_candidates") or {}
    mean, most = cand.get("mean"), cand.get("max")
    capped = f" (a fixed random subset of {before:,})" if before is not None and n is not None and before > n else ""
    return (f"Test queries: {n:,}{capped}; {dropped if dropped is not None else DASH} dropped because their "
            "target had no room live at the query time by the room table. Repeat share (the user clicked the "
            f"target streamer before): {DASH if share is None else f'{share:.1%}'}. Candidates per query (every "
            f"streamer live at t): mean {DASH if mean is None else f'{mean:,.1f}'}, max "
            f"{DASH if most is None else f'{most:,}'}.")


def render_task(results: dict, task: str, plot_name: str | None) -> str:
    """The markdown page of one (dataset, task), from results alone."""
    v = _TaskView(results, task)
    seeds = ", ".join(str(s) for s in results.get("seeds", []))
    data = results["data"]
    kind = "KuaiLive-Sim, synthetic" if data.get("synthetic") else "KuaiLive, real release"
    if sim_text(data):
        kind += f"; {sim_text(data)}"
    sig = results["significance"]
    test_days = _days(data["split"]["test"])
    parts = [
        f"# {task} — {results['dataset']}",
        f"Data: {results['dataset']} ({kind}); test split {test_days}. Primary metric: `{v.primary}`, "
        "mean ± std (ddof 1) over the "
        f"successful seeds ({seeds}; deterministic models run once). Reference: **{v.reference}**.",
        f"Δ is the model's mean {v.primary} over its seeds minus the reference's, on the test split: the "
        "difference of the two means this table shows. Its test and 95% interval count both sources of "
        "variance, the users drawn (user as the unit: "
        + ("the user-robust standard error of the per-user differences" if v.primary in {"gauc", "mean_gauc",
                                                                                        "ndcg@10"} else
           f"the user-cluster bootstrap, B = {sig['n_cluster_resamples']:,}, seed {sig['seed']}")
        + ") and the retraining (the spread of a model's per-seed values): a t-test with Welch–Satterthwaite "
        "degrees of freedom, so p < 0.05 exactly when the interval excludes 0 (docs/statistics.md).",
        _main_table(v),
        _legend(results),
        _reference_text(v),
    ]
    queries = data.get("topk_queries") if task == "topk" else None
    if queries:
        parts.append(_queries_text(queries, data["task_rows"].get("topk") or {}))
    sampled = _sampled_table(v) if task == "topk" else None
    if sampled:
        neg = results["tasks"][task].get("sampled_negatives")
        n_neg = DASH if neg is None else f"{neg:,}"
        most = ((queries or {}).get("test_candidates") or {}).get("max")
        same = (f" Here no query has more than {most:,} live streamers, so the sampled view **equals the full "
                "ranking**." if most is not None and neg is not None and most <= neg + 1 else "")
        parts += ["## Sampled view (the dataset paper's protocol)",
                  f"The target plus up to {n_neg} live negatives drawn by a fixed seed, the same sample for "
                  "every model (when fewer streamers are live, every one of them: then it equals the full "
                  f"ranking).{same} **Not comparable number for number** with Table 3 of the KuaiLive paper, "
                  "which uses a leave-one-out split; this leaderboard uses the fixed temporal split, and its "
                  "main columns rank every live streamer.", sampled]
    breakdown = _breakdown_table(v)
    if breakdown:
        parts += [f"## Breakdown of {v.primary}",
                  "Means over seeds by user activity (terciles of train clicks), seen/unseen streamer (in "
                  "train) and peak (18:00–24:00) vs off-peak. The first row gives each cell's test samples "
                  "(topk: queries) and users; n/a marks a cell where the metric is undefined (no samples, or no "
                  "user with both outcomes).", breakdown]
    further = _further_table(v)
    if further:
        parts += ["## Further metrics (means over seeds)", further]
    comp, skipped = _comparisons_table(v)
    if comp or skipped:
        parts.append("## Significance tests")
        parts.append("p: the users and seeds t-test of Δ; Holm p: within (dataset, task, metric); BH q: "
                     "Benjamini–Hochberg across every comparison of this build; SE users / SE seeds: the two "
                     "standard-error components of Δ; df: Welch–Satterthwaite degrees of freedom; users-only "
                     "p: a resampling test of the users' variance alone (rank-normalised scores swapped for "
                     "AUC, XAUC and Gini), a cross-check that ignores retraining.")
        if comp:
            parts.append(comp)
        if skipped:
            parts += ["Not compared:", "\n".join(skipped)]
    if plot_name:
        parts += ["## Per-seed primary metric", f"![{task}: {v.primary} per seed]({plot_name})"]
    return "\n\n".join(parts) + "\n"


def plot_task(results: dict, task: str, path: Path) -> Path:
    """PNG of each model's per-seed primary metric, the Oracle as a horizontal line (Agg, no timestamp).

    Always written (DVC declares it as a plot): a task without any successful run says so in the figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    v = _TaskView(results, task)
    oracle = results.get("oracle")
    models = [m for m in v.order if v.ok[m] and m != oracle]
    fig = Figure(figsize=(max(4.0, 1.1 * len(models) + 2), 4.0), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if not models and not (oracle in v.ok and v.ok[oracle]):
        ax.text(0.5, 0.5, "no successful run", transform=ax.transAxes, ha="center", va="center")
    for x, m in enumerate(models):
        vals = np.array([np.nan if y is None else y for y in v.values(m, v.primary)], dtype=float)
        offs = np.linspace(-0.15, 0.15, vals.size) if vals.size > 1 else np.zeros(1)
        color = "tab:red" if m == v.reference else ("tab:gray" if _is_ref_row(results, m) else "tab:blue")
        ax.scatter(x + offs, vals, color=color, s=22, zorder=3)
        if np.isfinite(vals).any():
            ax.hlines(np.nanmean(vals), x - 0.25, x + 0.25, color=color, lw=1.5, zorder=2)
    if oracle in v.ok and v.ok[oracle]:
        level = _mean(v.values(oracle, v.primary))
        if level is not None:
            role = "relevance reference" if task == "topk" else "ceiling"  # topk: not a ceiling (page text)
            ax.axhline(level, color="tab:green", ls="--", lw=1.2, label=f"{oracle} ({role})")
            ax.legend(loc="best", fontsize=8)
    ax.set_xticks(range(len(models)), models, rotation=30, ha="right", fontsize=8)
    ax.set_xlim(-0.6, max(len(models), 1) - 0.4)
    ax.set_ylabel(v.primary)
    ax.set_title(f"{results['dataset']} · {task}: {v.primary} per seed "
                 "(red: reference, gray: reference rows)", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png", metadata={"Software": None})
    return path


def _reference_rows_text(results: dict) -> str:
    rows = results.get("reference_rows", [])
    if not rows:
        return "Reference rows: none."
    known = {results.get("oracle"): "scores with the simulator's ground truth (the ceiling of the sample-level "
                                    "tasks; on topk it ranks by P(click | shown) and does not know the feed's "
                                    "exposure policy, so it is a relevance reference there, not a ceiling)",
             "ArtifactProbe": "sees only time, room age and live status (what logging artefacts alone give)"}
    said = [f"{m} {known[m]}" for m in rows if m in known]
    return (f"Reference rows: {', '.join(rows)}. " + ("; ".join(said) + ". " if said else "")
            + "They are shown for scale and never ranked.")


def render_index(results: dict, pages: dict[str, str]) -> str:
    """README.md of the leaderboard: data, split, seeds, references, hashes, code, environment, marks."""
    data, env, code = results["data"], results["environment"], results["code_version"]
    if data.get("synthetic"):
        what = (f"KuaiLive-Sim (synthetic data), preset `{data.get('preset')}`, "
                f"simulator seed {data.get('sim_seed')}" + (f"; {sim_text(data)}" if sim_text(data) else ""))
    else:
        what = "KuaiLive (the real release)"
    rows = []
    for task, meta in results["tasks"].items():
        v = _TaskView(results, task)
        best = next((m for m in v.order if v.ranks[m] == "1"), None)
        rows.append([f"[{task}]({pages[task]})", f"`{meta['primary']}`", meta["reference"], best or DASH,
                     DASH if best is None else _num(_mean(v.values(best, meta["primary"])))])
    split_rows = [[s, _days(d), DASH if d["rows"] is None else f"{d['rows']:,}",
                   f"`{d['hash']}`" if d.get("hash") else DASH] for s, d in data["split"].items()]
    runs = results["runs"]
    failed: dict[tuple[str, str], int] = {}
    for r in runs:
        if r["status"] != "ok":
            failed[(r["task"], r["model"])] = failed.get((r["task"], r["model"]), 0) + 1
    ingest_rows = (data.get("ingest") or {}).get("rows") or {}
    pkgs = [[k, v or DASH] for k, v in env["packages"].items()]
    sig = results["significance"]
    parts = [
        f"# KuaiLive-Bench leaderboard — {results['dataset']}",
        f"Data: {what}. Every number on these pages is generated from `results.json` by "
        "`benchmark.leaderboard.render`; none is typed.",
        "## Tasks", _table(rows, ["task", "primary", "reference", "best ranked model", "its primary (mean)"]),
        "## Data and split",
        f"One global temporal split in {data.get('timezone') or 'Asia/Shanghai'} days, "
        "identical for every task.",
        _table(split_rows, ["split", "days", "exposures", "content hash (sha256 of sample ids)"]),
        f"Source hash (split manifest): `{data.get('source_hash') or DASH}`. "
        f"Source md5 (ingest report): `{(data.get('ingest') or {}).get('source_md5') or DASH}`.",
    ]
    if ingest_rows:
        parts.append(_table([[k, f"{n:,}"] for k, n in ingest_rows.items()], ["raw file", "rows"]))
    parts += [
        "## Runs",
        f"Seeds: {', '.join(str(s) for s in results.get('seeds', []))} (fixed, never tuned; deterministic "
        f"models run once). {sum(r['status'] == 'ok' for r in runs):,} of {len(runs):,} runs succeeded."
        + ("" if not failed else
           " Failed runs: " + ", ".join(f"{m} on {t} ({n})" for (t, m), n in failed.items()) + "."),
        "References: " + ", ".join(f"{t}: {m}" for t, m in results["references"].items()) + ".",
        "## Significance and marks",
        "Every model is tested against its task's reference on the test split. A row's Δ is the difference "
        "of the two per-seed means the table shows; its p and 95% interval come from one t-test whose "
        "variance counts the users drawn (user as the unit: the user-robust standard error of per-user "
        "metrics, GAUC, mean GAUC and NDCG@10, or the user-cluster bootstrap of global metrics, AUC, LogLoss, "
        f"XAUC and normalized Gini, B = {sig['n_cluster_resamples']:,}, seed {sig['seed']}) and the retraining "
        "(the spread of each model's per-seed values), with Welch–Satterthwaite degrees of freedom, so p < 0.05 "
        "exactly when the interval excludes 0. Holm within each (dataset, task, metric), Benjamini–Hochberg "
        "across the build.",
        _legend(results),
        _audit_text(audit(results)),
        _capped_text(results),
        _reference_rows_text(results),
    ]
    cards = results.get("models") or {}
    if cards:
        parts += ["## Models",
                  "Simple baselines: docs/runs.md; RecBole's models (trained on the harness's split, features "
                  "and metrics; soft labels on watch_time and gift_price): docs/recbole.md.",
                  _table([[m, f"`{c.get('class') or DASH}`", c.get("about") or DASH] for m, c in cards.items()],
                         ["model", "class", "about"])]
    parts += [
        "## Code and environment",
        f"Code version: `{code.get('describe') or DASH}` (commit `{code.get('commit') or DASH}`"
        f"{', with uncommitted changes' if code.get('local_changes') else ''}, package "
        f"{code.get('package') or DASH}). Python {env['python']} on {env['platform']}, "
        f"{env.get('cpu_count') or DASH} CPUs, threads per run: {env.get('threads') or DASH}.",
        _table(pkgs, ["package", "version"]),
    ]
    return "\n\n".join(parts) + "\n"


def audit(results: dict, alpha: float = 0.05) -> dict:
    """Whether every mark means what it says: comparisons whose Δ is not the difference of the per-seed
    means the table shows, comparisons whose p (< alpha) and 95% interval (excludes 0) disagree, and the
    pointwise tasks whose reference is not the reference rule's choice."""
    other, inconsistent, n = [], [], 0
    for task in results["tasks"]:
        v = _TaskView(results, task)
        for c in v.comparisons:
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
        if task == "topk":
            best = TOPK_REFERENCE if v.ok.get(TOPK_REFERENCE) else None
        else:
            best = reference_rule(v)[0]
        if best is not None and best != v.reference:
            rule.append(f"{task}: {v.reference} (the rule picks {best})")
    return {"comparisons": n, "other_quantity": other, "inconsistent": inconsistent, "rule_violations": rule}


def _capped_text(results: dict) -> str:
    """Which rows trained under a cap, and why the default pipeline caps them."""
    capped = []
    for task in results["tasks"]:
        v = _TaskView(results, task)
        capped += [f"{m} on {task} ({budget(v.ok[m])[0].removeprefix('**capped**: ')})"
                   for m in v.order if v.ok.get(m) and budget(v.ok[m])[1]]
    if not capped:
        return "Capped rows: none; every learned model trained on all its train rows until early stopping."
    return ("Capped rows (a subsample of the train rows, or stopped by an epoch or iteration budget rather than "
            "early stopping), so the default pipeline fits its time budget on 2 cores: " + "; ".join(capped)
            + ". They are never a task's reference; lift the caps in params.yaml for a full-strength run "
            "(docs/recbole.md).")


def _audit_text(a: dict) -> str:
    text = (f"Audit of this build: of {a['comparisons']} comparisons, {len(a['other_quantity'])} test another "
            f"quantity than the table's Δ and {len(a['inconsistent'])} have a p-value and an interval that "
            "disagree; ")
    text += ("every reference follows the reference rule." if not a["rule_violations"] else
             "**references off the rule: " + "; ".join(a["rule_violations"]) + "**.")
    return text


def dvc_metrics(results: dict) -> dict:
    """The board's numbers for `dvc metrics show/diff` and `dvc exp show`: task -> model -> metric -> the
    mean over the model's successful seeds, for the task's primary and other metrics (breakdowns omitted)."""
    out: dict[str, dict] = {}
    for task, spec in results["tasks"].items():
        v = _TaskView(results, task)
        names = [v.primary, *spec["others"]]
        means = {m: {k: _mean(v.values(m, k)) for k in names} for m in spec["models"]}
        out[task] = {m: {k: round(x, 6) for k, x in per.items() if x is not None} for m, per in means.items()}
    return out


def render(results: dict, out_dir: Path) -> list[Path]:
    """Write <task>.md and <task>.png per task, README.md and metrics.json (for DVC) into out_dir, from
    results alone."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = out_dir / "metrics.json"
    metrics.write_text(json.dumps(dvc_metrics(results), indent=1, sort_keys=True) + "\n")
    written, pages = [metrics], {}
    for task in results["tasks"]:
        png = plot_task(results, task, out_dir / f"{task}.png")
        page = out_dir / f"{task}.md"
        page.write_text(render_task(results, task, png.name))
        pages[task] = page.name
        written += [page, png]
    index = out_dir / "README.md"
    index.write_text(render_index(results, pages))
    return written + [index]


def leaderboard_stage(params: dict, runs_root: Path, data_root: Path, out_dir: Path, quiet: bool = False,
                      significance: Path | None = None) -> list[Path]:
    """`kuailive-bench leaderboard`: collect, write results.json, render; out_dir is replaced atomically.

    `significance` defaults to runs/<dataset>/significance.json; if it lies inside out_dir it is carried
    over into the new folder. Returns the files written (final paths).
    """
    dataset = parse_dataset(str(params.get("dataset", ""))).name
    out_dir = Path(out_dir)
    sig_path = _significance_path(runs_root, dataset, significance)
    log(quiet, f"leaderboard: collecting runs of {dataset} from {runs_root}")
    results = collect_results(Path(runs_root), dataset, params, Path(data_root), sig_path)
    text = json.dumps(results, indent=1, allow_nan=False) + "\n"
    results = json.loads(text)   # render exactly what a reader of results.json sees
    with atomic_dir(out_dir) as tmp:
        (tmp / "results.json").write_text(text)
        files = render(results, tmp)
        try:
            inside = sig_path.resolve().relative_to(out_dir.resolve())
        except ValueError:
            inside = None
        if inside is not None:
            (tmp / inside).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(sig_path, tmp / inside)
    written = [out_dir / "results.json"] + [out_dir / f.relative_to(tmp) for f in files]
    n_ok = sum(r["status"] == "ok" for r in results["runs"])
    log(quiet, f"leaderboard: {n_ok}/{len(results['runs'])} runs ok, {len(files)} files -> {out_dir}")
    return written
