"""`kuailive-bench check MODULE:CLASS`: run a model on the tiny preset and say plainly what is wrong.

Like scikit-learn's check_estimator, but for the benchmark's contract: output shape, NaN, determinism
over two runs with the same seed, leakage and kept state, and time. A model with `update` is checked
under each stream too: its streaming rows go through the runner's own replay (docs/streaming.md); a
class with `shared_fit = True` also through one fit on every label for its tasks (docs/shared-fits.md).
- Leakage, by prefix invariance: for several cut times T inside the test period (each the time of some
  test sample), every file a model could reach (raw, processed, features, task files) is rebuilt with
  everything known at or after T perturbed (`benchmark.perturb`); a model whose score moves for any
  sample at or before T read something it should not have (a sample at T has its own outcome perturbed).
- State: a model may write only to its work directory; a file it writes anywhere else (temp dirs,
  home, the working directory) could carry state from one run to the next and fails the check. The scan
  cannot tell who wrote a file: another process writing there meanwhile is reported too (by name), so
  run check with nothing else writing in those folders.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from benchmark.features.view import local_time
from benchmark.interface import learns_online, load_class
from benchmark.io import log, run_folder
from benchmark.params import STREAMS, ModelSpec, SharedFit, parse_params
from benchmark.perturb import perturb_release
from benchmark.runner import run_one
from benchmark.tasks import get_task

DATASET = "sim-tiny-s0"
CHECK_PARAMS = parse_params({"dataset": DATASET})  # the protocol's defaults (benchmark.params)
RTOL, ATOL = 1e-5, 1e-9  # scores may differ by float rounding (other batch shapes), never more
SKIP_DIRS = {".git", ".venv", "venv", ".pyenv", ".rustup", ".cargo", ".m2", ".npm", "node_modules", "__pycache__",
             "site-packages", ".pytest_cache", ".ruff_cache"}


@dataclass(frozen=True)
class Finding:
    """One verdict line: PASS, WARN or FAIL, on a topic, in plain words."""

    verdict: str
    task: str
    topic: str
    message: str

    def __str__(self) -> str:
        return f"{self.verdict:4s}  {self.task:21s} {self.topic:13s} {self.message}"


@dataclass(frozen=True)
class Cut:
    """A perturbed copy of the tiny data: everything known at or after `ts` changed.

    `root` has no oracle (a model that digs it up from disk fails there); `oracle_root` is the same data
    with the simulator's latent truth beside it, for models that declare uses_oracle."""

    ts: int
    what: str  # the kind of sample at ts whose own outcome is perturbed
    root: Path
    oracle_root: Path


def build_stages(data_root: Path, quiet: bool = True) -> Path:
    """ingest -> split -> features -> tasks for data_root/raw/<DATASET>, as the pipeline runs them."""
    from benchmark.pipeline import build_from_raw

    d = {k: Path(data_root) / k / DATASET for k in ("raw", "processed", "split", "features", "tasks")}
    build_from_raw(d.pop("raw"), d, CHECK_PARAMS, quiet)
    return Path(data_root)


def prepare_tiny(data_root: Path, quiet: bool = True) -> Path:
    """Simulate the tiny preset and run ingest -> split -> features -> tasks into data_root (once)."""
    from benchmark.sim import simulate
    from benchmark.tasks import TASKS

    data_root = Path(data_root)
    if all((data_root / "tasks" / DATASET / t / "test.parquet").exists() for t in TASKS):
        return data_root
    log(quiet, "check: building the tiny preset")
    simulate(preset="tiny", seed=0, out=data_root / "raw" / DATASET, quiet=True)
    return build_stages(data_root)


def _near(ts: np.ndarray, q: float) -> int:
    """The value of ts nearest its q-quantile."""
    ts = np.sort(ts)
    return int(ts[min(int(q * ts.size), ts.size - 1)])


def choose_cuts(data_root: Path) -> list[tuple[int, bool, str]]:
    """(T, repoint, what) for three cuts spread over the test period, each at a sample whose own outcome
    the perturbation changes: a topk query (its target moves), a negative (becomes a click), a gifting click."""
    tasks = Path(data_root) / "tasks" / DATASET
    topk = pq.read_table(tasks / "topk" / "test.parquet", columns=["ts"])["ts"].to_numpy()
    ctr = pq.read_table(tasks / "ctr" / "test.parquet", columns=["ts", "click"]).to_pandas()
    gift = pq.read_table(tasks / "gift_price" / "test.parquet", columns=["ts", "gift_value"]).to_pandas()
    gifting = gift["ts"].to_numpy()[gift["gift_value"].to_numpy() > 0]
    return [(_near(topk, 0.3), True, "a topk query"),
            (_near(ctr["ts"].to_numpy()[ctr["click"].to_numpy() == 0], 0.55), False, "a negative exposure"),
            (_near(gifting if gifting.size else gift["ts"].to_numpy(), 0.8), False, "a click with a gift")]


def prepare_cuts(data_root: Path, quiet: bool = True) -> list[Cut]:
    """The perturbed copies of data_root (built once, under data_root/check-cuts/)."""
    data_root = Path(data_root).resolve()
    raw = data_root / "raw" / DATASET
    cuts = []
    for ts, repoint, what in choose_cuts(data_root):
        root, oracle_root = data_root / "check-cuts" / str(ts), data_root / "check-cuts" / f"{ts}-oracle"
        if not (oracle_root / "raw" / DATASET / "KuaiLive").exists():
            log(quiet, f"check: perturbing everything at or after {local_time(ts)}")
            perturb_release(raw, root / "raw" / DATASET, ts, repoint=repoint)
            build_stages(root)
            for stage in ("processed", "split", "features", "tasks"):
                (oracle_root / stage).mkdir(parents=True, exist_ok=True)
                (oracle_root / stage / DATASET).symlink_to(root / stage / DATASET)
            (oracle_root / "raw" / DATASET).mkdir(parents=True)
            (oracle_root / "raw" / DATASET / "KuaiLive").symlink_to(root / "raw" / DATASET / "KuaiLive")
            if (raw / "oracle").exists():  # the latent truth is no outcome: shared as it is
                (oracle_root / "raw" / DATASET / "oracle").symlink_to(raw / "oracle")
        cuts.append(Cut(ts, what, root, oracle_root))
    return cuts


def _keyed(run_dir: Path, data_root: Path, task: str) -> pd.DataFrame | None:
    """The model's output per sample with the sample's key and time (topk: its top-100 list per query)."""
    p = run_dir / "predictions.parquet"
    if not p.exists():
        return None
    preds = pq.read_table(p).to_pandas().drop(columns=["target_rank", "sampled_target_rank"], errors="ignore")
    keys = list(get_task(task).sample_keys)
    test = pq.read_table(Path(data_root) / "tasks" / DATASET / task / "test.parquet",
                         columns=["sample_id", *keys]).to_pandas()
    out = preds.merge(test, on="sample_id")
    return out[~out.duplicated(keys, keep=False)]


def first_moved(base: pd.DataFrame, cut: pd.DataFrame, t: int, task: str) -> str | None:
    """Describe the earliest sample at or before t whose output differs between the two runs, else None."""
    spec = get_task(task)
    keys = list(spec.sample_keys)
    both = base[base["ts"] <= t].merge(cut, on=keys, suffixes=("", "_cut")).sort_values("ts", kind="stable")
    outputs = [c for c in base.columns if c not in (*keys, "sample_id")]
    moved = np.zeros(len(both), bool)
    for c in outputs:
        a, b = both[c].to_numpy(), both[f"{c}_cut"].to_numpy()
        if c == "top":
            moved |= ~(np.stack(a) == np.stack(b)).all(axis=1) if len(both) else moved
        else:
            moved |= ~np.isclose(a.astype(float), b.astype(float), rtol=RTOL, atol=ATOL)
    if not moved.any():
        return None
    i = int(np.argmax(moved))
    r = {c: int(both[c].iloc[i]) for c in ("sample_id", *keys)}
    where = f"user {r['user_id']}" + (f", room {r['live_id']}" if "live_id" in r else "")
    what = "its top-100 list" if spec.ranking else "its score"
    at = "exactly at the cut: its own outcome was perturbed" if r["ts"] == t else "before the cut"
    return (f"sample_id {r['sample_id']} ({where}, t = {local_time(r['ts'])}, {at}): {what} changed when everything "
            f"at or after {local_time(t)} was perturbed ({int(moved.sum())} of {len(both):,} samples at or before it "
            "moved). The model reads outcomes or rows it could not have known: test labels, future rows or "
            "files on disk")


def _roots(data_root: Path) -> list[Path]:
    """Where a run could leave state for the next: temp dirs, home, the working directory, the data (none
    twice)."""
    found = {Path(p).resolve() for p in (tempfile.gettempdir(), "/var/tmp", "/dev/shm", Path.home(), Path.cwd(),
                                         data_root)}
    found = {p for p in found if p.is_dir()}
    return sorted(p for p in found if not any(q in p.parents for q in found))


def snapshot(roots: list[Path], exclude: list[Path]) -> dict[str, tuple[int, int]]:
    """path -> (mtime_ns, size) of every file under roots, skipping `exclude` and toolchain folders."""
    excluded = {str(Path(e).resolve()) for e in exclude}
    out: dict[str, tuple[int, int]] = {}
    for root in roots:
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS and os.path.join(folder, d) not in excluded]
            for f in files:
                path = os.path.join(folder, f)
                try:
                    st = os.stat(path, follow_symlinks=False)
                except OSError:
                    continue
                out[path] = (st.st_mtime_ns, st.st_size)
    return out


def own_open_files() -> set[str]:
    """Files this process holds open (its own log or output redirected into a scanned folder); Linux only."""
    out = set()
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return out
    for fd in fds:
        try:
            out.add(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue
    return out


def written(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> list[str]:
    """Files new or changed between two snapshots, except those this process holds open (its own output)."""
    mine = own_open_files()
    return sorted(p for p, v in after.items() if before.get(p) != v and p not in mine)


def input_of(raw: Mapping, model: str) -> str | None:
    """The input a model loads under shared_with_input, or in one of `shared_with_input_sets` (the first that
    lists it): what `check` fits first for it."""
    blocks = [raw.get("shared_with_input") or {}, *(raw.get("shared_with_input_sets") or {}).values()]
    for block in blocks:
        if isinstance(block, Mapping) and isinstance(block.get(model), Mapping) and block[model].get("input"):
            return str(block[model]["input"])
    return None


def check_model(spec: str, tasks: list[str] | None = None, data_root: Path | None = None,
                quiet: bool = False, params: dict | None = None, streams: list[str] | None = None,
                device: str = "auto", input: ModelSpec | None = None) -> list[Finding]:
    """Run every check on every task the model supports (or those given), with `params` as the model's
    params block, on its device; a model with `update` also under each stream (or those given); returns
    the findings. `input`: the shared fit the model loads (params.yaml's shared_with_input): it is fitted
    first on each data root, seed 0, and handed over as ctx.inputs[input.name]; such a model's rows come
    from its shared fit alone, so only that path is checked."""
    cls = load_class(spec)
    tasks = list(tasks or cls.tasks)
    findings: list[Finding] = []
    if streams and not learns_online(cls):
        findings.append(Finding("WARN", "all", "streaming", f"{spec} has no update method: --stream is ignored and "
                                "only its static rows are checked"))
    with tempfile.TemporaryDirectory(prefix="kuailive-check-") as tmp:
        tmp = Path(tmp).resolve()
        data_root = prepare_tiny(Path(data_root) if data_root else tmp / "data", quiet)
        cuts = prepare_cuts(data_root, quiet)
        runs = tmp / "runs"
        for task in [] if input else tasks:
            if task not in cls.tasks:
                findings.append(Finding("FAIL", task, "support", f"{spec} does not declare task '{task}'"))
                continue
            started = time.perf_counter()
            roots = _roots(data_root)
            before = snapshot(roots, [runs])
            model = ModelSpec("checked", spec, params=MappingProxyType(dict(params or {})),
                              streams=tuple(streams or STREAMS) if learns_online(cls) else (), device=device)
            findings += _check_task(model, cls, task, data_root, cuts, runs, quiet)
            wrote = written(before, snapshot(roots, [runs]))
            findings.append(
                Finding("FAIL", task, "state", f"the model wrote {wrote[0]} outside its work directory "
                        f"({len(wrote)} file(s) in all): a run may keep nothing for the next one; write only "
                        "to ctx.work_dir") if wrote else
                Finding("PASS", task, "state", "wrote nothing outside its work directory"))
            log(quiet, f"check: {task}: {time.perf_counter() - started:.1f} s")
        shared = tuple(t for t in tasks if t in cls.tasks)
        if input and not (cls.shared_fit and shared):
            findings.append(Finding("FAIL", "shared", "support", f"{spec} loads {input.name} as its input, so it "
                                    "must declare shared_fit = True and one of the checked tasks"))
        if cls.shared_fit and shared:
            before = snapshot(roots := _roots(data_root), [runs])
            model = ModelSpec("checked", spec, params=MappingProxyType(dict(params or {})), device=device)
            findings += _check_shared(model, cls, shared, data_root, cuts, runs, quiet, input)
            wrote = written(before, snapshot(roots, [runs]))
            findings.append(Finding("FAIL" if wrote else "PASS", "shared", "state",
                                    f"the shared fit wrote {wrote[0]} outside its work directory" if wrote else
                                    "wrote nothing outside its work directory"))
    return findings


def _check_shared(model: ModelSpec, cls: type, tasks: tuple[str, ...], data_root: Path, cuts: list[Cut],
                  runs: Path, quiet: bool, input: ModelSpec | None = None) -> list[Finding]:
    """The path a shared model's board rows come from (docs/shared-fits.md): one fit on every label for the
    checked tasks, twice with seed 0 (each task's row must run, identically) and once per cut (no score at or
    before a cut may move). With an input, each of those runs first fits the input on the same data root (its
    own runs folder), so a leak through the input moves the scores too."""
    from benchmark.shared_fit import run_shared

    def run(root: Path, name: str) -> dict[str, tuple[dict, pd.DataFrame | None]]:
        where = runs / name if input else runs
        if input:
            run_shared(DATASET, SharedFit(input.name, ()), input, 0, root, where, quiet=True)
        recs = run_shared(DATASET, SharedFit(name, tasks, input.name if input else None), replace(model, name=name),
                          0, root, where, quiet=True)
        return {r["task"]: (r, _keyed(run_folder(where, DATASET, r["task"], name, shared=True) / "seed0", root,
                                      r["task"])) for r in recs}

    log(quiet, f"check: shared: two shared fits with seed 0 for {', '.join(tasks)}, then one per cut")
    first, second = run(data_root, "shared-a"), run(data_root, "shared-b")
    cut_runs = {cut.ts: run(cut.oracle_root if cls.uses_oracle else cut.root, f"shared-cut{cut.ts}") for cut in cuts}
    out = []
    for task in tasks:
        where = f"{task} shared"
        (rec, a), (rec_b, b) = first[task], second[task]
        if rec["status"] != "ok" or rec_b["status"] != "ok":
            out.append(Finding("FAIL", where, "crash", rec.get("error") or rec_b.get("error")))
            continue
        if b is None or not a.equals(b):
            out.append(Finding("FAIL", where, "determinism", "two shared fits with the same seed gave different "
                               "predictions: seed every random source from ctx.seed"))
            continue
        out.append(Finding("PASS", where, "determinism", f"one fit on every label (fit {rec['train_seconds']:.2f} s) "
                           "predicted this task identically twice"))
        moved = None
        for cut in cuts:
            crec, c = cut_runs[cut.ts][task]
            moved = (f"the shared fit with everything at or after {local_time(cut.ts)} perturbed failed: "
                     f"{crec.get('error')}" if crec["status"] != "ok" or c is None else first_moved(a, c, cut.ts, task))
            if moved:
                break
        out.append(Finding("FAIL", where, "leakage", moved) if moved else
                   Finding("PASS", where, "leakage", f"no score at or before a cut moved ({len(cuts)} cuts)"))
    return out


def _check_task(model: ModelSpec, cls: type, task: str, data_root: Path, cuts: list[Cut], runs: Path,
                quiet: bool) -> list[Finding]:
    """Shape, determinism, leakage and time of one task for the model: of its static row and, for a model
    with `update`, of each streaming row (the same fit replayed tick by tick, docs/streaming.md)."""
    out: list[Finding] = []

    def run(root: Path, name: str, seed: int = 0) -> dict[str, tuple[dict, Path]]:
        """'' (static) or '@<stream>' -> (record, run folder) of each row of one fit."""
        recs = run_one(DATASET, task, replace(model, name=name), seed, root, runs, quiet=True)
        return {r["model"][len(name):]: (r, run_folder(runs, DATASET, task, r["model"]) / f"seed{seed}") for r in recs}

    log(quiet, f"check: {task}: two runs with seed 0" + (f" (and their {', '.join(model.streams)} replays)"
                                                         if model.streams else ""))
    first, second = run(data_root, "a"), run(data_root, "b")
    cut_runs: dict[int, dict] = {}
    other_seed: dict = {}
    for row in first:
        where = task + row
        rec, run_dir = first[row]
        if rec["status"] != "ok":
            topic = "NaN" if "NaN" in rec["error"] else "shape" if "scores for" in rec["error"] else "crash"
            out.append(Finding("FAIL", where, topic, rec["error"]))
            continue
        n = json.loads((run_dir / "metrics.json").read_text())["n_test"]
        out.append(Finding("PASS", where, "shape", f"{n:,} finite scores for {n:,} test samples"))
        gpu = f", peak GPU memory {rec['peak_gpu_memory_mb']:,.0f} MiB" if rec.get("peak_gpu_memory_mb") else ""
        out.append(Finding("PASS", where, "device", f"ran on {rec['device']} ({rec['device_name']}){gpu}"))
        a = _keyed(run_dir, data_root, task)
        b = _keyed(second[row][1], data_root, task)
        deterministic = b is not None and a.equals(b)
        out.append(Finding("PASS", where, "determinism", "two runs with seed 0 gave identical predictions")
                   if deterministic else
                   Finding("FAIL", where, "determinism", "two runs with the same seed gave different predictions: "
                           "seed every random source (numpy, torch) from ctx.seed"))
        if not deterministic:
            out.append(Finding("WARN", where, "leakage", "not judged: the model is not deterministic"))
        else:
            out.append(_leakage(a, row, where, task, cls, cuts, cut_runs, run, quiet))
        if cls.deterministic:
            other_seed = other_seed or run(data_root, "b", seed=1)  # one run gives every row's
            d = _keyed(other_seed[row][1], data_root, task)
            if d is None or not a.equals(d):
                out.append(Finding("FAIL", where, "determinism", "declared deterministic, but seed 1 gives other "
                                   "predictions than seed 0: set deterministic = False"))
        replayed = f", of which {rec['replay']['update_seconds']:.2f} s in update" if "replay" in rec else ""
        out.append(Finding("PASS", where, "time", f"fit {rec['train_seconds']:.2f} s, predict "
                           f"{rec['predict_seconds']:.2f} s ({rec['predict_rows_per_second']:,.0f} rows/s{replayed}) "
                           "on tiny; small is about 7x larger"))
    return out


def _leakage(a: pd.DataFrame, row: str, where: str, task: str, cls: type, cuts: list[Cut], cut_runs: dict,
             run, quiet: bool) -> Finding:
    """Prefix invariance of one row over the cuts (each cut's runs made once, shared by every row)."""
    for cut in cuts:
        root = cut.oracle_root if cls.uses_oracle else cut.root
        if cut.ts not in cut_runs:
            log(quiet, f"check: {task}: a run with everything at or after {local_time(cut.ts)} perturbed")
            cut_runs[cut.ts] = run(root, f"cut{cut.ts}")
        crec, cut_dir = cut_runs[cut.ts][row]
        c = _keyed(cut_dir, root, task)
        if crec["status"] != "ok" or c is None:
            return Finding("FAIL", where, "leakage", f"the run with everything at or after {local_time(cut.ts)} "
                           f"perturbed failed: {crec.get('error')}")
        moved = first_moved(a, c, cut.ts, task)
        if moved:
            return Finding("FAIL", where, "leakage", moved)
    return Finding("PASS", where, "leakage", f"no score at or before a cut moved when everything at or after it "
                   f"was perturbed ({len(cuts)} cuts: at " + ", ".join(c.what for c in cuts) + ")")
