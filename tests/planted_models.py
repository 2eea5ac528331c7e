"""Deliberately broken or cheating models: the sealed view or `kuailive-bench check` must stop each one.

The cheats are the ways around the seal a determined submitter would try: reading what the harness
hands over (query keys, free timestamps, the oracle, room end times), digging the data's location out
of the harness's objects and reading files, and keeping state from one run for the next.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from benchmark.interface import Baseline, Candidates, Context


class _Base(Baseline):
    tasks = ("ctr",)

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame, ctx: Context) -> None:
        self.rate = float(train["click"].mean()) if "click" in train else 0.5


class TopkOnly(Baseline):
    """A topk model that fits nothing and is deterministic: subclasses give `score_candidates`."""

    tasks = ("topk",)
    deterministic = True

    def fit(self, train, valid, ctx):
        pass

    def predict(self, test, ctx):
        raise NotImplementedError


def dig_processed_dir() -> Path:
    """The processed data folder, dug out of the harness's live objects (the view hands out no path)."""
    from benchmark.features.store import FeatureStore

    return next(o for o in gc.get_objects() if isinstance(o, FeatureStore)).processed_dir


def labels_from_disk(test: pd.DataFrame) -> np.ndarray:
    """Every exposure's click label, read from processed/exposures.parquet."""
    ex = pq.read_table(dig_processed_dir() / "exposures.parquet", columns=["sample_id", "click"]).to_pandas()
    return ex.set_index("sample_id").loc[test["sample_id"], "click"].to_numpy() * 0.9 + 0.05


class ReadsTestLabels(_Base):
    """Looks up the test labels in the task's own test file, next to the processed data (rows it cannot
    look up, the valid rows the runner also scores, get 0.5)."""

    def predict(self, test: pd.DataFrame, ctx: Context) -> np.ndarray:
        processed = dig_processed_dir()
        path = processed.parent.parent / "tasks" / processed.name / "ctr" / "test.parquet"
        labels = pq.read_table(path).to_pandas().set_index("sample_id")["click"]
        return labels.reindex(test["sample_id"]).fillna(0.5).to_numpy() * 0.9 + 0.05


class SharedReadsTestLabels(ReadsTestLabels):
    """The same cheat through a shared fit: check must catch it on the path its board rows come from."""

    shared_fit = True


class ReadsProcessed(_Base):
    """Reads every label from processed/exposures.parquet (the old check scrambled only the task file)."""

    def predict(self, test: pd.DataFrame, ctx: Context) -> np.ndarray:
        return labels_from_disk(test)


class KeepsState(_Base):
    """Reads labels from disk once and keeps its predictions in a cache outside its work directory, so
    every later run (check's perturbed ones included) returns the first run's answers."""

    def predict(self, test: pd.DataFrame, ctx: Context) -> np.ndarray:
        cache = Path(os.environ.get("KLB_PLANTED_STATE", "/tmp/klb-planted-state")) / "ctr.parquet"
        if cache.exists():
            kept = pq.read_table(cache).to_pandas().set_index("sample_id")["score"]
            return kept.reindex(test["sample_id"]).fillna(self.rate).to_numpy()
        scores = labels_from_disk(test)
        cache.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"sample_id": test["sample_id"].to_numpy(), "score": scores}).to_parquet(cache)
        return scores


class PeeksAhead(_Base):
    """Asks the store for the user's history 1 ms after the sample: shows whether this exposure was clicked."""

    def predict(self, test: pd.DataFrame, ctx: Context) -> np.ndarray:
        ts = test["ts"].to_numpy()
        h = ctx.features.history(test["user_id"].to_numpy(), ts + 1, 1)
        return ((h["live_id"][:, -1] == test["live_id"].to_numpy()) & (h["ts"][:, -1] == ts)).astype(float)


class UsesOracleUndeclared(_Base):
    """Predicts the simulator's true click probability without declaring uses_oracle."""

    def predict(self, test: pd.DataFrame, ctx: Context) -> np.ndarray:
        return ctx.oracle.click_prob(test["user_id"].to_numpy(), test["live_id"].to_numpy(), test["ts"].to_numpy())


class DigsOracle(_Base):
    """Loads the simulator's oracle from disk, found next to the processed data."""

    def predict(self, test: pd.DataFrame, ctx: Context) -> np.ndarray:
        from benchmark.sim.oracle import Oracle

        processed = dig_processed_dir()
        o = Oracle.load(processed.parent.parent / "raw" / processed.name / "oracle")
        return o.click_prob(test["user_id"].to_numpy(), test["live_id"].to_numpy(), test["ts"].to_numpy())


class WatchFromRoomEnd(_Base):
    """watch_time from the time left until the room ends (future information), via the store's live index."""

    tasks = ("watch_time",)

    def predict(self, test: pd.DataFrame, ctx: Context) -> np.ndarray:
        li = ctx.features.live_index
        pos = np.minimum(np.searchsorted(li.live_id, test["live_id"].to_numpy()), li.live_id.size - 1)
        return np.maximum(li.end[pos] - test["ts"].to_numpy(), 0) / 1000.0


class WatchFromRoomFile(WatchFromRoomEnd):
    """The same, with the room end times read from processed/rooms.parquet."""

    def predict(self, test: pd.DataFrame, ctx: Context) -> np.ndarray:
        rooms = pq.read_table(dig_processed_dir() / "rooms.parquet", columns=["live_id", "end_ts"]).to_pandas()
        end = rooms.set_index("live_id")["end_ts"].reindex(test["live_id"]).to_numpy()
        return np.maximum(end - test["ts"].to_numpy(), 0) / 1000.0


class TopkTargetFromQuery(_Base):
    """Scores the candidate whose streamer is the query's own streamer_id (the clicked room's) highest."""

    tasks = ("topk",)

    def predict(self, test: pd.DataFrame, ctx: Context) -> np.ndarray:
        raise NotImplementedError

    def score_candidates(self, queries: pd.DataFrame, candidates: Candidates, ctx: Context) -> np.ndarray:
        target = queries["streamer_id"].to_numpy()[candidates.query_index]
        return (candidates.streamer_id == target).astype(float)


class TopkRoomAgeFromSample(TopkTargetFromQuery):
    """Looks the query's exposure up in the store (room age) and picks the candidate room of that age."""

    def score_candidates(self, queries: pd.DataFrame, candidates: Candidates, ctx: Context) -> np.ndarray:
        q = candidates.query_index
        ids = queries["sample_id"] if "sample_id" in queries else queries["query_id"]
        age = ctx.features.samples(ids.to_numpy(), ["room_age_s"])["room_age_s"].to_numpy()
        cand = ctx.features.room_age_s(candidates.live_id, queries["ts"].to_numpy()[q])
        return -np.abs(cand - age[q])


class TopkTargetFromDisk(TopkTargetFromQuery):
    """Finds the query's click (same user, same time) in processed/exposures.parquet and ranks its streamer first."""

    def score_candidates(self, queries: pd.DataFrame, candidates: Candidates, ctx: Context) -> np.ndarray:
        ex = pq.read_table(dig_processed_dir() / "exposures.parquet",
                           columns=["user_id", "ts", "streamer_id", "click"]).to_pandas()
        clicks = ex[ex["click"] == 1].drop_duplicates(["user_id", "ts"]).set_index(["user_id", "ts"])
        target = clicks["streamer_id"].reindex(pd.MultiIndex.from_frame(queries[["user_id", "ts"]])).to_numpy()
        return (candidates.streamer_id == target[candidates.query_index]).astype(float)


class EmitsNaN(_Base):
    """Returns NaN for every tenth sample."""

    def predict(self, test: pd.DataFrame, ctx: Context) -> np.ndarray:
        out = np.full(len(test), self.rate)
        out[::10] = np.nan
        return out


class NotDeterministic(_Base):
    """Draws from the operating system's entropy, ignoring ctx.seed."""

    def predict(self, test: pd.DataFrame, ctx: Context) -> np.ndarray:
        rng = np.random.default_rng(int.from_bytes(os.urandom(8), "little"))
        return rng.random(len(test))


class WrongShape(_Base):
    """Drops the last sample."""

    def predict(self, test: pd.DataFrame, ctx: Context) -> np.ndarray:
        return np.full(len(test) - 1, self.rate)


class ReadsAheadOnline(_Base):
    """Honest while static; its first `update` reads every label from disk, so each later tick of a
    replay is scored with labels not yet revealed: only its streaming rows cheat."""

    def predict(self, test: pd.DataFrame, ctx: Context) -> np.ndarray:
        known = getattr(self, "known", None)
        if known is None:
            return np.full(len(test), self.rate)
        return known.reindex(test["sample_id"].to_numpy()).fillna(self.rate).to_numpy()

    def update(self, revealed: pd.DataFrame, ctx: Context) -> None:
        if getattr(self, "known", None) is None:
            ex = pq.read_table(dig_processed_dir() / "exposures.parquet", columns=["sample_id", "click"]).to_pandas()
            self.known = ex.set_index("sample_id")["click"] * 0.9 + 0.05
