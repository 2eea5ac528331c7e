"""A run's sealed surroundings: a fresh temporary folder as work directory, working directory and TMPDIR.

A model thus gets no path that leads to the data (its cwd is not the repository) and keeps no state
from one run to the next in the places a program writes by default; what it writes elsewhere
`kuailive-bench check` finds (`benchmark.check`).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def sandbox(start_from: Path | None = None) -> Iterator[Path]:
    """Yield a fresh folder that is the cwd and the temp dir (TMPDIR, tempfile) while the block runs;
    `start_from`: a folder whose contents it starts with (a fit's work directory, for a streaming row).

    Relative entries of sys.path (the '' of `python -m`, a relative PYTHONPATH) are made absolute for the
    block, so the model's own modules still import. Everything is restored and the folder removed
    afterwards, also on error.
    """
    root = Path(tempfile.mkdtemp(prefix="klb-run-")).resolve()
    if start_from is not None:
        shutil.copytree(start_from, root, dirs_exist_ok=True)
    (root / "tmp").mkdir(exist_ok=True)
    old_cwd, old_env, old_tempdir, old_path = os.getcwd(), os.environ.get("TMPDIR"), tempfile.tempdir, sys.path[:]
    sys.path[:] = [os.path.abspath(p) for p in sys.path]
    os.chdir(root)
    os.environ["TMPDIR"] = tempfile.tempdir = str(root / "tmp")
    try:
        yield root
    finally:
        os.chdir(old_cwd)
        sys.path[:] = old_path
        tempfile.tempdir = old_tempdir
        if old_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = old_env
        shutil.rmtree(root, ignore_errors=True)
