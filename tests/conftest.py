"""Shared fixtures: running the data stages on a raw folder, exactly as the pipeline does."""

from __future__ import annotations

from pathlib import Path

import pytest

SPLIT = {"timezone": "Asia/Shanghai", "train": ["2025-05-05", "2025-05-20"],
         "valid": ["2025-05-21", "2025-05-22"], "test": ["2025-05-23", "2025-05-25"]}
PARAMS = {"split": SPLIT, "features": {"long_view_seconds": 60, "moment_windows_s": [30, 300]},
          "queries": {"max_queries": 10000, "query_seed": 0}}


def run_stages(raw: Path, work: Path, params: dict = PARAMS, quiet: bool = True) -> dict[str, Path]:
    """ingest -> split -> features -> tasks on `raw`, into `work`; returns the stage folders."""
    from benchmark.data.ingest import ingest
    from benchmark.features import build_features
    from benchmark.split import make_split
    from benchmark.tasks import build_tasks

    paths = {k: work / k for k in ("processed", "split", "features", "tasks")}
    ingest(raw, paths["processed"], quiet=quiet)
    make_split(paths["processed"], paths["split"], split_params=params["split"],
               long_view_seconds=params["features"]["long_view_seconds"], quiet=quiet)
    build_features(paths["processed"], paths["split"], paths["features"],
                   windows_s=params["features"]["moment_windows_s"],
                   long_view_seconds=params["features"]["long_view_seconds"], quiet=quiet)
    build_tasks(paths["processed"], paths["split"], paths["features"], paths["tasks"], params=params, quiet=quiet)
    return paths


@pytest.fixture
def stages():
    return run_stages


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """The tiny preset through every data stage, built once per test session (data root layout)."""
    from benchmark.check import prepare_tiny

    return prepare_tiny(tmp_path_factory.mktemp("tiny-data"))
