"""OneLive's decoder: time-aware gated attention with QK norm over the user's history, then a 3-level semantic
id generated after a time-injected BOS, level 0 by the main decoder and levels 1 and 2 either by two one-layer
decoders sharing its KV cache (sequential multi-token prediction) or by the main decoder itself.

The context (history tokens and BOS) is encoded once into each layer's keys and values (`context`); every
later token (`step`, `mtp`) attends to that cache, so a candidate prefix costs one token's pass, not the
history's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

ITEM_TIME = 4   # a history token's time: log gap to the request, hour (sin, cos), weekend
BOS_TIME = 10   # the request's time: hour (sin, cos), day of week (one-hot), weekend
LEVELS = 3


def _mlp(n_in: int, dim: int) -> nn.Module:
    return nn.Sequential(nn.Linear(n_in, dim), nn.GELU(), nn.Linear(dim, dim))


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps, self.weight = eps, nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


@dataclass
class KV:
    """One layer's cached keys and values (batch, heads, time, head dim) and which keys are real (batch, time)."""

    k: torch.Tensor
    v: torch.Tensor
    valid: torch.Tensor

    def take(self, rows: torch.Tensor) -> KV:
        return KV(self.k[rows], self.v[rows], self.valid[rows])

    def extend(self, k: torch.Tensor, v: torch.Tensor, valid: torch.Tensor) -> KV:
        return KV(torch.cat([self.k, k], 2), torch.cat([self.v, v], 2), torch.cat([self.valid, valid], 1))


class GatedAttention(nn.Module):
    """Multi-head causal attention, O = (MHA(X W_Q, X' W_K, X' W_V) ⊙ σ(X W_θ)) W_O, with RMSNorm on Q and K
    before their dot product (`qk_norm`) and the output gate (`gated`) each switchable."""

    def __init__(self, dim: int, heads: int, qk_norm: bool, gated: bool):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)
        self.gate = nn.Linear(dim, dim) if gated else None
        self.q_norm = RMSNorm(self.head_dim) if qk_norm else nn.Identity()
        self.k_norm = RMSNorm(self.head_dim) if qk_norm else nn.Identity()

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(*x.shape[:2], self.heads, self.head_dim).transpose(1, 2)

    def logits(self, x: torch.Tensor, past: KV | None = None, valid: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, KV]:
        """The attention logits (batch, heads, new, all keys) of the new tokens x, and the cache with them."""
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q, k, v = self.q_norm(self._split(q)), self.k_norm(self._split(k)), self._split(v)
        if valid is None:
            valid = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        kv = KV(k, v, valid) if past is None else past.extend(k, v, valid)
        return q @ kv.k.transpose(-1, -2) / math.sqrt(self.head_dim), kv

    def forward(self, x: torch.Tensor, past: KV | None = None, valid: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, KV]:
        logits, kv = self.logits(x, past, valid)
        n_new, n_all = x.shape[1], kv.k.shape[2]
        new_at = torch.arange(n_all - n_new, n_all, device=x.device)
        causal = torch.arange(n_all, device=x.device)[None, :] <= new_at[:, None]         # (new, all)
        mask = causal[None, None] & kv.valid[:, None, None, :]
        itself = torch.arange(n_all, device=x.device)[None, :] == new_at[:, None]
        mask = mask | itself[None, None]   # a padded token attends to itself alone (no empty softmax)
        attn = logits.masked_fill(~mask, float("-inf")).softmax(-1)
        o = (attn @ kv.v).transpose(1, 2).reshape(x.shape)
        if self.gate is not None:
            o = o * torch.sigmoid(self.gate(x))
        return self.out(o), kv


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, qk_norm: bool, gated: bool):
        super().__init__()
        self.norm1, self.norm2 = RMSNorm(dim), RMSNorm(dim)
        self.attn = GatedAttention(dim, heads, qk_norm, gated)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor, past: KV | None = None, valid: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, KV]:
        a, kv = self.attn(self.norm1(x), past, valid)
        x = x + a
        return x + self.mlp(self.norm2(x)), kv


class MTPModule(nn.Module):
    """One sequential multi-token prediction step: the previous level's hidden state and the code it chose,
    through one block attending to the main decoder's cached context."""

    def __init__(self, dim: int, heads: int, qk_norm: bool, gated: bool):
        super().__init__()
        self.norm_h, self.norm_e = RMSNorm(dim), RMSNorm(dim)
        self.proj = nn.Linear(2 * dim, dim, bias=False)
        self.block = Block(dim, heads, qk_norm, gated)

    def forward(self, h: torch.Tensor, code: torch.Tensor, cache: KV) -> torch.Tensor:
        x = self.proj(torch.cat([self.norm_h(h), self.norm_e(code)], -1)).unsqueeze(1)
        return self.block(x, cache)[0].squeeze(1)


@dataclass
class Context:
    """A batch of encoded contexts: each main layer's cache and the final hidden state at BOS."""

    caches: list[KV]
    h_bos: torch.Tensor

    def take(self, rows: torch.Tensor) -> Context:
        return Context([c.take(rows) for c in self.caches], self.h_bos[rows])


class OneLiveDecoder(nn.Module):
    """Semantic-id generation from a user's history of semantic ids (see the module docstring)."""

    def __init__(self, size: int, n_users: int, dim: int, heads: int, layers: int, history: int, qk_norm: bool,
                 time_aware: bool, mtp: bool):
        super().__init__()
        self.size, self.history, self.mtp_on, self.time_aware = size, history, mtp, time_aware
        self.codes = nn.ModuleList(nn.Embedding(size, dim) for _ in range(LEVELS))
        self.pos = nn.Embedding(history + LEVELS, dim)
        self.user = nn.Embedding(n_users, dim)
        self.bos = nn.Parameter(torch.zeros(dim))
        self.item_time = _mlp(ITEM_TIME, dim) if time_aware else None
        self.bos_time = _mlp(BOS_TIME, dim) if time_aware else None
        self.blocks = nn.ModuleList(Block(dim, heads, qk_norm, time_aware) for _ in range(layers))
        self.mtp = nn.ModuleList(MTPModule(dim, heads, qk_norm, time_aware) for _ in range(LEVELS - 1)) if mtp else None
        self.norm = RMSNorm(dim)
        self.heads = nn.ModuleList(nn.Linear(dim, size, bias=False) for _ in range(LEVELS))

    def context_tokens(self, hist: torch.Tensor, hist_time: torch.Tensor, users: torch.Tensor,
                       bos_time: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Embedded [history..., BOS] (batch, history + 1, dim) and which positions are real.

        hist: (batch, history, 3) codes, -1 where padded (left); a history token is the sum of its codes'
        embeddings plus MLP(its time); BOS is a learned vector plus the user's embedding plus MLP(the time)."""
        real = hist[..., 0] >= 0
        x = sum(self.codes[level](hist[..., level].clamp(min=0)) for level in range(LEVELS))
        bos = (self.bos + self.user(users)).unsqueeze(1)
        if self.time_aware:
            x = x + self.item_time(hist_time)
            bos = bos + self.bos_time(bos_time).unsqueeze(1)
        x = torch.cat([x * real.unsqueeze(-1), bos], 1) + self.pos.weight[: self.history + 1]
        return x, torch.cat([real, torch.ones_like(real[:, :1])], 1)

    def run(self, x: torch.Tensor, valid: torch.Tensor | None = None, past: list[KV] | None = None
            ) -> tuple[torch.Tensor, list[KV]]:
        """The main decoder over new tokens x, after the cached `past` if given: final normed hidden states."""
        caches = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, None if past is None else past[i], valid)
            caches.append(kv)
        return self.norm(x), caches

    def context(self, hist: torch.Tensor, hist_time: torch.Tensor, users: torch.Tensor, bos_time: torch.Tensor
                ) -> Context:
        """Encode the context once: every layer's keys and values, and the hidden state at BOS."""
        x, valid = self.context_tokens(hist, hist_time, users, bos_time)
        h, caches = self.run(x, valid)
        return Context(caches, h[:, -1])

    def level_hidden(self, ctx: Context, codes: torch.Tensor, parent: torch.Tensor | None = None
                     ) -> tuple[torch.Tensor, object]:
        """The hidden state that predicts level len(codes[0]) + 1 after the chosen codes (rows, 1 or 2), each
        row over its own context row; `parent`: the state this returned for the row's first code (level 2).

        Returns (hidden, state for the next level)."""
        level = codes.shape[1]
        if self.mtp is not None:
            h_prev = ctx.h_bos if parent is None else parent
            h = self.mtp[level - 1](h_prev, self.codes[level - 1](codes[:, -1]), ctx.caches[-1])
            return h, h
        x = self.codes[level - 1](codes[:, -1:]) + self.pos.weight[self.history + level]
        past = ctx.caches if parent is None else parent
        h, caches = self.run(x, past=past)
        return h[:, -1], caches

    def logits(self, level: int, h: torch.Tensor) -> torch.Tensor:
        return self.heads[level](h)

    def forward(self, hist: torch.Tensor, hist_time: torch.Tensor, users: torch.Tensor, bos_time: torch.Tensor,
                target: torch.Tensor) -> list[torch.Tensor]:
        """Teacher-forced logits of the three levels of each row's target id (batch, 3)."""
        ctx = self.context(hist, hist_time, users, bos_time)
        h1, state = self.level_hidden(ctx, target[:, :1])
        h2, _ = self.level_hidden(ctx, target[:, :2], state)
        return [self.logits(0, ctx.h_bos), self.logits(1, h1), self.logits(2, h2)]
