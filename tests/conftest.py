"""Shared fixtures: running the data stages on a raw folder, exactly as the pipeline does."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.params import Params, SplitParams, parse_params

SPLIT = {k: list(v) if isinstance(v, tuple) else v for k, v in vars(SplitParams()).items()}  # the defaults
PARAMS = parse_params({"dataset": "sim-tiny-s0"})  # every other block at its default


def run_stages(raw: Path, work: Path, params: Params = PARAMS, quiet: bool = True) -> dict[str, Path]:
    """ingest -> split -> features -> tasks on `raw`, into `work`; returns the stage folders."""
    from benchmark.pipeline import build_from_raw

    return build_from_raw(raw, {k: work / k for k in ("processed", "split", "features", "tasks")}, params, quiet)


@pytest.fixture
def stages():
    return run_stages


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """The tiny preset through every data stage, built once per test session (data root layout)."""
    from benchmark.check import prepare_tiny

    return prepare_tiny(tmp_path_factory.mktemp("tiny-data"))
