"""Small I/O helpers shared by the stages: atomic output folders and quiet-aware logging."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


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


def log(quiet: bool, message: str) -> None:
    """One progress line on stderr unless quiet."""
    if not quiet:
        print(message, file=sys.stderr, flush=True)
