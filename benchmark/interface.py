"""The baseline interface: the only place where the harness and the models meet (spec §6).

A model is a class that declares the tasks it supports and implements `fit`, `predict` and, for
topk, `score_candidates` (a score per live candidate, or a retrieval model's top ones: `Retrieved`); a
model that learns online also implements `update`, which the streaming protocol calls with the labels
revealed tick by tick over the test period (docs/streaming.md); a multi-task model may declare
`shared_fit` and be fitted once for several tasks, its fit loadable by another model (docs/shared-fits.md). It
receives task tables without test labels and a `Context` with the seed, device, a fresh work
directory, its params block and a sealed, clocked view of the feature store
(`benchmark.features.view`); it never computes metrics. The simulator's oracle reaches only a class
that declares `uses_oracle = True`, and such a model is never ranked.
Models are found by a `module:Class` entry in params.yaml or the entry-point group
`kuailive_bench.baselines`.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from benchmark.errors import BenchmarkError
from benchmark.features.moment import moment_column
from benchmark.params import ModelSpec, Params, as_params

__all__ = ["Baseline", "Candidates", "Context", "ModelSpec", "Retrieved", "learns_online", "load_class",
           "moment_column", "registered_models"]

ENTRY_POINT_GROUP = "kuailive_bench.baselines"


@dataclass
class Context:
    """What a model may use besides its task tables: no file path, no end time, no test label."""

    task: str
    seed: int
    device: str
    work_dir: Path  # a fresh temporary folder (also the run's working directory), deleted after the run
    params: dict[str, Any] = field(default_factory=dict)
    features: Any = None  # benchmark.features.view.FeatureView: fit-phase while fitting, rows-only while predicting
    labels: tuple[str, ...] = ()  # the task's label columns: one score each when there are several
    kind: str = "binary"  # per label: "binary" (a probability), "regression", "ranking"; "shared" in a shared fit
    oracle: Any = None  # benchmark.sim.oracle.Oracle, sim only, and only for a class with uses_oracle = True
    quiet: bool = False
    tasks: tuple[str, ...] = ()  # a shared fit: every task its predictions feed (ctx.task is "shared" in fit)
    inputs: Mapping[str, Any] = field(default_factory=dict)  # other models' fits this one named, by model name


@dataclass
class Candidates:
    """topk candidates in CSR layout: query i's live streamers are streamer_id[offsets[i]:offsets[i+1]].

    `live_id` is the candidate's room live at the query time. Scores are returned flat, aligned with
    `streamer_id`.
    """

    offsets: np.ndarray
    streamer_id: np.ndarray
    live_id: np.ndarray

    @property
    def query_index(self) -> np.ndarray:
        """For every candidate, the position of its query."""
        return np.repeat(np.arange(self.offsets.size - 1), np.diff(self.offsets))


@dataclass
class Retrieved:
    """topk from a retrieval model: its top candidates per query, the rest ranking below all of them.

    Row j says query `query_index[j]` (the position in this call's queries) scores `streamer_id[j]` at
    `score[j]`. Every query must name at least min(100, its live candidates) distinct live streamers; the
    candidates it does not name tie below the named ones (docs/tasks.md, "Retrieval models")."""

    query_index: np.ndarray
    streamer_id: np.ndarray
    score: np.ndarray


class Baseline(ABC):
    """Base class of every model. Subclasses set `tasks` and, if they are seed-free, `deterministic`.

    `uses_oracle = True` hands the model the simulator's ground truth (`ctx.oracle`); by that declaration
    alone its rows are reference rows, never ranked. `learned = False` marks a heuristic that fits
    nothing (counts, means looked up at predict time): the board says its cost is spent predicting, and
    the reference rule (docs/leaderboard.md) passes it over. `shared_fit = True` lets params.yaml list the
    model under `shared`: it is then fitted once per seed on a table holding every label, and that one fit
    predicts each task it is listed for (docs/shared-fits.md).
    """

    tasks: ClassVar[tuple[str, ...]] = ()
    shared_fit: ClassVar[bool] = False
    deterministic: ClassVar[bool] = False
    uses_oracle: ClassVar[bool] = False
    learned: ClassVar[bool] = True

    def __init__(self, **params: Any):
        self.params = params

    @abstractmethod
    def fit(self, train: pd.DataFrame, valid: pd.DataFrame, ctx: Context) -> None:
        """Learn from the train split (with labels); valid (with labels) is for early stopping only."""

    @abstractmethod
    def predict(self, test: pd.DataFrame, ctx: Context) -> np.ndarray | pd.DataFrame:
        """A score per test row (for multi_behavior a DataFrame with one column per label)."""

    def score_candidates(self, queries: pd.DataFrame, candidates: Candidates, ctx: Context) -> np.ndarray | Retrieved:
        """topk: a score per (query, live candidate), flat in the CSR order of `candidates`, or a retrieval
        model's top candidates per query (`Retrieved`).

        `queries` holds `query_id` (joins to no exposure), `user_id` and `ts` only."""
        raise NotImplementedError(f"{type(self).__name__} does not rank candidates")

    def update(self, revealed: pd.DataFrame, ctx: Context) -> None:  # noqa: B027 - optional, a no-op by default
        """Streaming protocol only (`protocol: streaming` in params.yaml; docs/streaming.md): learn from the
        labels revealed during the last 30-second tick, after that tick's samples were scored.

        `revealed` holds `sample_id, user_id, streamer_id, live_id, ts`, one column per label (NaN where that
        row reveals another label), `reveal_ts` and the stream's flag (`first_only` or `slow`). The default
        learns nothing; a streaming row of a class that does not override it fails its run."""

    def n_params(self) -> int:
        """Number of learned parameters (0 for non-learned models)."""
        return 0

    def fit_log(self) -> dict[str, Any]:
        """What the last fit did (epochs run, seconds per epoch, ...): stored in the run's metrics.json as
        `fit`, so training costs are read off runs, never typed. JSON-serialisable; empty by default."""
        return {}


def learns_online(cls: type[Baseline]) -> bool:
    """Whether a class overrides `update` (only such a class has streaming rows)."""
    return cls.update is not Baseline.update


def load_class(spec: str) -> type[Baseline]:
    """Import 'module:Class' or a name registered in the entry-point group."""
    if ":" not in spec:
        found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == spec]
        if not found:
            raise BenchmarkError(f"model '{spec}' is neither module:Class nor registered under "
                                 f"the entry-point group '{ENTRY_POINT_GROUP}'")
        cls = found[0].load()
    else:
        module, _, name = spec.partition(":")
        try:
            cls = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as e:
            raise BenchmarkError(f"cannot load model class '{spec}': {e}") from e
    if not (isinstance(cls, type) and issubclass(cls, Baseline)):
        raise BenchmarkError(f"'{spec}' is not a subclass of benchmark.interface.Baseline")
    return cls


def registered_models(params: Params | Mapping) -> dict[str, ModelSpec]:
    """Every model of params.yaml's `models` block plus installed entry points, by name."""
    out = {ep.name: ModelSpec(ep.name, f"{ep.value}") for ep in entry_points(group=ENTRY_POINT_GROUP)}
    out.update(as_params(params).models)
    return out
