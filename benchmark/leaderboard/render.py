"""Markdown pages from results.json alone: one page per task, the index (README.md) and the metrics
file DVC reads; every number is formatted from results.json, never typed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tabulate import tabulate

from benchmark.compare import ablation_rows
from benchmark.leaderboard.plot import plot_task
from benchmark.leaderboard.view import (
    DASH,
    _mean,
    _std,
    _TaskView,
    audit,
    budget,
    reference_rule,
)
from benchmark.top_outcomes import OUTCOMES

BREAKDOWN_ORDER = {"activity": 0, "streamer": 1, "time": 2}
VALUE_ORDER = {"low": 0, "mid": 1, "high": 2, "seen": 0, "unseen": 1, "peak": 0, "offpeak": 1}


def sim_text(data: dict) -> str:
    """The simulator version and its overrides, for every page ('' for the real data)."""
    sim = data.get("simulator")
    if not sim:
        return ""
    from benchmark.sim.presets import STUDY_PRESETS

    over = ", ".join(f"{k}={v}" for k, v in sorted(sim["overrides"].items())) or "none"
    study = " (preset `{}`: mechanism study, not KuaiLive-shaped)".format(data["preset"]) \
        if data.get("preset") in STUDY_PRESETS else ""
    return f"simulator `{sim['version']}`, overrides: {over}{study}"


def _num(x: float | None) -> str:
    if x is None:
        return DASH
    return f"{x:,.1f}" if abs(x) >= 1000 else f"{x:.4f}"


def _num_na(x: float | None) -> str:
    """A metric cell that reads n/a where the metric is undefined (a cell without samples, or one class)."""
    return "n/a" if x is None or not np.isfinite(x) else _num(x)


def _signed(x: float | None) -> str:
    return DASH if x is None else f"{round(x, 4) + 0.0:+.4f}"   # + 0.0: no "-0.0000" for a zero


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


def _reference_text(v: _TaskView) -> str:
    if v.fixed_reference:
        return (f"Reference rule: on {v.task} the reference is {v.fixed_reference} (the rule's learned-model "
                f"choice does not apply to ranking; docs/leaderboard.md). This board's reference: {v.reference}.")
    best, value = reference_rule(v)
    if best is None:
        return (f"Reference rule: no uncapped learned model with a valid-split {v.primary} ran; the reference "
                f"is params.yaml's {v.reference}.")
    head = (f"Reference rule (fixed in params.yaml before the test split is read): the strongest uncapped "
            f"learned model by valid-split {v.primary}, here {best} ({value:.4f}).")
    if best == v.reference:
        return head
    return head + f" **params.yaml names {v.reference} instead: this board does not follow its own rule.**"


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
        few = v.results.get("row_seeds", {}).get(m)
        only = f" (seed{'s' * (len(few) > 1)} {', '.join(map(str, few))} only)" if few else ""
        rows.append([v.ranks[m], m, f"{n_ok}/{n_all}{only}", primary,
                     *[_num(_mean(v.values(m, o))) for o in others],
                     delta, holm_p, mark, _num(valid), budget(v.ok[m])[0],
                     DASH if n_params is None else f"{int(n_params):,}",
                     DASH if train is None else f"{train:.2f}", DASH if rps is None else f"{rps:,.0f}"])
    return _table(rows, headers)


def _top_outcomes_table(v: _TaskView) -> str | None:
    """Each row's top-10 expected outcomes (results.json `top_outcomes`), in the board's order."""
    found = v.results.get("top_outcomes") or {}
    models = [m for m in v.order if found.get(m)]
    if not models:
        return None

    def cell(m: str, key: str) -> str:
        vals = [r[key] for r in found[m]]
        std = _std(vals)
        return _num(_mean(vals)) + ("" if std is None else f" ± {_num(std)}")

    rows = [[v.ranks[m], m, *[cell(m, k) for k in OUTCOMES]] for m in models]
    return _table(rows, ["rank", "model", "expected clicks", "expected long views", "expected gift value"])


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

    unit = "queries" if v.ranking else "samples"
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
        + ("the user-robust standard error of the per-user differences" if v.meta.get("primary_test") == "per_user"
           else
           f"the user-cluster bootstrap, B = {sig['n_cluster_resamples']:,}, seed {sig['seed']}")
        + ") and the retraining (the spread of a model's per-seed values): a t-test with Welch–Satterthwaite "
        "degrees of freedom, so p < 0.05 exactly when the interval excludes 0 (docs/statistics.md).",
        _main_table(v),
        _legend(results),
        _reference_text(v),
    ]
    worth = _ablation_table(v)
    if worth:
        parts += ["## What each mechanism is worth",
                  "Each ablation is the Oracle with one simulator mechanism hidden and averaged over (the "
                  "highlight flag, the room's own content, the weekday); the gap is what a perfect model gains "
                  f"from that mechanism on {v.primary}, the scale against which any model's gain from it is "
                  "judged. Means over seeds; the interval and p test the gap as Δ is tested above (users and "
                  "seeds), outside the Holm and BH families: the ablations are reference rows, never ranked.",
                  worth]
    queries = (data.get("task_stats") or {}).get(task) if v.ranking else None
    if queries:
        parts.append(_queries_text(queries, data["task_rows"].get(task) or {}))
    sampled = _sampled_table(v) if v.ranking else None
    if sampled:
        neg = ((queries or {}).get("sampled_view") or {}).get("negatives")
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
    worth_top = _top_outcomes_table(v) if v.ranking else None
    if worth_top:
        parts += ["## What each row's top 10 is worth (KuaiLive-Sim's truth)",
                  "Per query, the simulator's expected clicks, long views and gift value of the ten streamers a "
                  "row ranks first, each as if shown at the request: P(click | shown), times P(long view | click), "
                  "times E[gift value | click], summed over the ten and averaged over the test queries; mean ± std "
                  "over seeds. The ranking metrics credit only the streamer the user clicked; this credits what a "
                  "list would earn (a model aligned to a multi-objective reward aims here). Descriptive: not tested "
                  "and not ranked (docs/leaderboard.md).", worth_top]
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


def _ablations(v: _TaskView) -> list[str]:
    """The Oracle's ablation rows of this task that ran (`<oracle>-<thing>blind`)."""
    return [m for m in ablation_rows(v.order, v.results.get("oracle")) if v.ok.get(m)]


def _ablation_table(v: _TaskView) -> str | None:
    oracle = v.results.get("oracle")
    rows = _ablations(v)
    top = _mean(v.values(oracle, v.primary)) if v.ok.get(oracle) else None
    if not rows or top is None:
        return None
    tests = {c["model"]: c for c in v.ablations if c.get("metric") == v.primary and c.get("status") == "ok"}
    body = []
    for m in rows:
        value, c = _mean(v.values(m, v.primary)), tests.get(m)
        gap = DASH if value is None else _signed(top - value)
        body.append([m, _num(value), gap, DASH if c is None else f"[{_signed(-c['ci_high'])}, {_signed(-c['ci_low'])}]",
                     DASH if c is None else _pval(c["pvalue"])])
    return tabulate([[oracle, _num(top), DASH, DASH, DASH], *body],
                    headers=["row", v.primary, "Oracle minus row", "95% interval", "p"],
                    tablefmt="github", disable_numparse=True)


def _reference_rows_text(results: dict) -> str:
    rows = results.get("reference_rows", [])
    if not rows:
        return "Reference rows: none."
    known = {results.get("oracle"): "scores with the simulator's ground truth (the ceiling: on topk it ranks a "
                                    "query's live rooms by P(the feed shows it) x P(click | shown), a room "
                                    "already entered scoring 0)",
             f"{results.get('oracle')}-preference": "ranks topk by P(click | shown) alone, the user's preference "
                                                    "without the feed's exposure policy",
             "ArtifactProbe": "sees only time, room age and live status (what logging artefacts alone give)"}
    oracle = results.get("oracle")
    for m in ablation_rows(rows, oracle):
        known[m] = (f"is the {oracle} with the {m[len(oracle) + 1:-len('blind')]} mechanism hidden (its gap to "
                    f"the {oracle} sizes what a model can gain from it)")
    said = [f"{m} {known[m]}" for m in rows if m in known]
    few = results.get("row_seeds", {})
    if few:
        said.append(f"{', '.join(few)} ran with fewer seeds than the board's (`models.<name>.seeds`, ablations): "
                    "their interval counts the users and the reference's seeds but not their own variance between "
                    "seeds, so they get no mark")
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
        best = v.best
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
        "`benchmark.leaderboard.render`; none is typed. Every dataset's board: [the index](../README.md).",
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
