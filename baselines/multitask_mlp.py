"""MultiTaskMLP: a shared-bottom network with one head per label, the worked example of shared fits.

Listed under `shared` in params.yaml (docs/shared-fits.md) it is fitted once per seed on the table of every
label (click, long_view, like, comment, gift, watch_s, gift_value) and that fit predicts ctr,
multi_behavior, watch_time and gift_price. Listed under a task, it fits that task's labels alone: the
four separate fits a shared fit saves. Binary heads learn with log loss on every exposure; watch_s and
gift_value heads regress log1p of the value on clicks only (NaN elsewhere in the shared table).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from baselines.tabular import expanding_rates, moment_counts, repeat_features
from benchmark.features.store import time_features
from benchmark.interface import Baseline, Context

VALUES = ("watch_s", "gift_value")  # regression heads (log1p); every other label is binary
OUTPUT = {"ctr": "click", "watch_time": "watch_s", "gift_price": "gift_value"}  # one-label tasks: their head


def features(rows: pd.DataFrame, view) -> np.ndarray:
    """Known strictly before each row's time: room moment context, user and streamer engagement rates of
    every behaviour, repeat consumption, room age and the hour."""
    users, streamers = rows["user_id"].to_numpy(), rows["streamer_id"].to_numpy()
    live, ts = rows["live_id"].to_numpy(), rows["ts"].to_numpy()
    cols = moment_counts(view, live, ts)
    for ids, prefix in ((streamers, "s"), (users, "u")):
        rates = expanding_rates(view, "streamer_id" if prefix == "s" else "user_id", ids, ts, prefix)
        cols += [np.log1p(rates.pop(f"{prefix}_exposures")), *rates.values()]
    cols += [np.log1p(v) if k in ("pair_clicks", "pair_gifts") else v
             for k, v in repeat_features(view, users, streamers, ts).items()]
    hours = time_features(ts)
    return np.stack([*cols, hours["hour"] / 23.0, hours["peak"]], axis=1).astype(np.float32)


class SharedBottom(nn.Module):
    """Standardised features -> two ReLU layers shared by every label -> one linear head per label."""

    def __init__(self, n_in: int, hidden: int, labels: tuple[str, ...], mean: np.ndarray, std: np.ndarray):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean))
        self.register_buffer("std", torch.as_tensor(std))
        self.bottom = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.heads = nn.ModuleDict({label: nn.Linear(hidden, 1) for label in labels})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.bottom((x - self.mean) / self.std)
        return {label: head(h).squeeze(1) for label, head in self.heads.items()}


def _targets(table: pd.DataFrame, labels: tuple[str, ...], device: str) -> dict[str, torch.Tensor]:
    """Per label, the training target: the 0/1 label, or log1p of the value (NaN where undefined)."""
    out = {}
    for label in labels:
        y = table[label].to_numpy(np.float64)
        out[label] = torch.as_tensor(np.log1p(y) if label in VALUES else y, dtype=torch.float32, device=device)
    return out


def _loss(pred: dict[str, torch.Tensor], y: dict[str, torch.Tensor], rows: torch.Tensor | slice) -> torch.Tensor:
    """Sum over heads: log loss of each binary label, squared error of each value where it is defined."""
    total = torch.zeros((), device=next(iter(pred.values())).device)
    for label, p in pred.items():
        t = y[label][rows]
        if label in VALUES:
            known = ~torch.isnan(t)
            if known.any():
                total = total + nn.functional.mse_loss(p[known], t[known])
        else:
            total = total + nn.functional.binary_cross_entropy_with_logits(p, t)
    return total


class MultiTaskMLP(Baseline):
    """Shared-bottom MLP, one head per label, over engagement and room-context features (a shared fit).

    params: epochs, batch_size, lr (Adam), hidden (width of the shared layers). Early-stopped on the
    valid loss summed over heads."""

    tasks = ("ctr", "multi_behavior", "watch_time", "gift_price")
    shared_fit = True

    def __init__(self, epochs: int = 5, batch_size: int = 4096, lr: float = 0.003, hidden: int = 64):
        super().__init__(epochs=epochs, batch_size=batch_size, lr=lr, hidden=hidden)
        self.log: dict = {}

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame, ctx: Context) -> None:
        labels, dev = tuple(ctx.labels), ctx.device
        x = features(train, ctx.features)
        self.net = SharedBottom(x.shape[1], self.params["hidden"], labels, x.mean(0), x.std(0) + 1e-6).to(dev)
        opt = torch.optim.Adam(self.net.parameters(), lr=self.params["lr"])
        x = torch.as_tensor(x, device=dev)
        xv = torch.as_tensor(features(valid, ctx.features), device=dev)
        y, yv = _targets(train, labels, dev), _targets(valid, labels, dev)
        gen = torch.Generator().manual_seed(ctx.seed)
        best, best_state, losses = np.inf, None, []
        for _ in range(self.params["epochs"]):
            self.net.train()
            for batch in torch.randperm(x.shape[0], generator=gen).split(self.params["batch_size"]):
                batch = batch.to(dev)
                loss = _loss(self.net(x[batch]), y, batch)
                opt.zero_grad()
                loss.backward()
                opt.step()
            self.net.eval()
            with torch.no_grad():
                losses.append(float(_loss(self.net(xv), yv, slice(None))))
            if losses[-1] >= best:
                break
            best, best_state = losses[-1], {k: v.clone() for k, v in self.net.state_dict().items()}
        if best_state is not None:
            self.net.load_state_dict(best_state)
        self.log = {"network": {"epochs": len(losses), "max_epochs": self.params["epochs"], "valid_loss": losses,
                                "early_stopped": len(losses) < self.params["epochs"], "train_rows": int(x.shape[0]),
                                "heads": list(labels)}}

    def predict(self, test: pd.DataFrame, ctx: Context) -> np.ndarray | pd.DataFrame:
        """The task's head(s); with ctx.task "shared" (a model that loaded this fit asks in its own fit)
        every head, as a DataFrame: probabilities, and values in seconds or gift value."""
        x = torch.as_tensor(features(test, ctx.features), device=ctx.device)
        with torch.no_grad():
            out = {k: (torch.expm1(v.clamp(0.0, 30.0)) if k in VALUES else torch.sigmoid(v)).cpu().numpy()
                   for k, v in self.net(x).items()}
        if ctx.task in ("multi_behavior", "shared"):
            return pd.DataFrame({label: out[label].astype(np.float64) for label in ctx.labels})
        return out[OUTPUT[ctx.task]].astype(np.float64)

    def n_params(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    def fit_log(self) -> dict:
        """One network (every head trained together), as the board's training-budget column reads it."""
        return self.log
