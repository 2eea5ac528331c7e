"""Cross (Moment&Cross part 2): five behaviour sequences searched from the user's history (GSU), attended by
the sample (ESU) and aligned with each other by in-batch contrastive learning.

KuaiLive has no short-video domain, so the paper's five sequences are rebuilt from live behaviour
(../shared/spec/models.md), every event read through the sealed view (known strictly before the sample):
- short: the latest `length` clicks;
- long: the `k` clicks most similar to the candidate among the latest `pool` (stop-gradient search);
- aidhard: the latest `length` clicks on the candidate's streamer;
- livelong: the `k` most similar among the latest `pool` likes, comments and gifts;
- mixed: the latest `length` long views, likes, comments and gifts: the anchor the others are aligned with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from benchmark.features.sequences import KINDS

SEQUENCES = ("short", "long", "aidhard", "livelong", "mixed")
SEARCHED = ("long", "livelong")          # top-k by similarity to the candidate out of a longer pool
ENGAGEMENT = ("like", "comment", "gift")
MIXED = ("long_view", "like", "comment", "gift")
GAP_BUCKETS = 24                         # log2 buckets of the seconds between an event and the sample


@dataclass
class SeqInputs:
    """Each sequence of a batch of samples, newest last: streamer codes (n, len) with -1 as padding, kind codes
    and log2 age buckets."""

    streamer: dict[str, np.ndarray]
    kind: dict[str, np.ndarray]
    gap: dict[str, np.ndarray]

    def take(self, rows) -> SeqInputs:
        return SeqInputs(*({k: v[rows] for k, v in part.items()} for part in (self.streamer, self.kind, self.gap)))

    def tensors(self, rows, device: str) -> dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """(streamer, kind, gap) as long tensors per sequence, for the rows given (a slice or an index)."""
        return {k: tuple(torch.as_tensor(part[k][rows], dtype=torch.long, device=device)
                         for part in (self.streamer, self.kind, self.gap)) for k in self.streamer}


def read_sequences(view, users: np.ndarray, streamers: np.ndarray, ts: np.ndarray, names: tuple[str, ...],
                   length: int, pool: int) -> SeqInputs:
    """The sequences `names` of each sample, from the view's behaviour log at the sample's time.

    A user's sequences at one time are read once however many candidates share them (topk scores hundreds)."""
    users, ts, streamers = (np.asarray(a, np.int64) for a in (users, ts, streamers))
    pairs, at = np.unique(np.stack([users, ts], axis=1), axis=0, return_inverse=True)
    at = at.reshape(-1)
    wanted = {"short": ("click",), "long": ("click",), "livelong": ENGAGEMENT, "mixed": MIXED}
    out = SeqInputs({}, {}, {})
    for name in sorted(names, key=lambda n: n != "long"):   # long first: short is its newest `length` clicks
        if name == "short" and "long" in out.streamer and pool >= length:
            for store in (out.streamer, out.kind, out.gap):
                store[name] = store["long"][:, -length:]
            continue
        size = pool if name in SEARCHED else length
        if name == "aidhard":   # depends on the candidate: one query per sample
            seq = view.sequences(users, ts, max_len=size, kinds=("click",), streamer_ids=streamers)
            rows, at_ts = None, ts
        else:
            seq = view.sequences(pairs[:, 0], pairs[:, 1], max_len=size, kinds=wanted[name])
            rows, at_ts = at, pairs[:, 1]
        gap_s = (np.repeat(at_ts, seq.lengths) - seq.columns["ts"]) / 1000.0
        codes = view.encode("streamer_id", seq.columns["streamer_id"]).astype(np.int32)
        parts = (seq.to_padded(codes, size, pad=-1), seq.to_padded("kind", size, pad=0),
                 seq.to_padded(np.minimum(np.log2(1.0 + gap_s), GAP_BUCKETS - 1).astype(np.int8), size, pad=0))
        for store, part in zip((out.streamer, out.kind, out.gap), parts, strict=True):
            store[name] = part if rows is None else part[rows]
    return out


class TargetAttention(nn.Module):
    """ESU: multi-head attention of one query per sample over its sequence; an empty sequence gives zeros."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v = (nn.Linear(dim, dim) for _ in range(3))

    def forward(self, query: torch.Tensor, items: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        n, length, dim = items.shape
        h = self.heads
        q = self.q(query).view(n, h, 1, dim // h)
        k = self.k(items).view(n, length, h, dim // h).transpose(1, 2)
        v = self.v(items).view(n, length, h, dim // h).transpose(1, 2)
        logits = (q @ k.transpose(2, 3)).squeeze(2) / math.sqrt(dim // h)      # (n, h, length)
        weights = torch.softmax(logits.masked_fill(~mask.unsqueeze(1), -1e9), dim=2) * mask.unsqueeze(1)
        return (weights.unsqueeze(2) @ v).reshape(n, dim)


def align_loss(anchor: torch.Tensor, anchor_ok: torch.Tensor, other: torch.Tensor, other_ok: torch.Tensor,
               temperature: float) -> torch.Tensor:
    """In-batch InfoNCE between L2-normalised pooled sequences: sample i's anchor should match its own other
    sequence, not another sample's; only samples with both sequences non-empty take part."""
    keep = anchor_ok & other_ok
    if int(keep.sum()) < 2:
        return anchor.new_zeros(())
    a = nn.functional.normalize(anchor[keep], dim=1)
    b = nn.functional.normalize(other[keep], dim=1)
    return nn.functional.cross_entropy(a @ b.T / temperature, torch.arange(a.shape[0], device=a.device))


class Cross(nn.Module):
    """GSU + ESU + alignment over the sequences `names`: one (n, dim) output per sequence, concatenated, and the
    mean alignment loss of the anchor (mixed) with each other sequence."""

    def __init__(self, names: tuple[str, ...], dim: int, n_query: int, heads: int, k: int, temperature: float):
        super().__init__()
        self.names, self.k, self.temperature = names, k, temperature
        self.kind = nn.Embedding(len(KINDS), dim)
        self.gap = nn.Embedding(GAP_BUCKETS, dim)
        self.query = nn.Linear(n_query, dim)
        self.attend = nn.ModuleDict({name: TargetAttention(dim, heads) for name in names})

    def search(self, candidate: torch.Tensor, items: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """GSU: the positions of the k items most similar to the candidate (dot product, no gradient)."""
        with torch.no_grad():
            sim = torch.einsum("nd,nld->nl", candidate, items).masked_fill(~mask, -torch.inf)
            return sim.topk(min(self.k, sim.shape[1]), dim=1).indices

    def forward(self, embed_streamer, candidate: torch.Tensor, live_side: torch.Tensor,
                seq: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]], align: bool = True
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """The concatenated attention outputs and, with `align` (training), the alignment loss (else 0)."""
        query = self.query(live_side)
        outputs, pooled = [], {}
        for name in self.names:
            streamer, kind, gap = seq[name]
            mask = streamer >= 0
            ids = embed_streamer(streamer.clamp(min=0))
            if name in SEARCHED:
                top = self.search(candidate, ids, mask)
                streamer, kind, gap, mask = (x.gather(1, top) for x in (streamer, kind, gap, mask))
                ids = embed_streamer(streamer.clamp(min=0))
            items = ids + self.kind(kind) + self.gap(gap)
            outputs.append(self.attend[name](query, items, mask))
            count = mask.sum(1, keepdim=True)
            pooled[name] = ((items * mask.unsqueeze(2)).sum(1) / count.clamp(min=1), count.squeeze(1) > 0)
        loss = query.new_zeros(())
        if align and "mixed" in pooled and len(pooled) > 1:
            anchor, ok = pooled["mixed"]
            others = [n for n in self.names if n != "mixed"]
            loss = sum(align_loss(anchor, ok, *pooled[n], self.temperature) for n in others) / len(others)
        return torch.cat(outputs, dim=1), loss
