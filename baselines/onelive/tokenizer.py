"""OneLive's dynamic tokenizer: a room's content at a time -> its streamer's 3-level semantic id then.

x_30s, the room's state (what the paper's multimodal model reads off the last 30 seconds of the stream), is
here the room's moment context (entries, comments, likes, gifts, gift value in the trailing windows and since
it started) and its streamer's expanding behaviour rates; x_pool is the room's category and type, its title
embedding and, optionally, the streamer's profile. x_MLLM = MLP(x_30s ⊕ x_pool) is fused with the streamer-id
embedding by a learned gate, x_Author = λ x_AId + (1 − λ) x_MLLM, and a user tower is aligned with it by
in-batch softmax on train clicks. Residual k-means then quantises x_Author into one code per level.

A streamer's id at time t is read from its room's content at the start of t's id window (`id_times`), so it
is fixed within a window and moves with the content from one window to the next.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from baselines.tabular import MOMENT_QUANTITIES, expanding_rates, numeric_profile
from benchmark.features.moment import moment_column


def id_times(ts: np.ndarray, start_ts: np.ndarray, window_ms: int) -> np.ndarray:
    """When the id a room has at `ts` is read: the start of ts's id window, or the room's start if later."""
    ts = np.asarray(ts, np.int64)
    return np.maximum(ts - ts % int(window_ms), np.asarray(start_ts, np.int64))


@dataclass
class Content:
    """Rooms' content at given times: codes (n, 3) of streamer, category and room type; dense (n, d)."""

    codes: np.ndarray
    dense: np.ndarray

    def take(self, rows) -> Content:
        return Content(self.codes[rows], self.dense[rows])


def read_content(view, streamers: np.ndarray, lives: np.ndarray, ts: np.ndarray, use_profiles: bool) -> Content:
    """Each (streamer, room)'s content known strictly before its time: x_30s and x_pool's inputs.

    Pairs repeated (a room at one id time, shared by many requests) are read once."""
    key = np.stack([np.asarray(lives, np.int64), np.asarray(ts, np.int64), np.asarray(streamers, np.int64)], 1)
    uniq, back = np.unique(key, axis=0, return_inverse=True)
    live, t, streamer = uniq[:, 0], uniq[:, 1], uniq[:, 2]
    moment = view.moment(live, t)
    counts = [np.log1p(np.asarray(moment[moment_column(q, w)], np.float64).clip(0))
              for q in MOMENT_QUANTITIES for w in (*view.windows_s, None)]
    rates = expanding_rates(view, "streamer_id", streamer, t, "s")
    rates["s_exposures"] = np.log1p(rates["s_exposures"])
    title, missing = view.title_embedding(live)
    dense = [*counts, *rates.values(), missing.astype(np.float64)]
    if use_profiles:
        dense += numeric_profile(view.streamer_profile(streamer))
    room = view.rooms(live)
    codes = np.stack([view.encode("streamer_id", streamer), view.encode("category", room["category"]),
                      view.encode("live_type", room["live_type"])], 1)
    dense = np.concatenate([np.stack(dense, 1), title], 1).astype(np.float32)
    back = back.reshape(-1)
    return Content(codes.astype(np.int64)[back], dense[back])


class TokenizerNet(nn.Module):
    """x_Author from a room's content (gated fusion of the streamer-id and content vectors) and a user tower,
    aligned by in-batch softmax."""

    def __init__(self, sizes: tuple[int, int, int], n_users: int, n_dense: int, mean: np.ndarray, std: np.ndarray,
                 dim: int, temperature: float):
        super().__init__()
        self.temperature = temperature
        self.register_buffer("mean", torch.as_tensor(mean))
        self.register_buffer("std", torch.as_tensor(std))
        self.streamer, self.category, self.live_type = (nn.Embedding(n, dim) for n in sizes)
        self.content = nn.Sequential(nn.Linear(n_dense + 2 * dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.gate = nn.Linear(2 * dim, dim)
        self.user = nn.Sequential(nn.Embedding(n_users, dim), nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))

    def author(self, codes: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
        """x_Author = λ x_AId + (1 − λ) x_MLLM, λ = σ(W [x_AId ⊕ x_MLLM])."""
        x_pool = torch.cat([(dense - self.mean) / self.std, self.category(codes[:, 1]), self.live_type(codes[:, 2])], 1)
        x_mllm = self.content(x_pool)
        x_aid = self.streamer(codes[:, 0])
        lam = torch.sigmoid(self.gate(torch.cat([x_aid, x_mllm], 1)))
        return lam * x_aid + (1 - lam) * x_mllm

    def loss(self, users: torch.Tensor, codes: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
        """In-batch softmax: each click's user against every author vector of the batch."""
        u = nn.functional.normalize(self.user(users), dim=1)
        a = nn.functional.normalize(self.author(codes, dense), dim=1)
        logits = u @ a.T / self.temperature
        return nn.functional.cross_entropy(logits, torch.arange(len(u), device=u.device))


def fit_tokenizer(net: TokenizerNet, users: np.ndarray, content: Content, epochs: int, batch: int, lr: float,
                  gen: torch.Generator, dev: str) -> list[float]:
    """Align the two towers on train clicks; the mean loss of each epoch."""
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    u, c, d = (torch.as_tensor(a, device=dev) for a in (users, content.codes, content.dense))
    losses = []
    for _ in range(epochs):
        total = 0.0
        for rows in torch.randperm(len(u), generator=gen).split(batch):
            loss = net.loss(u[rows], c[rows], d[rows])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(rows)
        losses.append(total / max(len(u), 1))
    return losses


@torch.no_grad()
def author_vectors(net: TokenizerNet, content: Content, dev: str, chunk: int = 65_536) -> np.ndarray:
    """x_Author of every row, as float32 numpy."""
    out = [net.author(torch.as_tensor(content.codes[i:i + chunk], device=dev),
                      torch.as_tensor(content.dense[i:i + chunk], device=dev)).cpu().numpy()
           for i in range(0, len(content.codes), chunk)]
    return np.concatenate(out) if out else np.zeros((0, net.gate.out_features), np.float32)


class ResidualKMeans:
    """`levels` codebooks of `size` centroids: level l quantises what the levels before it left over,
    q_l = argmin_k ‖c_l^k − x_l‖, x_{l+1} = x_l − c_l^{q_l}. Frozen once fitted."""

    def __init__(self, levels: int = 3, size: int = 256, iters: int = 20, seed: int = 0):
        self.levels, self.size, self.iters, self.seed = levels, size, iters, seed
        self.codebooks: list[np.ndarray] = []

    def fit(self, x: np.ndarray) -> list[float]:
        """Fit the codebooks on x (n, d) level by level; the mean squared reconstruction error after each."""
        gen = torch.Generator().manual_seed(self.seed)
        residual = torch.as_tensor(np.asarray(x, np.float32))
        errors = []
        self.codebooks = []
        for _ in range(self.levels):
            centroids = _kmeans(residual, self.size, self.iters, gen)
            self.codebooks.append(centroids.numpy())
            residual = residual - centroids[_nearest(residual, centroids)]
            errors.append(float((residual ** 2).sum(1).mean()))
        return errors

    def encode(self, x: np.ndarray) -> np.ndarray:
        """The code of each row at each level, (n, levels) int64."""
        residual = torch.as_tensor(np.asarray(x, np.float32))
        codes = []
        for book in self.codebooks:
            c = torch.as_tensor(book)
            q = _nearest(residual, c)
            codes.append(q)
            residual = residual - c[q]
        return torch.stack(codes, 1).numpy().astype(np.int64) if codes else np.zeros((len(x), 0), np.int64)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """The sum of each level's centroid: the quantised vector."""
        return sum(book[codes[:, level]] for level, book in enumerate(self.codebooks))


def _nearest(x: torch.Tensor, centroids: torch.Tensor, chunk: int = 65_536) -> torch.Tensor:
    """Index of the nearest centroid of each row (ties: the lowest index)."""
    c2 = (centroids ** 2).sum(1)
    return torch.cat([(c2 - 2 * x[i:i + chunk] @ centroids.T).argmin(1) for i in range(0, len(x), chunk)])


def _kmeans(x: torch.Tensor, k: int, iters: int, gen: torch.Generator) -> torch.Tensor:
    """Lloyd's k-means from k distinct rows drawn at random; an emptied centroid is re-drawn from the rows."""
    k = min(k, len(x))
    centroids = x[torch.randperm(len(x), generator=gen)[:k]].clone()
    for _ in range(iters):
        assign = _nearest(x, centroids)
        counts = torch.bincount(assign, minlength=k)
        sums = torch.zeros_like(centroids).index_add_(0, assign, x)
        empty = counts == 0
        centroids = torch.where(empty[:, None], centroids, sums / counts.clamp(min=1)[:, None])
        if empty.any():
            centroids[empty] = x[torch.randint(len(x), (int(empty.sum()),), generator=gen)]
    return centroids
