"""Reading params.yaml: the dataset name, the task plan and the significance and leaderboard blocks."""

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


def task_plan(params: dict) -> dict[str, dict]:
    """params.yaml's `tasks` block checked: task -> {models: [...], reference: name}, in registry order."""
    from benchmark.tasks import TASKS, get_task  # here: benchmark.tasks imports this module

    block = params.get("tasks")
    if not isinstance(block, dict) or not block:
        raise BenchmarkError("params.yaml: 'tasks' must map each task to {models: [...], reference: <model>}")
    out = {}
    for task, spec in block.items():
        get_task(task)
        if not (isinstance(spec, dict) and spec.get("reference") and isinstance(spec.get("models"), list)):
            raise BenchmarkError(f"params.yaml: tasks.{task} needs 'models: [...]' and 'reference: <model>'")
        out[task] = {"models": [str(m) for m in spec["models"]], "reference": str(spec["reference"])}
    return {t: out[t] for t in TASKS if t in out}


def significance_settings(params: dict) -> dict:
    """params.yaml's `significance` block with defaults: n_resamples, n_cluster_resamples, seed, alpha."""
    block = params.get("significance") or {}
    return {"n_resamples": int(block.get("n_resamples", 10000)),
            "n_cluster_resamples": int(block.get("n_cluster_resamples", 1000)),
            "n_bootstrap_recompute": int(block.get("n_bootstrap_recompute", 200)),
            "seed": int(block.get("seed", 0)), "alpha": float(block.get("alpha", 0.05))}


def unranked_models(params: dict) -> list[str]:
    """params.yaml's `leaderboard.unranked`: reference rows shown but never ranked nor in test families."""
    return [str(m) for m in ((params.get("leaderboard") or {}).get("unranked") or [])]
