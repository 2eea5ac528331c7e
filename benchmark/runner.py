"""One run = (dataset, task, model, seed): fit, predict, evaluate, write the run directory (spec §7); a
streaming model's fit also gives one row per stream, replayed tick by tick (docs/streaming.md).

A model that raises or emits NaN fails its own run only: the failure and its error are recorded in
metrics.json and the caller goes on.
"""

from __future__ import annotations

import copy
import json
import os
import platform
import random
import resource
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from threadpoolctl import threadpool_limits

from benchmark.errors import BenchmarkError, ModelError
from benchmark.evaluate import Evaluation, breakdown_groups, breakdowns
from benchmark.features import FeatureStore
from benchmark.features.view import FeatureView, FitClock, RowsClock
from benchmark.interface import Baseline, Candidates, Context, Retrieved, learns_online, load_class, registered_models
from benchmark.io import atomic_dir, log, run_folder
from benchmark.metrics import target_rank
from benchmark.params import ModelSpec, Params, as_params, find_model, split_row
from benchmark.replay import gather, period_stream, replay
from benchmark.sandbox import sandbox
from benchmark.tasks import get_task
from benchmark.tasks.base import KEY_COLUMNS, Task
from benchmark.tasks.topk import sampled_view_metrics

TOP_N_STORED = 100
QUERY_CHUNK = 256


def seed_everything(seed: int, threads: int = 1, device: str = "cpu") -> None:
    """Fix every random source and the thread count, so a seed gives identical numbers run after run; on
    CUDA also the settings torch needs for repeatable kernels (cuDNN, cuBLAS workspace)."""
    random.seed(seed)
    np.random.seed(seed)
    torch = sys.modules.get("torch")  # seeded only if the model's module uses it: importing it costs seconds
    if torch is not None:
        torch.manual_seed(seed)
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(True, warn_only=True)
        if device == "cuda":
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # before cuBLAS starts, or GEMMs vary
            torch.cuda.manual_seed_all(seed)
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False


def resolve_device(requested: str = "auto") -> str:
    """A model's `device` (auto | cpu | cuda) -> the device it runs on: auto is cuda when the model's module
    imported torch and torch sees a GPU, else cpu; cuda without a GPU is the model's own error."""
    if requested == "cpu":
        return "cpu"
    torch = sys.modules.get("torch")
    if requested == "cuda" and torch is None:
        import torch
    has_gpu = torch is not None and torch.cuda.is_available()
    if requested == "cuda" and not has_gpu:
        raise ModelError("device: cuda in params.yaml, but torch sees no GPU here (use device: auto or cpu)")
    return "cuda" if has_gpu else "cpu"


def device_name(device: str) -> str:
    """What the run ran on, for metrics.json: the GPU's name, or the CPU's model name (its architecture
    where the system does not say)."""
    if device == "cuda":
        return str(sys.modules["torch"].cuda.get_device_name())
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpu_peak_mb(device: str, reset: bool = False) -> float | None:
    """Peak GPU memory torch allocated since the last reset (MiB); None on CPU."""
    if device != "cuda":
        return None
    cuda = sys.modules["torch"].cuda
    if reset:
        cuda.reset_peak_memory_stats()
    return cuda.max_memory_allocated() / 2**20


def load_split(task_dir: Path, split: str) -> pd.DataFrame:
    """One split file of a task as a DataFrame."""
    return pq.read_table(Path(task_dir) / f"{split}.parquet").to_pandas()


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a fixed, model-independent pseudo-random key per input."""
    x = x.astype(np.uint64)
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def sampled_keep(sample_ids: np.ndarray, streamer: np.ndarray, offsets: np.ndarray, is_target: np.ndarray,
                 n_negatives: int, seed: int) -> np.ndarray:
    """Mask of the dataset paper's sampled view: each query's target plus up to n_negatives live negatives,
    drawn by a fixed hash of (seed, query, streamer) so every model is ranked against the same sample."""
    q = np.repeat(np.arange(offsets.size - 1), np.diff(offsets))
    with np.errstate(over="ignore"):
        key = _mix64(_mix64(sample_ids[q].astype(np.uint64) + np.uint64(seed)) ^ streamer.astype(np.uint64))
    key[is_target] = np.iinfo(np.uint64).max  # the target is kept apart, never one of the negatives
    order = np.lexsort((key, q))
    pos = np.arange(order.size) - offsets[q[order]]
    keep = np.zeros(streamer.size, bool)
    keep[order[pos < n_negatives]] = True
    return keep | is_target


def public_queries(queries: pd.DataFrame) -> pd.DataFrame:
    """topk queries as a model sees them: a `query_id` (the row's position), the user and the time."""
    return pd.DataFrame({"query_id": np.arange(len(queries), dtype=np.int64),
                         "user_id": queries["user_id"].to_numpy(), "ts": queries["ts"].to_numpy()})


MIN_RETRIEVED = 100  # a retrieval model names at least this many live candidates per query (or all of them)


def retrieved_scores(out: Retrieved, cand: Candidates) -> tuple[np.ndarray, np.ndarray]:
    """A retrieval model's named candidates as flat scores over every live candidate (the ones it did not
    name all get one score just below every named one: a tie below them), and how many each query named;
    a ModelError otherwise."""
    q, s, score = (np.asarray(x) for x in (out.query_index, out.streamer_id, out.score))
    n_q = cand.offsets.size - 1
    if not (q.ndim == s.ndim == score.ndim == 1 and q.size == s.size == score.size):
        raise ModelError("Retrieved: query_index, streamer_id and score must be 1-D arrays of one length")
    if q.size and not (np.issubdtype(q.dtype, np.integer) and np.issubdtype(s.dtype, np.integer)):
        raise ModelError(f"Retrieved: query_index and streamer_id must be integers, got {q.dtype} and {s.dtype}")
    q, s, score = q.astype(np.int64), s.astype(np.int64), score.astype(np.float64)
    if q.size and (q.min() < 0 or q.max() >= n_q):
        raise ModelError(f"Retrieved: query_index must lie in [0, {n_q}) (positions in this call's queries)")
    if s.size and s.min() < 0:
        raise ModelError(f"Retrieved: streamer_id {int(s.min())} is not a streamer id (ids are non-negative)")
    if not np.all(np.isfinite(score)):
        raise ModelError("Retrieved: NaN or infinite scores")
    width = int(max(cand.streamer_id.max(initial=0), s.max(initial=0))) + 1
    key = cand.query_index * width + cand.streamer_id
    order = np.argsort(key, kind="stable")
    named = q * width + s
    pos = np.minimum(np.searchsorted(key[order], named), max(key.size - 1, 0))
    missing = np.flatnonzero((key.size == 0) | (key[order][pos] != named)) if named.size else np.array([], int)
    if missing.size:
        i = missing[0]
        raise ModelError(f"Retrieved: query {int(q[i])} names streamer {int(s[i])}, which is not live at its "
                         f"time ({missing.size:,} such rows)")
    if np.unique(named).size != named.size:
        raise ModelError("Retrieved: a query names the same streamer twice")
    counts = np.bincount(q, minlength=n_q)
    need = np.minimum(np.diff(cand.offsets), MIN_RETRIEVED)
    short = np.flatnonzero(counts < need)
    if short.size:
        i = short[0]
        raise ModelError(f"Retrieved: query {int(i)} names {int(counts[i])} of its {int(np.diff(cand.offsets)[i])} "
                         f"live candidates; a retrieval model names at least min({MIN_RETRIEVED}, live candidates)")
    floor = np.nextafter(score.min(initial=0.0), -np.inf)  # below every named score, finite, one tie
    scores = np.full(cand.streamer_id.size, floor)
    scores[order[pos]] = score
    return scores, counts


def rank_queries(model: Baseline, queries: pd.DataFrame, features: FeatureStore, ctx: Context,
                 periods: dict[str, tuple[int, int]], sampled: dict | None = None, retrieval: dict | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Target rank per query over every live candidate (1 + higher + half of equal), the stored top-N, and
    the rank in the sampled view (`sampled` = {negatives, seed}; NaN when not asked for).

    Each chunk of queries is scored through a view that answers only for those queries and their candidates.
    A model may answer a chunk with `Retrieved` (its top candidates); then `retrieval`, when given, gathers
    how many each query named (`named_min`, `named_mean`, `queries`)."""
    ts = queries["ts"].to_numpy()
    targets = queries["target_streamer_id"].to_numpy()
    sample_ids = queries["sample_id"].to_numpy()
    public = public_queries(queries)
    ranks = np.empty(len(queries))
    sampled_ranks = np.full(len(queries), np.nan)
    top = np.full((len(queries), TOP_N_STORED), -1, dtype=np.int64)
    for sl, (offsets, streamer, live) in features.live_index.iter_candidates(ts, QUERY_CHUNK):
        cand = Candidates(offsets, streamer, live)
        q = cand.query_index
        chunk = public.iloc[sl].reset_index(drop=True)
        clock = RowsClock.of_queries(chunk["user_id"].to_numpy(), chunk["ts"].to_numpy(), q, streamer, live)
        view_ctx = replace(ctx, features=FeatureView(features, periods, clock))
        out = model.score_candidates(chunk, cand, view_ctx)
        if isinstance(out, Retrieved):
            scores, named = retrieved_scores(out, cand)
            if retrieval is not None:
                _count_named(retrieval, named)
        else:
            scores = np.asarray(out, np.float64)
            if scores.shape != streamer.shape:
                raise ModelError(f"score_candidates returned {scores.shape[0]} scores for {streamer.size} candidates")
            if not np.all(np.isfinite(scores)):
                raise ModelError("score_candidates returned NaN or infinite scores")
        is_target = streamer == targets[sl][q]
        if np.bincount(q[is_target], minlength=offsets.size - 1).min(initial=1) < 1:
            raise BenchmarkError("a topk target is missing from its live candidates (task files out of date?)")
        t_score = np.zeros(offsets.size - 1)
        t_score[q[is_target]] = scores[is_target]
        ranks[sl] = target_rank(t_score, scores, offsets, target_included=True)
        if sampled is not None:
            keep = sampled_keep(sample_ids[sl], streamer, offsets, is_target, int(sampled["negatives"]),
                                int(sampled["seed"]))
            sub_off = np.concatenate([[0], np.cumsum(np.bincount(q[keep], minlength=offsets.size - 1))])
            sampled_ranks[sl] = target_rank(t_score, scores[keep], sub_off, target_included=True)
        order = np.lexsort((streamer, -scores, q))
        pos = np.arange(order.size) - offsets[q[order]]
        keep = pos < TOP_N_STORED
        top[sl][q[order][keep], pos[keep]] = streamer[order][keep]
    return ranks, top, sampled_ranks


def _count_named(retrieval: dict, named: np.ndarray) -> None:
    """Fold one chunk's per-query counts of named candidates into a run's `retrieval` record."""
    if not named.size:
        return
    done = retrieval.get("queries", 0)
    retrieval["named_mean"] = (retrieval.get("named_mean", 0.0) * done + float(named.sum())) / (done + named.size)
    retrieval["named_min"] = int(min(retrieval.get("named_min", named.min()), named.min()))
    retrieval["queries"] = done + named.size


def split_periods(data_root: Path, dataset: str) -> dict[str, tuple[int, int]]:
    """Each split's [start, end) in epoch ms, from the split stage's manifest."""
    path = Path(data_root) / "split" / dataset / "split_manifest.json"
    if not path.exists():
        raise BenchmarkError(f"{path}: not found (run `kuailive-bench split` first)")
    bounds = json.loads(path.read_text())["boundaries"]
    return {name: (int(b["start_ms"]), int(b["end_ms"])) for name, b in bounds.items()}


def load_oracle(data_root: Path, dataset: str):
    """The simulator's ground truth for a model that declares uses_oracle (sim data only)."""
    from benchmark.sim.oracle import Oracle

    folder = Path(data_root) / "raw" / dataset / "oracle"
    if not folder.exists():
        raise ModelError("no oracle/ folder: the oracle exists only for KuaiLive-Sim data")
    return Oracle.load(folder)


@dataclass
class Fitted:
    """A model after its one fit, with what its rows predict with."""

    instance: Baseline
    ctx: Context
    features: FeatureStore
    periods: dict[str, tuple[int, int]]
    test: pd.DataFrame
    valid: pd.DataFrame
    threads: int


def run_one(dataset: str, task: str, model: ModelSpec, seed: int, data_root: Path = Path("data"),
            runs_root: Path = Path("runs"), threads: int = 1, quiet: bool = False) -> list[dict]:
    """Fit a model once on one task with one seed, then predict, evaluate and write each of its rows: the
    static row (runs/<...>/<model>/seed<k>/) and, for `protocol: streaming`, one row per stream replayed
    from a copy of the same fit (runs/<...>/<model>/@<stream>/seed<k>/). Returns their records, static first.

    The model runs in a sandbox (a fresh temporary work directory that is also its cwd and TMPDIR) and
    sees the feature store only through a sealed view: clocked to the test start while fitting, limited to
    the rows and candidates handed over while predicting (benchmark.features.view)."""
    data_root, runs_root = Path(data_root).resolve(), Path(runs_root).resolve()
    spec = get_task(task)
    task_dir = data_root / "tasks" / dataset / task
    base = run_record(dataset, task, seed, threads)
    records = []
    with sandbox() as work:
        fitted: Fitted | Exception
        fit_traceback = ""
        try:
            fitted = _fit(dataset, task, model, seed, data_root, task_dir, work, threads, quiet, base)
        except Exception as e:  # noqa: BLE001 - a failing model fails its own runs, never the pipeline
            fitted, fit_traceback = e, traceback.format_exc()
        # taken before the static row predicts anything: each stream starts from the fit itself, its object
        # and the files it left in its work directory, and no row sees what another row did
        copies = {stream: online_copy(fitted) for stream in model.streams}
        snapshot = snapshot_work(work) if copies and not isinstance(fitted, Exception) else None
        try:
            for row in model.rows:
                stream = split_row(row)[1]
                record = {**base, "model": row, "metrics": {}, "fit": dict(base["fit"])}
                if stream:
                    record.update(protocol="streaming", stream=stream, fit_shared_with=model.name)
                with (atomic_dir(run_folder(runs_root, dataset, task, row) / f"seed{seed}") as tmp,
                      sandbox(start_from=snapshot) if stream else nullcontext(work) as row_work):
                    def body(stream=stream, row_work=row_work, record=record, tmp=tmp) -> None:
                        if stream is None:
                            static_row(unwrap(fitted), spec, task_dir, record, tmp)
                            return
                        seed_everything(seed, threads, record["device"])
                        f = unwrap(fitted)
                        f = replace(f, instance=unwrap(copies[stream]), ctx=replace(f.ctx, work_dir=row_work))
                        streaming_row(f, spec, task_dir, data_root, dataset, stream, record, tmp, quiet)

                    write_row(record, tmp, body, fitted, fit_traceback, quiet)
                records.append(record)
        finally:
            if snapshot is not None:
                shutil.rmtree(snapshot, ignore_errors=True)
    return records


def run_record(dataset: str, task: str, seed: int, threads: int) -> dict[str, Any]:
    """The fields every run's metrics.json carries, before the fit fills them."""
    return {"dataset": dataset, "task": task, "seed": seed, "status": "ok", "metrics": {}, "train_seconds": None,
            "fit": {}, "predict_seconds": None, "n_params": None, "device": None, "device_name": None,
            "peak_memory_mb": None, "peak_gpu_memory_mb": None, "uses_oracle": False, "threads": threads}


def write_row(record: dict, tmp: Path, body, fitted, fit_traceback: str, quiet: bool) -> None:
    """Run one row's `body` (predict, evaluate, write into tmp) and its metrics.json: a row whose fit or body
    raised is recorded as failed with its error and traceback, and the caller goes on."""
    try:
        body()
    except Exception as e:  # noqa: BLE001 - a failing model fails its own run, never the pipeline
        record["status"] = "failed"
        record["error"] = f"{type(e).__name__}: {e}"
        (tmp / "traceback.txt").write_text(fit_traceback if e is fitted else traceback.format_exc())
        log(quiet, f"run {record['dataset']}/{record['task']}/{record['model']}/seed{record['seed']}: "
                   f"FAILED: {record['error']}")
    record["peak_memory_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    record["peak_gpu_memory_mb"] = _gpu_peak_mb(record.get("device") or "cpu")
    (tmp / "metrics.json").write_text(json.dumps(record, indent=1, default=float))


def snapshot_work(work: Path) -> Path:
    """A copy of the fit's work directory beside it (outside the model's folders), for the streaming rows."""
    out = Path(tempfile.mkdtemp(prefix="klb-fit-", dir=work.parent))
    shutil.copytree(work, out, dirs_exist_ok=True)
    return out


def unwrap(value):
    """The value, or the exception it holds raised again."""
    if isinstance(value, Exception):
        raise value
    return value


def open_model(dataset: str, model: ModelSpec, seed: int, data_root: Path, work: Path, threads: int, quiet: bool,
               base: dict) -> tuple[type[Baseline], Context, FeatureStore, dict[str, tuple[int, int]]]:
    """Load the class, pick its device, seed everything and open the store: the fit-phase context (its task
    still to be set). Facts every row records go into `base`."""
    cls = load_class(model.cls)  # first: seed_everything seeds torch if the model imported it
    base["uses_oracle"] = bool(cls.uses_oracle)
    base["learned"] = bool(cls.learned)
    base["device"] = device = resolve_device(model.device)
    seed_everything(seed, threads, device)
    base["device_name"] = device_name(device)
    features = FeatureStore.open(data_root / "features" / dataset, data_root / "processed" / dataset)
    periods = split_periods(data_root, dataset)
    ctx = Context(task="", seed=seed, device=device, work_dir=work, params=dict(model.params),
                  features=FeatureView(features, periods, FitClock(periods["test"][0])),
                  oracle=load_oracle(data_root, dataset) if cls.uses_oracle else None, quiet=quiet)
    return cls, ctx, features, periods


def train(cls: type[Baseline], ctx: Context, train_rows: pd.DataFrame, valid: pd.DataFrame, threads: int,
          quiet: bool, base: dict, where: str) -> Baseline:
    """Make the model from its params and fit it (time, fit log and size go into `base`)."""
    instance = cls(**ctx.params)
    base["n_train"] = len(train_rows)
    log(quiet, f"run {where}: fit on {len(train_rows):,} rows")
    _gpu_peak_mb(ctx.device, reset=True)
    t0 = time.perf_counter()
    with threadpool_limits(limits=threads):
        instance.fit(train_rows, valid, ctx)
    base["train_seconds"] = time.perf_counter() - t0
    base["fit"] = instance.fit_log()
    base["n_params"] = int(instance.n_params())
    return instance


def _fit(dataset: str, task: str, model: ModelSpec, seed: int, data_root: Path, task_dir: Path, work: Path,
         threads: int, quiet: bool, base: dict) -> Fitted:
    """Load, seed and fit the model on one task's train split."""
    spec = get_task(task)
    cls, ctx, features, periods = open_model(dataset, model, seed, data_root, work, threads, quiet, base)
    if task not in cls.tasks:
        raise ModelError(f"{model.cls} does not support task '{task}'")
    ctx = replace(ctx, task=task, labels=spec.labels, kind=spec.kind)
    train_rows, valid, test = (load_split(task_dir, s) for s in ("train", "valid", "test"))
    instance = train(cls, ctx, train_rows, valid, threads, quiet, base, f"{dataset}/{task}/{model.name}/seed{seed}")
    return Fitted(instance, ctx, features, periods, test, valid, threads)


def harness_objects(ctx: Context, store: FeatureStore) -> dict[str, Any]:
    """What the harness hands a model and the model may keep a reference to (its context, feature view, the
    store behind it, the oracle), by name: shared, never copied, when a fit is copied (a streaming row), and
    saved by name, never pickled, when a fit is saved (a shared fit another model loads)."""
    found = {"context": ctx, "view": ctx.features, "store": store, "oracle": ctx.oracle}
    return {name: x for name, x in found.items() if x is not None}


def online_copy(fitted: Fitted | Exception) -> Baseline | Exception:
    """An independent copy of the fitted model for one stream (one fit, several rows), or why there is none."""
    if isinstance(fitted, Exception):
        return fitted
    if not learns_online(type(fitted.instance)):
        return ModelError(f"{type(fitted.instance).__name__} has protocol: streaming in params.yaml but no "
                          "update method: it has nothing to learn from the revealed labels (docs/streaming.md)")
    shared = {id(x): x for x in harness_objects(fitted.ctx, fitted.features).values()}
    try:
        return copy.deepcopy(fitted.instance, memo=shared)
    except Exception as e:  # noqa: BLE001 - reported as the model's own failure
        return ModelError(f"the fitted model cannot be copied for its streaming rows (copy.deepcopy: {e})")


def static_row(f: Fitted, spec: Task, task_dir: Path, record: dict, tmp: Path) -> None:
    """Predict the test split at once with the fitted model, plus the valid split the reference rule reads."""
    t0 = time.perf_counter()
    with threadpool_limits(limits=f.threads):
        if spec.ranking:
            retrieval: dict = {}
            output = rank_queries(f.instance, f.test, f.features, f.ctx, f.periods,
                                  _task_meta(task_dir).get("sampled_view"), retrieval)
            if retrieval:
                record["retrieval"] = retrieval
        else:
            output = predict_rows(f.instance, spec, f.test, f.features, f.periods, f.ctx)
        record["predict_seconds"] = time.perf_counter() - t0
        if not spec.ranking:   # the valid split's metrics: what the reference rule reads
            valid_scores = predict_rows(f.instance, spec, f.valid, f.features, f.periods, f.ctx)
            record["valid_metrics"] = spec.evaluate(f.valid, valid_scores).metrics
    _evaluate_and_write(f, spec, output, record, tmp)


def streaming_row(f: Fitted, spec: Task, task_dir: Path, data_root: Path, dataset: str, stream: str,
                   record: dict, tmp: Path, quiet: bool) -> None:
    """Replay the test period under `stream`: each tick's samples scored, then that tick's labels revealed
    through `update` (benchmark.replay)."""
    t0 = time.perf_counter()
    revealed = period_stream(data_root / "processed" / dataset, f.periods["test"], stream,
                             f.features.long_view_ms)
    record["stream_build_seconds"] = time.perf_counter() - t0
    n = len(f.test)
    sampled = _task_meta(task_dir).get("sampled_view")
    if spec.ranking:
        ranks, sampled_ranks = np.empty(n), np.full(n, np.nan)
        top = np.full((n, TOP_N_STORED), -1, dtype=np.int64)
    parts: list = []
    retrieval: dict = {}

    def predict(pos: np.ndarray) -> None:
        rows = f.test.iloc[pos].reset_index(drop=True)
        if spec.ranking:
            ranks[pos], top[pos], sampled_ranks[pos] = rank_queries(f.instance, rows, f.features, f.ctx,
                                                                    f.periods, sampled, retrieval)
        else:
            parts.append((pos, predict_rows(f.instance, spec, rows, f.features, f.periods, f.ctx)))

    def update(rows: pd.DataFrame) -> None:
        f.instance.update(rows, replace(f.ctx, features=rows_view(f.features, f.periods, rows)))

    t0 = time.perf_counter()
    with threadpool_limits(limits=f.threads):
        stats = replay(f.test["ts"].to_numpy(), revealed, predict, update,
                       desc=f"{record['task']}/{record['model']}", quiet=quiet)
    record["predict_seconds"] = time.perf_counter() - t0
    per_second = stats["revealed_rows"] / max(stats["update_seconds"], 1e-9)
    record["replay"] = {**stats, "revealed_rows_per_second": per_second}
    if retrieval:
        record["retrieval"] = retrieval
    output = (ranks, top, sampled_ranks) if spec.ranking else gather(parts, n)
    _evaluate_and_write(f, spec, output, record, tmp)


def _evaluate_and_write(f: Fitted, spec: Task, output, record: dict, tmp: Path) -> None:
    """Metrics (with breakdowns) of a row's test output; its predictions and per-user values on disk."""
    test = f.test
    groups = breakdown_groups(test, f.features)
    if spec.ranking:
        ranks, top, sampled_ranks = output
        n_items = int(np.unique(f.features.live_index.streamer_id).size)
        ev = spec.evaluate(test, ranks, top[:, :10], n_items=n_items)
        if not np.isnan(sampled_ranks).any():
            ev.metrics.update(sampled_view_metrics(sampled_ranks))
        ev.metrics.update(breakdowns(spec, test, groups, ranks))
        preds = pa.table({"sample_id": test["sample_id"].to_numpy(), "target_rank": ranks,
                          "sampled_target_rank": sampled_ranks, "top": pa.array(list(top))})
    else:
        ev = spec.evaluate(test, output)
        ev.metrics.update(breakdowns(spec, test, groups, output))
        cols = ({k: output[k].to_numpy() for k in spec.score_columns} if isinstance(output, pd.DataFrame)
                else {"score": output})
        preds = pa.table({"sample_id": test["sample_id"].to_numpy(), **cols})
    record.update(metrics=ev.metrics, n_test=len(test),
                  predict_rows_per_second=len(test) / max(record["predict_seconds"], 1e-9))
    pq.write_table(preds, tmp / "predictions.parquet")
    _write_per_user(ev, tmp)


def predict_rows(model: Baseline, spec: Task, rows: pd.DataFrame, features: FeatureStore, periods: dict,
                 ctx: Context) -> np.ndarray | pd.DataFrame:
    """The model's checked scores for a split's rows, handed over without labels through a view that
    answers only for those rows."""
    out = model.predict(rows[KEY_COLUMNS].copy(), replace(ctx, features=rows_view(features, periods, rows)))
    return spec.check_output(out, len(rows))


def rows_view(features: FeatureStore, periods: dict, rows: pd.DataFrame) -> FeatureView:
    """The feature view that answers only for these rows (their user, streamer and room at their own time,
    and their sample ids): what predict gets for the rows it scores, and update for the rows revealed."""
    clock = RowsClock.of_rows(*(rows[c].to_numpy() for c in ("user_id", "streamer_id", "live_id", "ts", "sample_id")))
    return FeatureView(features, periods, clock)


def _task_meta(task_dir: Path) -> dict:
    path = Path(task_dir) / "task.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _write_per_user(ev: Evaluation, out: Path) -> None:
    """Per-user values of every user-decomposable metric, one file (metric, user_id, value, weight)."""
    frames = [df.assign(metric=name) for name, df in ev.per_user.items()]
    if frames:
        pq.write_table(pa.Table.from_pandas(pd.concat(frames, ignore_index=True), preserve_index=False),
                       out / "per_user.parquet")


def run_seeds(params: Params, spec: ModelSpec, seeds: list[int] | None = None) -> list[int]:
    """The seeds a model runs with: the ones asked for, else its own (`models.<name>.seeds`), else params'; only
    the first if it is deterministic."""
    seeds = list(seeds if seeds is not None else spec.seeds if spec.seeds is not None else params.seeds)
    try:
        if load_class(spec.cls).deterministic:
            seeds = seeds[:1]
    except BenchmarkError:
        pass  # the run records the load failure as this model's failed run
    return seeds


def run_model_stage(params: Params | Mapping, task: str, model: str, data_root: Path = Path("data"),
                    runs_root: Path = Path("runs"), seeds: list[int] | None = None, quiet: bool = False) -> list[dict]:
    """Run one model on one task over params' seeds (once if the model is deterministic): the records of
    every row of every seed."""
    params = as_params(params)
    get_task(task)
    spec = find_model(registered_models(params), model)
    if model in params.shared:
        raise BenchmarkError(f"{model} is a shared fit (params.yaml: shared): it runs once for all its tasks with "
                             f"`kuailive-bench run-shared --model {model}`")
    return [r for s in run_seeds(params, spec, seeds)
            for r in run_one(params.dataset.name, task, spec, s, data_root, runs_root, params.threads, quiet)]
