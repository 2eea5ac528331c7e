"""compare.py: every model vs its reference with the user as the unit, on run directories written exactly
as the runner writes them (docs/runs.md): one clearly better model, one exchangeable with the reference,
one whose runs all failed, one that failed one seed, and an unranked Oracle."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from benchmark import significance as S
from benchmark.aa_retrain import retrain_aa, summary
from benchmark.compare import compare_runs, finalize, seed_mean_per_user, significance_stage
from benchmark.errors import BenchmarkError, DataError
from benchmark.evaluate import breakdowns, evaluate
from benchmark.leaderboard import reference_rows
from benchmark.metrics import auc
from benchmark.params import parse_params
from benchmark.tasks.topk import sampled_view_metrics

DATASET = "sim-tiny-s0"
SEEDS = (0, 1, 2)
DAY_MS = 86_400_000
TEST_START_MS = 1_747_929_600_000  # 2025-05-23 00:00 +08:00
ERROR = "ModelError: predict returned 12 NaN scores"
MODELS = ["Ref", "Better", "Same", "Broken", "Flaky", "Oracle"]
N_RESAMPLES, N_CLUSTER = 2000, 500
PARAMS = {
    "dataset": DATASET, "seeds": list(SEEDS), "threads": 1,
    "tasks": {"ctr": {"models": MODELS, "reference": "Ref"},
              "topk": {"models": ["Ref", "Better", "Same", "Broken", "Oracle"], "reference": "Ref"}},
    "significance": {"n_resamples": N_RESAMPLES, "n_cluster_resamples": N_CLUSTER, "seed": 0},
    "leaderboard": {"unranked": ["Oracle"]},
    "queries": {"sampled_negatives": 10000},
}


# ---------------------------------------------------------------------------------------------
# synthetic run directories (shared with test_leaderboard.py)
# ---------------------------------------------------------------------------------------------

def _test_table(task: str, rng: np.random.Generator, n_users: int = 150) -> tuple[pd.DataFrame, np.ndarray]:
    """A task's test split (sorted by sample_id) and a latent signal per row."""
    per_user = 20 if task == "ctr" else 3
    users = np.repeat(np.arange(1, n_users + 1) * 11, per_user)
    n = users.size
    ts = TEST_START_MS + np.sort(rng.integers(0, 3 * DAY_MS, n))
    latent = rng.normal(size=n) + 0.7 * rng.normal(size=n_users)[np.repeat(np.arange(n_users), per_user)]
    df = pd.DataFrame({"sample_id": np.arange(n, dtype=np.int64) * 3 + 5, "user_id": users.astype(np.int64),
                       "streamer_id": rng.integers(0, 40, n), "live_id": rng.integers(0, 400, n), "ts": ts})
    if task == "ctr":
        df["click"] = (rng.random(n) < 1 / (1 + np.exp(-(latent - 1.0)))).astype(np.int8)
    else:
        df["target_streamer_id"] = df["streamer_id"]
        df["repeat"] = (rng.random(n) < 0.5).astype(np.int8)
    return df, latent


def _groups(test: pd.DataFrame) -> dict[str, np.ndarray]:
    u = test["user_id"].to_numpy()
    activity = np.array(["low", "mid", "high"])[np.searchsorted(np.quantile(u, [1 / 3, 2 / 3]), u, "right")]
    hour = ((test["ts"].to_numpy() + 8 * 3_600_000) % DAY_MS) // 3_600_000
    seen = np.where(test["streamer_id"].to_numpy() % 4 == 0, "unseen", "seen")
    return {"activity": activity, "streamer": seen, "time": np.where(hour >= 18, "peak", "offpeak")}


def _output(task: str, model: str, seed: int, latent: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Scores (ctr) or target ranks (topk) of one synthetic model and seed."""
    rng = np.random.default_rng([sum(map(ord, model)), seed, len(task)])
    noise = rng.normal(size=latent.size)
    if task == "ctr":
        if model == "Oracle":
            return 1 / (1 + np.exp(-(latent - 1.0)))
        strength, spread = {"Better": (1.0, 0.4)}.get(model, (0.6, 1.0))
        return 1 / (1 + np.exp(-(strength * latent + spread * noise - 1.0)))
    if model == "Oracle":
        return np.ones(latent.size)
    scale = 3.0 if model == "Better" else 15.0
    return 1.0 + np.floor(rng.exponential(scale, latent.size))


def write_run(runs_root: Path, task: str, model: str, seed: int, test: pd.DataFrame,
              output: np.ndarray | None, error: str | None = None, shuffle: bool = False) -> Path:
    """One run directory as benchmark.runner.run_one writes it (metrics.json, predictions, per_user)."""
    out = Path(runs_root) / DATASET / task / model / f"seed{seed}"
    out.mkdir(parents=True)
    rec = {"dataset": DATASET, "task": task, "model": model, "seed": seed, "status": "ok", "metrics": {},
           "train_seconds": None, "predict_seconds": None, "n_params": None, "device": None,
           "peak_memory_mb": None}
    if error is not None:
        rec.update(status="failed", error=error)
        (out / "traceback.txt").write_text(f"Traceback (most recent call last):\n{error}\n")
    else:
        if task == "topk":
            ev = evaluate(task, test, output)
            ev.metrics.update(sampled_view_metrics(np.ceil(output / 2)))  # fewer candidates: a better rank
            ev.metrics.update(breakdowns(task, test, _groups(test), output))
            top = np.full((len(test), 100), -1, dtype=np.int64)
            preds = pa.table({"sample_id": test["sample_id"].to_numpy(), "target_rank": output,
                              "top": pa.array(list(top))})
        else:
            ev = evaluate(task, test, output)
            ev.metrics.update(breakdowns(task, test, _groups(test), output))
            preds = pa.table({"sample_id": test["sample_id"].to_numpy(), "score": output})
        if shuffle:
            preds = preds.take(np.random.default_rng(seed).permutation(preds.num_rows))
        idx = MODELS.index(model) if model in MODELS else 0
        rec.update(metrics=ev.metrics, n_params=1000 * (idx + 1), device="cpu", n_test=len(test),
                   train_seconds=1.5 + idx + 0.25 * seed, predict_seconds=0.125 + 0.01 * seed,
                   predict_rows_per_second=len(test) / (0.125 + 0.01 * seed), peak_memory_mb=100.0)
        pq.write_table(preds, out / "predictions.parquet")
        frames = [df.assign(metric=name) for name, df in ev.per_user.items()]
        pq.write_table(pa.Table.from_pandas(pd.concat(frames, ignore_index=True), preserve_index=False),
                       out / "per_user.parquet")
    rec["threads"] = 1
    (out / "metrics.json").write_text(json.dumps(rec, indent=1, default=float))
    return out


def build_world(root: Path) -> tuple[Path, Path]:
    """data/ (task test splits, split manifest, ingest report) and runs/ for PARAMS; returns (data, runs)."""
    data, runs = root / "data", root / "runs"
    rng = np.random.default_rng(7)
    for task, spec in PARAMS["tasks"].items():
        test, latent = _test_table(task, rng)
        tdir = data / "tasks" / DATASET / task
        tdir.mkdir(parents=True)
        pq.write_table(pa.Table.from_pandas(test, preserve_index=False), tdir / "test.parquet")
        meta = {"name": task, "rows": {"test": len(test)}}
        if task == "topk":  # as the topk build writes it
            meta["sampled_view"] = {"negatives": PARAMS["queries"]["sampled_negatives"], "seed": 0}
        (tdir / "task.json").write_text(json.dumps(meta))
        for model in spec["models"]:
            seeds = (0,) if model == "Oracle" else SEEDS
            for s in seeds:
                if model == "Broken" or (model == "Flaky" and s == 1):
                    write_run(runs, task, model, s, test, None, error=ERROR)
                else:
                    write_run(runs, task, model, s, test, _output(task, model, s, latent, test),
                              shuffle=(model == "Same" and s == 2))
    split = data / "split" / DATASET
    split.mkdir(parents=True)
    days = {"train": ("2025-05-05", "2025-05-20"), "valid": ("2025-05-21", "2025-05-22"),
            "test": ("2025-05-23", "2025-05-25")}
    (split / "split_manifest.json").write_text(json.dumps({
        "timezone": "Asia/Shanghai", "source_hash": "ab" * 32, "outside_window": 0,
        "boundaries": {k: {"first_day": a, "last_day": b} for k, (a, b) in days.items()},
        "splits": {k: {"rows": 1000 * (i + 1), "hash": f"{i}" * 64} for i, k in enumerate(days)}}))
    proc = data / "processed" / DATASET
    proc.mkdir(parents=True)
    (proc / "ingest_report.json").write_text(json.dumps({"rows": {"click.csv": 1234, "negative.csv": 5678},
                                                         "rooms_distinct": 400}))
    return data, runs


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return build_world(tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="module")
def ctr_comparisons(world):
    data, runs = world
    spec = PARAMS["tasks"]["ctr"]
    return compare_runs(runs, DATASET, "ctr", spec["models"], "Ref", data, N_RESAMPLES, N_CLUSTER, seed=0,
                        seeds=SEEDS, unranked=["Oracle"], quiet=True)


def _get(records: list[dict], model: str, metric: str | None) -> dict:
    hits = [c for c in records if c["model"] == model and c.get("metric") == metric]
    assert len(hits) == 1, (model, metric, hits)
    return hits[0]


# ---------------------------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------------------------

def test_better_model_is_significant_and_equal_model_is_not(ctr_comparisons):
    for metric in ("gauc", "auc"):
        better = _get(ctr_comparisons, "Better", metric)
        assert better["status"] == "ok"
        assert better["diff"] > 0 and better["ci_low"] > 0, better
        assert better["pvalue"] < 0.01
        same = _get(ctr_comparisons, "Same", metric)
        assert same["pvalue"] > 0.05, same
        assert same["ci_low"] < 0 < same["ci_high"], same
    logloss = _get(ctr_comparisons, "Better", "logloss")
    assert logloss["diff"] < 0 and logloss["higher_is_better"] is False


def test_records_name_their_tests_and_cross_checks(ctr_comparisons):
    gauc = _get(ctr_comparisons, "Better", "gauc")
    assert gauc["test"] == "users and seeds t-test" and gauc["kind"] == "per_user"
    assert gauc["user_test"] == "weighted paired sign-flip" and 0 < gauc["p_users"] <= 1
    assert gauc["n_users"] == 150 and gauc["n_resamples"] == N_RESAMPLES
    a = _get(ctr_comparisons, "Better", "auc")
    assert a["user_test"] == "user-cluster randomisation (rank-normalised)" and a["n_resamples"] == N_CLUSTER
    ll = _get(ctr_comparisons, "Better", "logloss")
    assert ll["user_test"] == "user-cluster randomisation"      # LogLoss keeps probabilities
    for c in ctr_comparisons:
        if c["status"] == "ok":
            assert {"dataset", "task", "metric", "model", "reference", "diff", "ci_low", "ci_high", "pvalue",
                    "test", "holm_p", "bh_q", "n_users", "se_users", "se_seeds", "df", "p_users"} <= set(c)
            assert c["ci_low"] <= c["ci_high"] and c["reference"] == "Ref"


def _table_mean(runs: Path, model: str, metric: str, seeds) -> float:
    vals = [json.loads((runs / DATASET / "ctr" / model / f"seed{s}" / "metrics.json").read_text())["metrics"][metric]
            for s in seeds]
    return float(np.mean(vals))


def test_delta_is_the_difference_of_the_per_seed_means_the_table_shows(world, ctr_comparisons):
    """Per-user and global metrics alike: Δ = mean over seeds of the model's metric − the reference's."""
    data, runs = world
    for c in ctr_comparisons:
        if c["status"] != "ok":
            continue
        model = _table_mean(runs, c["model"], c["metric"], c["model_seeds"])
        ref = _table_mean(runs, "Ref", c["metric"], c["reference_seeds"])
        assert c["model_value"] == pytest.approx(model, rel=1e-9), c
        assert c["diff"] == pytest.approx(model - ref, rel=1e-9, abs=1e-12), c


def test_p_below_alpha_exactly_when_the_interval_excludes_zero(ctr_comparisons):
    ok = [c for c in ctr_comparisons if c["status"] == "ok"]
    assert ok and any(c["pvalue"] < 0.05 for c in ok) and any(c["pvalue"] >= 0.05 for c in ok)
    for c in ok:
        assert (c["pvalue"] < 0.05) == (c["ci_low"] > 0 or c["ci_high"] < 0), c


def test_retraining_variance_enters_multi_seed_comparisons(ctr_comparisons):
    """Every comparison of multi-seed models reports both variance components; the seed term never
    exceeds the raw spread of the per-seed values, and a single run (the Oracle) adds none of its own."""
    for c in ctr_comparisons:
        if c["status"] != "ok":
            continue
        spread = sum((sd or 0.0) ** 2 / len(seeds) for sd, seeds in
                     ((c["model_seed_sd"], c["model_seeds"]), (c["reference_seed_sd"], c["reference_seeds"])))
        assert 0 <= c["se_seeds"] <= np.sqrt(spread) + 1e-15 and c["se_users"] > 0, c
        half = c["ci_high"] - c["diff"]
        assert half >= 1.959 * np.hypot(c["se_users"], c["se_seeds"]), c
    oracle = _get(ctr_comparisons, "Oracle", "gauc")
    assert oracle["model_seed_sd"] is None and oracle["reference_seed_sd"] > 0


def test_per_user_values_are_averaged_over_seeds_before_pairing(world, ctr_comparisons):
    data, runs = world
    frames = [pq.read_table(runs / DATASET / "ctr" / "Better" / f"seed{s}" / "per_user.parquet").to_pandas()
              for s in SEEDS]
    wide = pd.concat([f.assign(seed=s) for s, f in zip(SEEDS, frames, strict=True)])
    mean = wide.pivot_table(index="user_id", columns="seed", values="value").mean(axis=1)
    weight = wide.pivot_table(index="user_id", columns="seed", values="weight").mean(axis=1)
    got = seed_mean_per_user([runs / DATASET / "ctr" / "Better" / f"seed{s}" for s in SEEDS], "gauc")
    np.testing.assert_allclose(got["value"].to_numpy(), mean.to_numpy())
    rec = _get(ctr_comparisons, "Better", "gauc")
    assert rec["model_value"] == pytest.approx(np.dot(weight, mean) / weight.sum())


def test_global_metrics_average_per_seed_values_aligned_by_sample_id(world, ctr_comparisons):
    data, runs = world
    test = pq.read_table(data / "tasks" / DATASET / "ctr" / "test.parquet").to_pandas()
    per_seed = []
    for s in SEEDS:   # seed 2 of "Same" is stored shuffled: align by sample_id
        p = pq.read_table(runs / DATASET / "ctr" / "Same" / f"seed{s}" / "predictions.parquet").to_pandas()
        per_seed.append(auc(test["click"], p.set_index("sample_id").loc[test["sample_id"], "score"].to_numpy()))
    rec = _get(ctr_comparisons, "Same", "auc")
    assert rec["model_value"] == pytest.approx(np.mean(per_seed))


def test_failed_models_are_skipped_and_partial_failures_use_ok_seeds(ctr_comparisons):
    broken = [c for c in ctr_comparisons if c["model"] == "Broken"]
    assert len(broken) == 1 and broken[0]["status"] == "skipped"
    assert "all runs failed" in broken[0]["reason"] and "NaN" in broken[0]["reason"]
    flaky = _get(ctr_comparisons, "Flaky", "gauc")
    assert flaky["status"] == "ok" and flaky["model_seeds"] == [0, 2]
    assert flaky["reference_seeds"] == [0, 1, 2]


def test_missing_model_and_failed_reference_are_recorded_not_raised(world):
    data, runs = world
    recs = compare_runs(runs, DATASET, "ctr", ["Better", "NeverRan"], "Ref", data, 100, 50, quiet=True)
    assert _get(recs, "NeverRan", None)["reason"] == "no run found"
    recs = compare_runs(runs, DATASET, "ctr", ["Better", "Same"], "Broken", data, 100, 50, quiet=True)
    assert [c["status"] for c in recs] == ["skipped", "skipped"]
    assert all("reference Broken has no successful run" in c["reason"] for c in recs)
    assert finalize(recs) == [dict(c, holm_p=None, bh_q=None) for c in recs]


def test_holm_within_family_and_bh_across_the_build(ctr_comparisons):
    out = finalize(ctr_comparisons)
    tested = [c for c in out if c["status"] == "ok" and c["ranked"]]
    assert {c["model"] for c in tested} == {"Better", "Same", "Flaky"}
    for metric in ("gauc", "auc", "logloss"):
        fam = [c for c in tested if c["metric"] == metric]
        np.testing.assert_allclose([c["holm_p"] for c in fam], S.holm([c["pvalue"] for c in fam]))
    bh = S.benjamini_hochberg([c["pvalue"] for c in tested])
    np.testing.assert_allclose([c["bh_q"] for c in tested], bh)
    oracle = [c for c in out if c["model"] == "Oracle"]
    assert oracle and all(c["holm_p"] is None and c["bh_q"] is None and not c["ranked"] for c in oracle)
    assert all(c["holm_p"] is None for c in out if c["status"] != "ok")
    assert all(c.get("holm_p") is None for c in ctr_comparisons), "finalize must not modify its input"


def test_significance_stage_is_deterministic_strict_json_and_spans_tasks(world, tmp_path):
    data, runs = world
    out = tmp_path / "board" / "significance.json"
    res = significance_stage(PARAMS, runs, data, out, quiet=True)
    first = out.read_bytes()
    significance_stage(PARAMS, runs, data, out, quiet=True)
    assert out.read_bytes() == first
    assert sorted(p.name for p in out.parent.iterdir()) == ["significance.json"]   # no temporary left
    loaded = json.loads(first, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert loaded == res and loaded["dataset"] == DATASET
    assert loaded["settings"] == {"n_resamples": N_RESAMPLES, "n_cluster_resamples": N_CLUSTER,
                                  "n_bootstrap_recompute": 200, "seed": 0, "alpha": 0.05}
    comps = loaded["comparisons"]
    assert {c["task"] for c in comps} == {"ctr", "topk"}
    ndcg = _get([c for c in comps if c["task"] == "topk"], "Better", "ndcg@10")
    assert ndcg["diff"] > 0 and ndcg["holm_p"] < 0.05
    tested = [c for c in comps if c["status"] == "ok" and c["ranked"]]
    bh = S.benjamini_hochberg([c["pvalue"] for c in tested])
    np.testing.assert_allclose([c["bh_q"] for c in tested], bh)


def test_stale_predictions_raise_a_clear_data_error(world, tmp_path):
    data, runs = world
    test = pq.read_table(data / "tasks" / DATASET / "ctr" / "test.parquet").to_pandas()
    short = test.iloc[:-5].reset_index(drop=True)
    for s in SEEDS:
        write_run(tmp_path, "ctr", "Ref", s, test, np.linspace(0.1, 0.9, len(test)))
    write_run(tmp_path, "ctr", "Stale", 0, short, np.linspace(0.1, 0.9, len(short)))
    with pytest.raises(DataError, match="Stale/seed0/predictions.parquet.*do not match"):
        compare_runs(tmp_path, DATASET, "ctr", ["Stale"], "Ref", data, 100, 50, quiet=True)


def test_bad_params_say_what_is_missing(world, tmp_path):
    data, runs = world
    bad = dict(PARAMS, tasks={"ctr": {"models": ["Ref"]}})
    with pytest.raises(BenchmarkError, match="tasks.ctr needs"):
        significance_stage(bad, runs, data, tmp_path / "s.json", quiet=True)
    with pytest.raises(BenchmarkError, match="unknown task"):
        significance_stage(dict(PARAMS, tasks={"nope": {"models": [], "reference": "Ref"}}), runs, data,
                           tmp_path / "s.json", quiet=True)
    assert not (tmp_path / "s.json").exists()


def test_a_model_declaring_uses_oracle_is_a_reference_row_whatever_params_say(world, tmp_path):
    """uses_oracle in a model's runs makes it unranked with an empty `unranked` list, and never a reference."""
    data, runs = world
    copy = tmp_path / "runs"
    shutil.copytree(runs, copy)
    meta = copy / DATASET / "ctr" / "Oracle" / "seed0" / "metrics.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "uses_oracle": True}))
    records = compare_runs(copy, DATASET, "ctr", MODELS, "Ref", data, 200, 50, seed=0, seeds=SEEDS, unranked=(),
                           quiet=True)
    assert {r["ranked"] for r in records if r["model"] == "Oracle"} == {False}
    assert {r["ranked"] for r in records if r["model"] == "Better"} == {True}
    with pytest.raises(BenchmarkError, match="declares uses_oracle"):
        compare_runs(copy, DATASET, "ctr", MODELS, "Oracle", data, 200, 50, seed=0, seeds=SEEDS, quiet=True)
    runs_list = [{"model": "Oracle", "uses_oracle": True}, {"model": "Better", "uses_oracle": False}]
    assert reference_rows(parse_params({"dataset": DATASET, "leaderboard": {"unranked": ["ArtifactProbe"]}}),
                          runs_list) == ["ArtifactProbe", "Oracle"]


def test_retrain_aa_compares_disjoint_seed_groups_before_and_after(world, tmp_path):
    """benchmark.aa_retrain on six seeds of one synthetic model: one 3-vs-3 comparison per metric."""
    data, _ = world
    test = pq.read_table(data / "tasks" / DATASET / "ctr" / "test.parquet").to_pandas()
    rng = np.random.default_rng(7)
    latent = rng.normal(size=len(test))
    for s in range(6):
        write_run(tmp_path, "ctr", "Twin", s, test, _output("ctr", "Ref", s, latent, test))
    recs = retrain_aa(tmp_path, data, DATASET, "ctr", "Twin", list(range(6)), n_resamples=200, quiet=True)
    assert [r["metric"] for r in recs] == ["gauc", "auc", "logloss"]
    assert all(r["seeds_a"] == [0, 1, 2] and r["seeds_b"] == [3, 4, 5] for r in recs)
    assert all(0 < r["before_p"] <= 1 and 0 < r["after_p"] <= 1 for r in recs)
    assert all((r["after_p"] < 0.05) == (r["after_ci"][0] > 0 or r["after_ci"][1] < 0) for r in recs)
    assert "any metric" in summary(recs)


def test_the_oracles_ablations_are_tested_against_the_oracle_outside_the_families(tmp_path):
    """An ablation row (`Oracle-<mechanism>blind`, the truth with a part hidden) gets its gap to the Oracle
    tested (significance.json `ablations`), with no Holm or BH, and the page shows that interval."""
    from benchmark.leaderboard import audit, leaderboard_stage

    data, runs = build_world(tmp_path)
    test, latent = _test_table("ctr", np.random.default_rng(7))   # the world's ctr split: its first draw
    noise = np.random.default_rng(3).normal(size=latent.size)
    blind = write_run(runs, "ctr", "Oracle-halfblind", 0, test, 1 / (1 + np.exp(-(0.5 * latent + noise - 1.0))))
    for folder in (blind, runs / DATASET / "ctr" / "Oracle" / "seed0"):
        meta = folder / "metrics.json"
        meta.write_text(json.dumps({**json.loads(meta.read_text()), "uses_oracle": True}))
    params = {**PARAMS, "tasks": {"ctr": {"models": [*MODELS, "Oracle-halfblind"], "reference": "Ref"}}}
    out = significance_stage(params, runs, data, tmp_path / "significance.json", quiet=True)
    gap = _get(out["ablations"], "Oracle-halfblind", "gauc")
    assert gap["reference"] == "Oracle" and gap["ranked"] is False
    assert gap["diff"] < 0 and gap["ci_high"] < 0 and gap["pvalue"] < 0.01, gap
    assert {c["model"] for c in out["ablations"]} == {"Oracle-halfblind"}
    assert all(c["holm_p"] is None for c in out["comparisons"] if c["model"].startswith("Oracle"))
    leaderboard_stage(params, runs, data, tmp_path / "board", significance=tmp_path / "significance.json",
                      quiet=True)
    results = json.loads((tmp_path / "board" / "results.json").read_text())
    assert results["ablations"] == out["ablations"]
    page = (tmp_path / "board" / "ctr.md").read_text()
    row = next(line for line in page.split("## What each mechanism is worth")[1].splitlines()
               if line.startswith("| Oracle-halfblind"))
    assert f"[{-gap['ci_high']:+.4f}, {-gap['ci_low']:+.4f}]" in row
    a = audit(results)
    assert a["comparisons"] == sum(c["status"] == "ok" for c in out["comparisons"] + out["ablations"])
    assert not a["other_quantity"] and not a["inconsistent"]
