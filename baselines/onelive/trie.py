"""The prefix trie of the semantic ids live at each request, and the beam search constrained by it.

Level l of the trie holds the sorted keys (query, c_0, ..., c_l) of every prefix of a live candidate's id, so
a prefix's children are one contiguous run of the next level (`children`), and a decoded id can only be one
that some streamer live at the request time has. Several live streamers may share an id (a collision): the
leaf maps to all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class PrefixTrie:
    """keys[l]: sorted unique prefix keys of level l; leaf[j]: the leaf (index into keys[-1]) of candidate j."""

    size: int
    keys: list[np.ndarray]
    leaf: np.ndarray

    @classmethod
    def build(cls, query_index: np.ndarray, codes: np.ndarray, size: int) -> PrefixTrie:
        """The trie of candidates given by their query (int, n) and their ids (n, levels)."""
        key = np.asarray(query_index, np.int64)
        keys, leaf = [], None
        for level in range(codes.shape[1]):
            key = key * size + codes[:, level]
            uniq, leaf = np.unique(key, return_inverse=True)
            keys.append(uniq)
        return cls(size, keys, leaf.reshape(-1))

    def query(self, level: int, idx: np.ndarray) -> np.ndarray:
        """The query of prefixes (indices into keys[level])."""
        return self.keys[level][idx] // self.size ** (level + 1)

    def code(self, level: int, idx: np.ndarray) -> np.ndarray:
        """The last code of prefixes (indices into keys[level])."""
        return self.keys[level][idx] % self.size

    def roots(self, queries: np.ndarray) -> np.ndarray:
        """Indices into keys[0] of every level-0 prefix of the given queries."""
        return np.flatnonzero(np.isin(self.query(0, np.arange(self.keys[0].size)), queries))

    def children(self, level: int, parents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The children of prefixes (indices into keys[level]): (position in `parents`, index into keys[level+1])."""
        base = self.keys[level][parents] * self.size
        lo = np.searchsorted(self.keys[level + 1], base)
        hi = np.searchsorted(self.keys[level + 1], base + self.size)
        n = hi - lo
        owner = np.repeat(np.arange(parents.size), n)
        return owner, np.repeat(lo - np.cumsum(n) + n, n) + np.arange(int(n.sum()))


def top_per_group(group: np.ndarray, score: np.ndarray, width: int | None) -> np.ndarray:
    """Positions of the `width` best scores of each group (all when width is None), best first per group
    (ties: the lower position first)."""
    order = np.lexsort((np.arange(score.size), -score, group))
    if width is None:
        return order
    g = group[order]
    first = np.searchsorted(g, g)   # where each group's run starts (g is sorted)
    return order[np.arange(order.size) - first < width]


def beam_search(trie: PrefixTrie, queries: np.ndarray, level_logprobs: Callable, width: int | None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Beam search over the trie: keep each query's `width` best prefixes per level (every prefix when None).

    level_logprobs(level, query, prefix, parent) -> (log P(next code | prefix), (rows, size) numpy; a state
    per row for its children's call): `prefix` (rows, level) the codes chosen so far, `parent` the rows of the
    state the previous call returned for their parents (None at levels 0 and 1, whose parent is BOS).
    Returns (leaf indices into keys[-1], their log-likelihood), each query's leaves best first."""
    idx = trie.roots(queries)
    uniq, at = np.unique(trie.query(0, idx), return_inverse=True)
    logp, _ = level_logprobs(0, uniq, np.zeros((uniq.size, 0), np.int64), None)
    score, prefix = logp[at, trie.code(0, idx)], trie.code(0, idx)[:, None]
    state = rows = None   # the current prefixes' parents: rows `rows` of `state`
    for level in range(1, len(trie.keys)):
        keep = top_per_group(trie.query(level - 1, idx), score, width)
        idx, score, prefix = idx[keep], score[keep], prefix[keep]
        parent = None if state is None else _take(state, rows[keep])
        logp, state = level_logprobs(level, trie.query(level - 1, idx), prefix, parent)
        owner, child = trie.children(level - 1, idx)
        score = score[owner] + logp[owner, trie.code(level, child)]
        prefix = np.concatenate([prefix[owner], trie.code(level, child)[:, None]], 1)
        idx, rows = child, owner
    best = top_per_group(trie.query(len(trie.keys) - 1, idx), score, None)
    return idx[best], score[best]


def _take(state, rows: np.ndarray):
    """Rows of a search state: a tensor, or a list of objects with take() (a decoder's layer caches)."""
    import torch

    index = torch.as_tensor(rows, dtype=torch.long)
    return [s.take(index) for s in state] if isinstance(state, list) else state[index]
