"""Small I/O helpers shared by the stages: atomic output folders and files, and quiet-aware logging."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmark.params import split_row


def run_folder(runs_root: Path, dataset: str, task: str, row: str, shared: bool = False) -> Path:
    """Where a board row's runs live (one `seed<k>/` each): runs/<dataset>/<task>/<model>/, and a streaming
    row `<model>@<stream>` inside its model's folder (`@<stream>/`), since one fit gives both. A shared fit's
    rows live in its own stage's folder: runs/<dataset>/shared/<model>/<task>/."""
    model, stream = split_row(row)
    base = shared_folder(runs_root, dataset, model) / task if shared else Path(runs_root) / dataset / task / model
    return base / f"@{stream}" if stream else base


def shared_folder(runs_root: Path, dataset: str, model: str) -> Path:
    """A shared fit's stage output: its saved fit per seed (`fit/seed<k>/`) and its rows per task."""
    return Path(runs_root) / dataset / "shared" / model


def significance_path(runs_root: Path, dataset: str) -> Path:
    """Where the significance stage writes its tests: beside the dataset's runs, not inside the folder of runs
    it depends on (runs/significance/<dataset>.json)."""
    return Path(runs_root) / "significance" / f"{dataset}.json"


@contextmanager
def atomic_dir(out: Path) -> Iterator[Path]:
    """Yield a temporary sibling folder that replaces `out` only if the block completes.

    On any error the temporary folder is removed and an existing `out` is left untouched, so a failed
    stage never leaves anything half-written.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{tmp.name.rsplit('-', 1)[-1]}"
        out.rename(old)
    tmp.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_json_atomic(obj: Any, out: Path) -> None:
    """Write strict JSON to `out` through a temporary file in the same folder and os.replace."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.tmp-", dir=out.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=1, allow_nan=False)
            f.write("\n")
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def log(quiet: bool, message: str) -> None:
    """One progress line on stderr unless quiet."""
    if not quiet:
        print(message, file=sys.stderr, flush=True)
