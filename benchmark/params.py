"""Reading params.yaml and the dataset name it holds."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from benchmark.errors import BenchmarkError

_SIM_NAME = re.compile(r"^sim-(tiny|small|full)-s(\d+)$")


@dataclass(frozen=True)
class DatasetName:
    """A parsed dataset name: the real release, or a KuaiLive-Sim preset and seed."""

    name: str
    source: str  # "kuailive" or "sim"
    preset: str | None = None
    seed: int | None = None


def parse_dataset(name: str) -> DatasetName:
    """'kuailive' or 'sim-<preset>-s<seed>' -> DatasetName; anything else is a clear error."""
    if name == "kuailive":
        return DatasetName(name, "kuailive")
    m = _SIM_NAME.match(name)
    if not m:
        raise BenchmarkError(f"params.yaml: dataset '{name}' is neither 'kuailive' nor 'sim-<tiny|small|full>-s<seed>'")
    return DatasetName(name, "sim", m.group(1), int(m.group(2)))


def load_params(path: Path | str = "params.yaml") -> dict[str, Any]:
    """The whole params file as a dict."""
    path = Path(path)
    if not path.exists():
        raise BenchmarkError(f"{path}: params file not found (run from the repository root or pass --params)")
    with open(path) as f:
        return yaml.safe_load(f) or {}
