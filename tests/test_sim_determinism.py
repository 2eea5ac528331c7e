"""Same preset and seed give byte-identical files (whatever the thread count); another seed differs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import benchmark.sim.feed as feed
import benchmark.sim.oracle as oracle
from benchmark.sim import simulate


def digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def first(tmp_path_factory) -> dict[str, str]:
    return digests(simulate("tiny", 7, tmp_path_factory.mktemp("a"), quiet=True))


def test_same_seed_byte_identical(first, tmp_path):
    second = digests(simulate("tiny", 7, tmp_path, quiet=True))
    assert len(first) >= 19
    assert first == second


def test_independent_of_thread_count(first, tmp_path, monkeypatch):
    threads = 2 if oracle.THREADS == 1 else 1
    monkeypatch.setattr(oracle, "THREADS", threads)
    monkeypatch.setattr(feed, "THREADS", threads)
    assert digests(simulate("tiny", 7, tmp_path, quiet=True)) == first


def test_other_seed_differs(first, tmp_path):
    other = digests(simulate("tiny", 8, tmp_path, quiet=True))
    assert other["KuaiLive/click.csv"] != first["KuaiLive/click.csv"]
    assert other["oracle/exposures.parquet"] != first["oracle/exposures.parquet"]


def test_rewrite_replaces_atomically(tmp_path):
    simulate("tiny", 7, tmp_path, overrides={"n_users": 50, "user_oversample": 12.0}, quiet=True)
    (tmp_path / "keep.txt").write_text("untouched")
    simulate("tiny", 7, tmp_path, overrides={"n_users": 60, "user_oversample": 12.0}, quiet=True)
    assert (tmp_path / "keep.txt").read_text() == "untouched"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["KuaiLive", "keep.txt", "oracle"]
    assert sum(1 for _ in open(tmp_path / "KuaiLive" / "user.csv")) == 61
