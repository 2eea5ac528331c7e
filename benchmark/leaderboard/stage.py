"""`kuailive-bench leaderboard`: collect, write results.json, render, in one atomic folder swap."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path

from benchmark.io import atomic_dir, log
from benchmark.leaderboard.collect import _significance_path, collect_results
from benchmark.leaderboard.render import render
from benchmark.params import Params, as_params


def leaderboard_stage(params: Params | Mapping, runs_root: Path, data_root: Path, out_dir: Path, quiet: bool = False,
                      significance: Path | None = None) -> list[Path]:
    """`kuailive-bench leaderboard`: collect, write results.json, render; out_dir is replaced atomically.

    `significance` defaults to runs/significance/<dataset>.json; if it lies inside out_dir it is carried
    over into the new folder. Returns the files written (final paths).
    """
    params = as_params(params)
    dataset = params.dataset.name
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
