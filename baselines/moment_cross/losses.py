"""Moment&Cross's objectives on the towers' log-probabilities.

- Offline (fit): log loss of every binary label on every exposure (entire space), squared error of log1p of
  watch time and gift value on clicks.
- Moment (`moment` stream): L_moment = log loss over each behaviour's **first** positive and the negatives
  revealed at exit; a repeated positive is masked.
- Legacy (`fast_slow` stream): L_fast = log loss over every label the 5-minute window reports (a positive it
  missed counts as 0), L_slow = -(log ŷ - log(1 - ŷ)) over the positives the 1-hour window adds, which cancels
  the false negative L_fast learned and adds the positive.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

BINARY = ("click", "long_view", "like", "comment", "gift")
VALUES = ("watch_s", "gift_value")  # regression towers: log1p of the value, on clicks


def log_loss(log_p: torch.Tensor, log_not_p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """-(y log ŷ + (1 - y) log(1 - ŷ)) per row."""
    return -(y * log_p + (1.0 - y) * log_not_p)


def slow_loss(log_p: torch.Tensor, log_not_p: torch.Tensor) -> torch.Tensor:
    """L_slow per missed positive: -(log ŷ - log(1 - ŷ)); with the fast window's -log(1 - ŷ) it sums to -log ŷ."""
    return -(log_p - log_not_p)


def total_loss(out: dict[str, tuple[torch.Tensor, torch.Tensor] | torch.Tensor], targets: dict[str, torch.Tensor],
               slow: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """Sum over towers of the mean loss over the rows whose target is known (not NaN): log loss for a binary
    tower (`out[label]` = (log ŷ, log(1 - ŷ))), squared error for a value tower (`out[label]` = predicted
    log1p); plus, per binary tower, the mean L_slow over the rows `slow[label]` marks."""
    first = next(iter(out.values()))
    total = torch.zeros((), device=(first[0] if isinstance(first, tuple) else first).device)
    for label, pred in out.items():
        y = targets.get(label)
        if y is not None:
            known = ~torch.isnan(y)
            if known.any():
                if label in VALUES:
                    total = total + torch.mean((pred[known] - y[known]) ** 2)
                else:
                    total = total + log_loss(pred[0][known], pred[1][known], y[known]).mean()
        if slow is not None and label in slow and slow[label].any():
            total = total + slow_loss(pred[0][slow[label]], pred[1][slow[label]]).mean()
    return total


def offline_targets(table: pd.DataFrame, labels: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Per tower, the training target of every row: the 0/1 label, or log1p of the value (NaN without a click)."""
    out = {}
    for label in labels:
        y = table[label].to_numpy(np.float64)
        out[label] = np.log1p(y) if label in VALUES else y
    return out


def moment_targets(revealed: pd.DataFrame, labels: tuple[str, ...]) -> dict[str, np.ndarray]:
    """L_moment's targets in a tick's revealed rows: each behaviour's first positive (flag `first_only`) and
    every negative (revealed at exit); a repeated positive and a label the row does not reveal are NaN."""
    first = revealed["first_only"].to_numpy(bool)
    out = {}
    for label in labels:
        y = revealed[label].to_numpy(np.float64).copy()
        if label in VALUES:
            out[label] = np.log1p(y)
        else:
            y[(y > 0) & ~first] = np.nan
            out[label] = y
    return out


def fast_slow_targets(revealed: pd.DataFrame, labels: tuple[str, ...]
                      ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """L_fast's targets (every label of the rows the 5-minute window reports) and, per binary label, the rows
    whose positive only the 1-hour window reports (flag `slow`): L_slow's rows. Values train in both windows."""
    slow = revealed["slow"].to_numpy(bool)
    fast, missed = {}, {}
    for label in labels:
        y = revealed[label].to_numpy(np.float64).copy()
        if label in VALUES:
            fast[label] = np.log1p(y)
            continue
        missed[label] = slow & (y > 0)
        y[slow] = np.nan
        fast[label] = y
    return fast, missed
