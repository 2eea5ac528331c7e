"""OnlineLogistic: a logistic click model in torch that keeps learning from the revealed label stream.

The worked example of the streaming protocol (docs/streaming.md, docs/submitting.md). `fit` trains on the
train split, early-stopped on valid; `update` takes one SGD step on each tick's revealed clicks, joined to
the features logged when the sample was scored (as a serving system joins labels to its impression
logs). Its static row is the fit alone; its `@moment` and `@fast_slow` rows replay a copy of that fit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from baselines.tabular import expanding_rates, moment_counts, repeat_features
from benchmark.interface import Baseline, Context

BUCKETS = 1 << 16  # hashed per-user and per-streamer biases: what online updates move the most
LOGGED = 1 << 18   # slots of the feature log: sample_id % LOGGED (an overwritten slot is recomputed)


def dense_features(rows: pd.DataFrame, view) -> np.ndarray:
    """Known strictly before each row's time: the room's moment context and recent engagement."""
    users, streamers = rows["user_id"].to_numpy(), rows["streamer_id"].to_numpy()
    live, ts = rows["live_id"].to_numpy(), rows["ts"].to_numpy()
    *cols, room_age = moment_counts(view, live, ts)
    s = expanding_rates(view, "streamer_id", streamers, ts, "s")
    u = expanding_rates(view, "user_id", users, ts, "u")
    pair = repeat_features(view, users, streamers, ts)
    cols += [np.log1p(s["s_exposures"]), s["s_ctr"], np.log1p(u["u_exposures"]), u["u_ctr"],
             np.log1p(pair["pair_clicks"]), pair["pair_log_hours_since"], room_age]
    return np.stack(cols, axis=1).astype(np.float32)


class LogisticNet(nn.Module):
    """logit = w·standardised(x) + user bias + streamer bias."""

    def __init__(self, n_dense: int, mean: np.ndarray, std: np.ndarray):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean))
        self.register_buffer("std", torch.as_tensor(std))
        self.dense = nn.Linear(n_dense, 1)
        self.user, self.streamer = nn.Embedding(BUCKETS, 1), nn.Embedding(BUCKETS, 1)
        nn.init.zeros_(self.user.weight)
        nn.init.zeros_(self.streamer.weight)

    def forward(self, x: torch.Tensor, user: torch.Tensor, streamer: torch.Tensor) -> torch.Tensor:
        z = self.dense((x - self.mean) / self.std).squeeze(1)
        return z + self.user(user).squeeze(1) + self.streamer(streamer).squeeze(1)


def _ids(rows: pd.DataFrame, device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    return tuple(torch.as_tensor(rows[c].to_numpy() % BUCKETS, device=device) for c in ("user_id", "streamer_id"))


class OnlineLogistic(Baseline):
    """Logistic regression in torch over the room's moment context, recent engagement and per-user and
    per-streamer biases; learns online through `update` (one SGD step per tick on the revealed clicks).

    params: epochs, batch_size, lr (Adam, fit), online_lr (SGD, update)."""

    tasks = ("ctr",)

    def __init__(self, epochs: int = 10, batch_size: int = 4096, lr: float = 0.01, online_lr: float = 0.005):
        super().__init__(epochs=epochs, batch_size=batch_size, lr=lr, online_lr=online_lr)
        self.log: dict = {}

    def _logits(self, x: np.ndarray, rows: pd.DataFrame, device: str) -> torch.Tensor:
        return self.net(torch.as_tensor(x, device=device), *_ids(rows, device))

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame, ctx: Context) -> None:
        dev = ctx.device
        x = dense_features(train, ctx.features)
        self.net = LogisticNet(x.shape[1], x.mean(0), x.std(0) + 1e-6).to(dev)
        self.online = torch.optim.SGD(self.net.parameters(), lr=self.params["online_lr"])
        opt = torch.optim.Adam(self.net.parameters(), lr=self.params["lr"])
        x, (u, s) = torch.as_tensor(x, device=dev), _ids(train, dev)
        y = torch.as_tensor(train["click"].to_numpy(), dtype=torch.float32, device=dev)
        yv = torch.as_tensor(valid["click"].to_numpy(), dtype=torch.float32, device=dev)
        xv, (uv, sv) = torch.as_tensor(dense_features(valid, ctx.features), device=dev), _ids(valid, dev)
        gen = torch.Generator().manual_seed(ctx.seed)
        best, best_state, losses = np.inf, None, []
        for _ in range(self.params["epochs"]):
            for batch in torch.randperm(len(y), generator=gen).split(self.params["batch_size"]):
                batch = batch.to(dev)
                loss = nn.functional.binary_cross_entropy_with_logits(self.net(x[batch], u[batch], s[batch]), y[batch])
                opt.zero_grad()
                loss.backward()
                opt.step()
            with torch.no_grad():
                losses.append(float(nn.functional.binary_cross_entropy_with_logits(self.net(xv, uv, sv), yv)))
            if losses[-1] >= best:
                break
            best, best_state = losses[-1], {k: v.clone() for k, v in self.net.state_dict().items()}
        self.net.load_state_dict(best_state)
        self.log = {"click": {"epochs": len(losses), "max_epochs": self.params["epochs"], "valid_logloss": losses,
                              "early_stopped": len(losses) < self.params["epochs"], "train_rows": len(y)}}
        self.logged_id = np.full(LOGGED, -1, np.int64)
        self.logged_x = np.zeros((LOGGED, x.shape[1]), np.float32)

    def predict(self, test: pd.DataFrame, ctx: Context) -> np.ndarray:
        x = dense_features(test, ctx.features)
        slot = test["sample_id"].to_numpy() % LOGGED
        self.logged_id[slot], self.logged_x[slot] = test["sample_id"].to_numpy(), x
        with torch.no_grad():
            return torch.sigmoid(self._logits(x, test, ctx.device)).cpu().numpy().astype(np.float64)

    def update(self, revealed: pd.DataFrame, ctx: Context) -> None:
        rows = revealed[revealed["click"].notna()]
        if rows.empty:
            return
        sid = rows["sample_id"].to_numpy()
        x = self.logged_x[sid % LOGGED]
        missing = self.logged_id[sid % LOGGED] != sid
        if missing.any():
            x[missing] = dense_features(rows[missing], ctx.features)
        y = torch.as_tensor(rows["click"].to_numpy(), dtype=torch.float32, device=ctx.device)
        loss = nn.functional.binary_cross_entropy_with_logits(self._logits(x, rows, ctx.device), y)
        self.online.zero_grad()
        loss.backward()
        self.online.step()

    def n_params(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    def fit_log(self) -> dict:
        """Per label, as the board's training-budget column reads it."""
        return self.log
