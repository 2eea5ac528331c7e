"""Shared fits (docs/shared-fits.md): a model listed under `shared` is fitted once per (dataset, seed) on a
train table holding every label, and that one fit predicts each task it is listed for (stage fit-shared).

The fit is saved (`runs/<dataset>/shared/<model>/fit/seed<k>/`), so that a model under `shared_with_input`
can name it: the harness loads it for that model, same dataset and seed, as `ctx.inputs[<name>]`.
"""

from __future__ import annotations

import json
import pickle
import shutil
import traceback
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from benchmark.errors import BenchmarkError, ModelError
from benchmark.features import FeatureStore
from benchmark.features.view import FeatureView
from benchmark.interface import Baseline, Context, registered_models
from benchmark.io import atomic_dir, run_folder, shared_folder
from benchmark.params import ModelSpec, Params, SharedFit, as_params, find_model, split_row
from benchmark.runner import (
    Fitted,
    harness_objects,
    load_split,
    online_copy,
    open_model,
    run_record,
    run_seeds,
    seed_everything,
    snapshot_work,
    static_row,
    streaming_row,
    train,
    unwrap,
    write_row,
)
from benchmark.sandbox import sandbox
from benchmark.tasks import get_task

SHARED_LABELS = ("click", "long_view", "like", "comment", "gift", "watch_s", "gift_value")
CLICK_VALUES = {"watch_time": "watch_s", "gift_price": "gift_value"}  # the click-level labels, by task


def shared_table(tasks_root: Path, split: str) -> pd.DataFrame:
    """Every exposure of a split with every label: multi_behavior's five binary labels (click, long_view,
    like, comment, gift), and watch_s and gift_value from watch_time and gift_price, NaN where there was no
    click (those two tasks are about clicks)."""
    table = load_split(Path(tasks_root) / "multi_behavior", split)
    sids = table["sample_id"].to_numpy()
    for task, column in CLICK_VALUES.items():
        path = Path(tasks_root) / task / f"{split}.parquet"
        if not path.exists():
            raise BenchmarkError(f"{path}: not found (a shared fit's table joins every task's labels; run the "
                                 "tasks stage)")
        part = pq.read_table(path, columns=["sample_id", column])
        at = np.searchsorted(sids, part["sample_id"].to_numpy())
        if at.size and (at.max() >= sids.size or not np.array_equal(sids[at], part["sample_id"].to_numpy())):
            raise BenchmarkError(f"{path}: sample_ids missing from multi_behavior/{split}.parquet "
                                 "(rerun the tasks stage)")
        values = np.full(sids.size, np.nan)
        values[at] = part[column].to_numpy().astype(np.float64)
        table[column] = values
    return table


class _FitPickler(pickle.Pickler):
    """Pickles a fitted model, writing the harness objects it holds (`runner.harness_objects`, or a copy of a
    context or view) as names, so the file holds the model alone and a loader rebinds them to its own."""

    def __init__(self, file, ctx: Context, store: FeatureStore):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.named = {id(x): name for name, x in harness_objects(ctx, store).items()}

    def persistent_id(self, obj: Any) -> str | None:
        for cls, name in ((Context, "context"), (FeatureView, "view"), (FeatureStore, "store")):
            if isinstance(obj, cls):
                return name
        return self.named.get(id(obj))


class _FitUnpickler(pickle.Unpickler):
    def __init__(self, file, ctx: Context, store: FeatureStore):
        super().__init__(file)
        self.objects = harness_objects(ctx, store)

    def persistent_load(self, pid: str) -> Any:
        return self.objects[pid]


def fit_folder(runs_root: Path, dataset: str, model: str, seed: int) -> Path:
    """Where a shared model's fit of one seed is saved."""
    return shared_folder(runs_root, dataset, model) / "fit" / f"seed{seed}"


def input_folder(runs_root: Path, dataset: str, model: str, seed: int) -> Path:
    """The saved fit a model loads as its input for one seed: that seed's, or a deterministic input's one
    fit (it runs with the first seed only, docs/runs.md)."""
    folder = fit_folder(runs_root, dataset, model, seed)
    if not folder.exists():
        for other in sorted(folder.parent.glob("seed*")):
            meta = other / "fit.json"
            if meta.exists() and json.loads(meta.read_text()).get("deterministic"):
                return other
    return folder


def save_fit(instance: Baseline, ctx: Context, store: FeatureStore, out: Path, meta: dict) -> None:
    """Write the fitted model (model.pkl), the files it left in its work directory (work/) and what it is
    (fit.json) into `out`, atomically."""
    with atomic_dir(out) as tmp:
        with open(tmp / "model.pkl", "wb") as f:
            _FitPickler(f, ctx, store).dump(instance)
        shutil.copytree(ctx.work_dir, tmp / "work")
        (tmp / "fit.json").write_text(json.dumps(meta, indent=1, default=float))


def load_fit(folder: Path, ctx: Context, store: FeatureStore, loader_uses_oracle: bool) -> Baseline:
    """A saved shared fit, its harness references bound to the loading model's context, view and store, the
    files its fit left copied into the loader's work directory."""
    folder = Path(folder)
    if not (folder / "fit.json").exists():
        raise ModelError(f"{folder}: no saved fit (run its stage fit-shared first)")
    meta = json.loads((folder / "fit.json").read_text())
    if meta.get("status") != "ok" or not (folder / "model.pkl").exists():
        raise ModelError(f"{folder}: the input fit failed ({meta.get('error')})")
    if meta.get("uses_oracle") and not loader_uses_oracle:
        raise ModelError(f"{folder}: the input reads the simulator's oracle; only a uses_oracle model may load it")
    if meta.get("device") != ctx.device:
        raise ModelError(f"{folder}: the input was fitted on {meta.get('device')} and this run is on {ctx.device}: "
                         "give both models the same device in params.yaml")
    if (folder / "work").is_dir():
        shutil.copytree(folder / "work", ctx.work_dir, dirs_exist_ok=True)
    with open(folder / "model.pkl", "rb") as f:
        return _FitUnpickler(f, ctx, store).load()


def run_shared(dataset: str, fit: SharedFit, model: ModelSpec, seed: int, data_root: Path = Path("data"),
               runs_root: Path = Path("runs"), threads: int = 1, quiet: bool = False) -> list[dict]:
    """Fit a shared model once with one seed on every label, save the fit, then predict, evaluate and write
    its rows of each task it is listed for (runs/<dataset>/shared/<model>/<task>/seed<k>/): the static row
    and, for each of `fit.streams`, the test period replayed from a copy of the fit (`.../<task>/@<stream>/`).
    Returns their records, task by task in the order of `fit.tasks`. A failed fit fails every row; a failed
    row fails alone."""
    data_root, runs_root = Path(data_root).resolve(), Path(runs_root).resolve()
    tasks_root = data_root / "tasks" / dataset
    base = {**run_record(dataset, "shared", seed, threads), "shared_fit": list(fit.tasks), "fit_input": fit.input}
    records = []
    with sandbox() as work:
        fit_traceback = ""
        saved_to = fit_folder(runs_root, dataset, model.name, seed)
        try:
            fitted = _fit_shared(dataset, fit, model, seed, data_root, runs_root, work, threads, quiet, base)
        except Exception as e:  # noqa: BLE001 - a failing model fails its own runs, never the pipeline
            fitted, fit_traceback = e, traceback.format_exc()
            _save_failure(saved_to, base, model, f"{type(e).__name__}: {e}")
        else:
            meta = {**base, "model": model.name, "deterministic": bool(type(fitted[0]).deterministic)}
            try:
                save_fit(fitted[0], fitted[1], fitted[2], saved_to, meta)
            except Exception as e:  # noqa: BLE001 - only a model loading this fit needs the file: its rows run on
                _save_failure(saved_to, base, model, f"the fit could not be saved ({type(e).__name__}: {e})")
        # as in runner.run_one: every replay starts from the fit itself, copied before any row predicts, one copy
        # per (task, stream), so no replay sees what another row learned
        as_fitted = fitted if isinstance(fitted, Exception) else Fitted(*fitted, None, None, threads)
        copies = {(task, stream): online_copy(as_fitted) for task in fit.tasks for stream in fit.streams}
        snapshot = snapshot_work(work) if copies and not isinstance(fitted, Exception) else None
        try:
            for task in fit.tasks:
                spec, task_dir = get_task(task), tasks_root / task
                test = valid = None
                for row in fit.rows:
                    stream = split_row(row)[1]
                    record = {**base, "task": task, "model": row, "metrics": {}, "fit": dict(base["fit"])}
                    if stream:
                        record.update(protocol="streaming", stream=stream, fit_shared_with=model.name)
                    with (atomic_dir(run_folder(runs_root, dataset, task, row, shared=True) / f"seed{seed}") as tmp,
                          sandbox(start_from=snapshot) if stream else nullcontext(work) as row_work):
                        def body(task=task, spec=spec, task_dir=task_dir, stream=stream, row_work=row_work,
                                 record=record, tmp=tmp) -> None:
                            nonlocal test, valid
                            instance, ctx, features, periods = unwrap(fitted)
                            if test is None:
                                test, valid = load_split(task_dir, "test"), load_split(task_dir, "valid")
                            ctx = replace(ctx, task=spec.name, labels=spec.labels, kind=spec.kind)
                            f = Fitted(instance, ctx, features, periods, test, valid, threads)
                            if stream is None:
                                static_row(f, spec, task_dir, record, tmp)
                                return
                            seed_everything(seed, threads, record["device"])
                            f = replace(f, instance=unwrap(copies[task, stream]), ctx=replace(ctx, work_dir=row_work))
                            streaming_row(f, spec, task_dir, data_root, dataset, stream, record, tmp, quiet)

                        write_row(record, tmp, body, fitted, fit_traceback, quiet)
                    records.append(record)
        finally:
            if snapshot is not None:
                shutil.rmtree(snapshot, ignore_errors=True)
    return records


def _fit_shared(dataset: str, fit: SharedFit, model: ModelSpec, seed: int, data_root: Path, runs_root: Path,
                work: Path, threads: int, quiet: bool, base: dict) -> tuple[Baseline, Context, FeatureStore, dict]:
    """Load, seed and fit a shared model on the table of every label, with its input fit loaded."""
    cls, ctx, features, periods = open_model(dataset, model, seed, data_root, work, threads, quiet, base)
    if not cls.shared_fit:
        raise ModelError(f"{model.cls} is listed under shared in params.yaml but does not declare shared_fit = True")
    unsupported = [t for t in fit.tasks if t not in cls.tasks]
    if unsupported:
        raise ModelError(f"{model.cls} does not support task '{unsupported[0]}' (its tasks: {', '.join(cls.tasks)})")
    ctx = replace(ctx, task="shared", labels=SHARED_LABELS, kind="shared", tasks=fit.tasks, inputs={})
    if fit.input is not None:  # bound to this very context, so the input sees what its loader sees
        ctx.inputs[fit.input] = load_fit(input_folder(runs_root, dataset, fit.input, seed), ctx, features,
                                         bool(cls.uses_oracle))
    tasks_root = data_root / "tasks" / dataset
    train_rows, valid = shared_table(tasks_root, "train"), shared_table(tasks_root, "valid")
    instance = train(cls, ctx, train_rows, valid, threads, quiet, base, f"{dataset}/shared/{model.name}/seed{seed}")
    return instance, ctx, features, periods


def _save_failure(out: Path, base: dict, model: ModelSpec, error: str) -> None:
    """A fit that failed (or could not be saved) still leaves fit.json, no model.pkl, so a model naming it as
    its input says why there is none."""
    with atomic_dir(out) as tmp:
        record = {**base, "model": model.name, "status": "failed", "error": error}
        (tmp / "fit.json").write_text(json.dumps(record, indent=1, default=float))


def run_shared_stage(params: Params | dict, model: str, data_root: Path = Path("data"),
                     runs_root: Path = Path("runs"), seeds: list[int] | None = None, quiet: bool = False) -> list[dict]:
    """`kuailive-bench run-shared`: one shared model over its seeds (`runner.run_seeds`)."""
    params = as_params(params)
    if model not in params.shared:
        raise BenchmarkError(f"params.yaml: {model} is not under shared or shared_with_input (docs/shared-fits.md)")
    spec = find_model(registered_models(params), model)
    return [r for s in run_seeds(params, spec, seeds)
            for r in run_shared(params.dataset.name, params.shared[model], spec, s, data_root, runs_root,
                                params.threads, quiet)]
