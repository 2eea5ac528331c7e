"""Deliberately broken models: `kuailive-bench check` must catch each one."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from benchmark.interface import Baseline, Context


class _Base(Baseline):
    tasks = ("ctr",)

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame, ctx: Context) -> None:
        self.rate = float(train["click"].mean())


class ReadsTestLabels(_Base):
    """Looks up the test labels on disk next to the feature store."""

    def predict(self, test: pd.DataFrame, ctx: Context) -> np.ndarray:
        data_root = ctx.features.processed_dir.parent.parent
        dataset = ctx.features.processed_dir.name
        labels = pq.read_table(data_root / "tasks" / dataset / "ctr" / "test.parquet").to_pandas()
        return labels.set_index("sample_id").loc[test["sample_id"], "click"].to_numpy() * 0.9 + 0.05


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
