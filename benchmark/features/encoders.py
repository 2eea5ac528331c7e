"""Vocabularies fitted on the train split only; unseen values map to the out-of-vocabulary index 0."""

from __future__ import annotations

import numpy as np

from benchmark.features.keys import searchsorted_many, sorted_unique


class Vocab:
    """Sorted distinct train values; index i+1 for the i-th value, 0 for anything unseen in train."""

    def __init__(self, values: np.ndarray):
        self.values = sorted_unique(values)

    def __len__(self) -> int:
        """Number of indices including the OOV index 0."""
        return self.values.size + 1

    def encode(self, values: np.ndarray) -> np.ndarray:
        """Index per value (int64), 0 for values not seen in train."""
        values = np.asarray(values)
        if self.values.size == 0:
            return np.zeros(values.shape, dtype=np.int64)
        pos = searchsorted_many(self.values, values)
        pos_c = np.minimum(pos, self.values.size - 1)
        return np.where(self.values[pos_c] == values, pos_c + 1, 0).astype(np.int64)
