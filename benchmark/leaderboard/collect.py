"""Collecting a leaderboard: every run, every comparison, the data card, code version and environment
into one results.json (docs/leaderboard.md), from which everything on the pages is rendered."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmark.compare import json_clean, listed_unranked, read_metrics, run_dirs
from benchmark.errors import DataError
from benchmark.io import run_folder, significance_path
from benchmark.params import Params, TaskPlan, as_params, parse_dataset, split_row
from benchmark.tasks import get_task
from benchmark.top_outcomes import board_outcomes

SCHEMA_VERSION = 1
PACKAGES = ("numpy", "pandas", "pyarrow", "scipy", "scikit-learn", "torch", "dvc", "matplotlib", "tabulate")
RUN_FIELDS = ("train_seconds", "predict_seconds", "predict_rows_per_second", "n_params", "device", "device_name",
              "peak_memory_mb", "peak_gpu_memory_mb", "threads", "n_test", "uses_oracle", "learned", "n_train", "fit",
              "valid_metrics")
# present only on some rows: streaming (docs/streaming.md), shared fits (docs/shared-fits.md), retrieval topk
OPTIONAL_FIELDS = ("protocol", "stream", "fit_shared_with", "replay", "shared_fit", "fit_input", "retrieval")
REPO = Path(__file__).resolve().parents[2]


def _run_record(dataset: str, task: str, model: str, seed: int, folder: Path) -> dict:
    """One results.json run record from a run's metrics.json (identity taken from the folder)."""
    raw = read_metrics(folder / "metrics.json")
    rec: dict[str, Any] = {"dataset": dataset, "task": task, "model": model, "seed": seed,
                           "status": "ok" if raw.get("status") == "ok" else "failed"}
    if rec["status"] == "failed":
        rec["error"] = str(raw.get("error") or "failed without an error message")
    rec["metrics"] = dict(raw.get("metrics") or {})
    rec.update({k: raw.get(k) for k in RUN_FIELDS})
    rec.update({k: raw[k] for k in OPTIONAL_FIELDS if k in raw})
    return rec


def reference_rows(params: Params, runs: list[dict]) -> list[str]:
    """Rows shown but never ranked: params' `leaderboard.unranked` and few-seed rows (`Params.unranked_rows`)
    plus every model whose runs declare uses_oracle (that declaration alone makes a reference row; params
    cannot undo it)."""
    declared = [r["model"] for r in runs if r.get("uses_oracle")]
    unranked = params.unranked_rows
    listed = [r for plan in params.tasks.values() for r in plan.rows if listed_unranked(r, unranked)]
    return list(dict.fromkeys([*unranked, *listed, *declared]))


def collect_runs(runs_root: Path, dataset: str, params: Params | Mapping) -> list[dict]:
    """One record per (task, model, seed) of params' task lists; a listed model without any run
    directory gets one failed record (seed None) saying so."""
    params = as_params(params)
    seeds = params.seeds
    out = []
    for task, plan in params.tasks.items():
        for model in plan.rows:
            found = run_dirs(runs_root, dataset, task, model, seeds, plan.shared)
            if not found:
                where = run_folder(runs_root, dataset, task, model, model in plan.shared)
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
            shown = get_task(task).board_stats
            if shown:
                card.setdefault("task_stats", {})[task] = {k: m.get(k) for k in shown}
    sim = Path(data_root) / "raw" / dataset / "oracle" / "latent" / "params.json"
    if name.source == "sim" and sim.exists():
        latent = json.loads(sim.read_text())
        card["simulator"] = {"version": latent.get("version"), "overrides": latent.get("overrides") or {}}
    return card


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
    # The build itself rewrites dvc.lock and leaderboard/, and `dvc exp run -S` edits params.yaml (whose values
    # the board records: dataset, seeds, each model's params), so none of them counts as a change of the code.
    changes = _git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!dvc.lock", ":!leaderboard",
                   ":!params.yaml")
    return {"describe": _git("describe", "--always", "--tags"), "commit": _git("rev-parse", "HEAD"),
            "local_changes": None if changes is None and _git("rev-parse", "HEAD") is None else bool(changes),
            "package": pkg}


def environment(params: Params) -> dict:
    """Python, platform, package versions and thread count of this build."""
    versions = {}
    for p in PACKAGES:
        try:
            versions[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            versions[p] = None
    return {"python": platform.python_version(), "implementation": sys.implementation.name,
            "platform": platform.platform(), "machine": platform.machine(), "cpu_count": os.cpu_count(),
            "threads": params.threads, "packages": versions}


def _significance_path(runs_root: Path, dataset: str, significance: Path | None) -> Path:
    return Path(significance) if significance is not None else significance_path(runs_root, dataset)


def collect_results(runs_root: Path, dataset: str, params: Params | Mapping, data_root: Path,
                    significance: Path | None = None) -> dict:
    """results.json: every run, every comparison (from significance.json, by default
    runs/significance/<dataset>.json), data and split hashes, code version, environment, seeds."""
    params = as_params(params)
    plan = params.tasks
    sig_path = _significance_path(runs_root, dataset, significance)
    sig = _read_json(sig_path, "significance")
    if sig.get("dataset") != dataset:
        raise DataError(str(sig_path), f"is for dataset '{sig.get('dataset')}', not '{dataset}' "
                        "(rerun the significance stage)")
    tasks = {}
    for task, spec in plan.items():
        t = get_task(task)
        tasks[task] = {"primary": t.primary, "others": list(t.others), "unit": t.unit, "kind": t.kind,
                       "labels": list(t.labels), "models": list(spec.rows), "reference": spec.reference,
                       "fixed_reference": t.fixed_reference, "oracle_role": t.oracle_role,
                       "primary_test": t.tests[0].kind if t.tests else None}
    runs = collect_runs(runs_root, dataset, params)
    results = {
        "schema_version": SCHEMA_VERSION,
        "dataset": dataset,
        "data": data_card(dataset, data_root, list(plan)),
        "code_version": code_version(),
        "environment": environment(params),
        "seeds": list(params.seeds),
        "references": {task: spec.reference for task, spec in plan.items()},
        "reference_rows": reference_rows(params, runs),
        "row_seeds": {r: list(params.models[split_row(r)[0]].seeds) for r in params.few_seed_rows},
        "oracle": params.leaderboard.oracle,
        "significance": {**asdict(params.significance), **(sig.get("settings") or {})},
        "tasks": tasks,
        "runs": runs,
        "comparisons": list(sig.get("comparisons") or []),
        "ablations": list(sig.get("ablations") or []),
        "models": model_cards(params, plan),
        "top_outcomes": (board_outcomes(runs_root, data_root, dataset, plan["topk"].rows, plan["topk"].shared,
                                        params.seeds) if "topk" in plan else {}),
    }
    return json_clean(results)


def model_cards(params: Params, plan: Mapping[str, TaskPlan]) -> dict[str, dict]:
    """Per board row: its class, code, params, protocol and the first paragraph of the class docstring. A
    class that cannot be imported gets about=None: a broken model fails its own runs, never the leaderboard."""
    from benchmark.interface import load_class, registered_models

    registry = registered_models(params)
    cards = {}
    for row in dict.fromkeys(r for spec in plan.values() for r in spec.rows):
        model, stream = split_row(row)
        spec = registry.get(model)
        about = None
        try:
            doc = load_class(spec.cls).__doc__ if spec is not None else None
            about = " ".join(doc.strip().split("\n\n")[0].split()) if doc else None
        except Exception:  # noqa: BLE001 - reported as unknown, the runs say why
            about = None
        # params' leaderboard.about overrides the docstring, e.g. to say what an ablation removes
        about = params.leaderboard.about.get(model, about)
        if stream:
            about = (f"{model}'s fit replayed over the test period under the `{stream}` label stream, learning "
                     f"through `update` (docs/streaming.md). " + (about or ""))
        cards[row] = {"class": spec.cls if spec else None, "code": spec.code if spec else None,
                      "params": dict(spec.params) if spec else {}, "about": about.strip() if about else about,
                      "protocol": "streaming" if stream else "static", "stream": stream}
    return cards
