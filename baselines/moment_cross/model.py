"""MomentCross: Moment&Cross's multi-task ranker (MMoE, CGC or PLE) with Moment's online training."""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch
from torch import nn

from baselines.moment_cross.cross import SEQUENCES, Cross, read_sequences
from baselines.moment_cross.experts import PLE, Bank, MMoE
from baselines.moment_cross.inputs import CrossSpec, Inputs, field_sizes, query_rows, read_inputs, rows_inputs
from baselines.moment_cross.losses import (
    VALUES,
    fast_slow_targets,
    moment_targets,
    offline_targets,
    total_loss,
)
from benchmark.interface import Baseline, Candidates, Context

POST_CLICK = ("long_view", "like", "comment", "gift")  # behaviours that need a click first
OUTPUT = {"ctr": "click", "watch_time": "watch_s", "gift_price": "gift_value"}  # one-label tasks: their tower
LOGGED = 1 << 18   # slots of the serving log: sample_id % LOGGED (an overwritten slot is recomputed)
CHUNK = 65_536     # rows per forward pass when predicting


class MomentCrossNet(nn.Module):
    """Embeddings of every field -> a multi-task module -> one tower per label; with Cross, each tower also
    reads the sequences' attention outputs.

    A binary tower gives (log ŷ, log(1 - ŷ)); with `factorise`, a post-click tower predicts P(x | click) and
    ŷ = P(click) · P(x | click). A value tower gives log1p of the value."""

    def __init__(self, sizes: list[int], n_dense: int, mean: np.ndarray, std: np.ndarray, labels: tuple[str, ...],
                 arch: str, embedding_size: int, expert_units: list[int], tower_units: list[int], n_experts: int,
                 n_shared: int, n_specific: int, levels: int, factorise: bool, sequences: tuple[str, ...] = (),
                 attention_heads: int = 2, search_k: int = 20, temperature: float = 0.1):
        super().__init__()
        self.labels, self.factorise = labels, factorise and "click" in labels
        self.register_buffer("mean", torch.as_tensor(mean))
        self.register_buffer("std", torch.as_tensor(std))
        self.register_buffer("offsets", torch.as_tensor(np.concatenate([[0], np.cumsum(sizes)[:-1]]), dtype=torch.long))
        self.embedding = nn.Embedding(int(sum(sizes)), embedding_size)   # one table, each field its own range
        self.dense = nn.Linear(n_dense, embedding_size)
        n_in = embedding_size * (len(sizes) + 1)
        if arch == "mmoe":
            self.mtl: nn.Module = MMoE(n_in, len(labels), n_experts, expert_units)
        elif arch in ("cgc", "ple"):
            self.mtl = PLE(n_in, len(labels), n_shared, n_specific, expert_units, 1 if arch == "cgc" else levels)
        else:
            raise ValueError(f"arch must be mmoe, cgc or ple, got {arch!r}")
        n_cross = embedding_size * len(sequences)
        self.towers = Bank(len(labels), expert_units[-1] + n_cross, [*tower_units, 1], activate_last=False)
        # the query: every live-side field of the sample (all but the user's id)
        self.cross = Cross(sequences, embedding_size, embedding_size * (len(sizes) - 1), attention_heads, search_k,
                           temperature) if sequences else None

    def forward(self, sparse: torch.Tensor, dense: torch.Tensor, seq: dict | None = None) -> dict:
        return self.outputs(sparse, dense, seq)[0]

    def outputs(self, sparse: torch.Tensor, dense: torch.Tensor, seq: dict | None = None, align: bool = False
                ) -> tuple[dict, torch.Tensor]:
        """The towers' outputs and, with `align` (training), Cross's alignment loss (else 0)."""
        fields = self.embedding(sparse + self.offsets)
        x = torch.cat([fields.flatten(1), self.dense((dense - self.mean) / self.std)], dim=1)
        towers_in = self.mtl(x)
        align_loss = x.new_zeros(())
        if self.cross is not None:
            def streamer(codes: torch.Tensor) -> torch.Tensor:
                return self.embedding(codes + self.offsets[1])   # the candidate's own streamer embedding table

            found, align_loss = self.cross(streamer, fields[:, 1], fields[:, 1:].flatten(1), seq, align)
            towers_in = torch.cat([towers_in, found.unsqueeze(0).expand(len(self.labels), *found.shape)], dim=2)
        z = dict(zip(self.labels, self.towers(towers_in).squeeze(2), strict=True))
        out: dict = {}
        for t in self.labels:
            if t in VALUES:
                out[t] = z[t]
            elif self.factorise and t in POST_CLICK:
                log_p = nn.functional.logsigmoid(z["click"]) + nn.functional.logsigmoid(z[t])
                out[t] = (log_p, torch.log(-torch.expm1(log_p.clamp(max=-1e-7))))
            else:
                out[t] = (nn.functional.logsigmoid(z[t]), nn.functional.logsigmoid(-z[t]))
        return out, align_loss


def fused_score(scores: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """Kuaishou's ranking score Π (1 + ŷ_xtr)^w_xtr over the weighted behaviours."""
    return np.prod([(1.0 + np.asarray(scores[k], np.float64)) ** float(w) for k, w in weights.items()], axis=0)


class MomentCross(Baseline):
    """Moment&Cross's multi-task base (Cao et al., arXiv 2408.05709) with Moment's real-time training.

    Every field is embedded (ids, room type and category, hour and weekday, the room's moment context
    bucketed by log2; continuous rates, repeat consumption and profiles through one linear layer); a
    multi-task module (`arch`: mmoe, cgc, or ple = `levels` stacked CGC layers, the deployed one) feeds one
    tower per label: click, long_view, like, comment, gift on every exposure (negatives = exposures without
    that behaviour), and watch time and gift value (log1p, squared error) on clicks. Fit offline on train,
    early-stopped on valid. Through `update` it keeps training on the revealed label stream, one Adam step
    per tick at `online_lr`: on `moment`, L_moment (first positives and exit negatives; repeats masked); on
    `fast_slow`, L_fast + L_slow; value towers learn when their session's outcome arrives.

    Adaptations to KuaiLive (the paper gives no code nor hyperparameters): no short-video domain, so only
    live-side features; long_view = watch >= `features.long_view_seconds`; Moment's 30-second ticks are the
    harness's replay ticks, trained from a fit on the train split rather than an always-on stream; `factorise`
    (off by default) makes a post-click tower P(x | click) times P(click). On topk it ranks every live room by
    the fused ranking score Π (1 + ŷ)^w (`fused_score`, weights `fusion`: ours, the paper gives none), from the
    towers an exposure-trained fit has; fitted on topk alone (its tables hold queries, no behaviour labels) it
    has the click tower only, trained on each query's room against `topk_negatives` rooms live then.
    """

    tasks = ("ctr", "multi_behavior", "watch_time", "gift_price", "topk")
    shared_fit = True

    def __init__(self, arch: str = "ple", levels: int = 2, embedding_size: int = 16,
                 expert_units: list[int] | None = None, tower_units: list[int] | None = None, n_experts: int = 4,
                 n_shared: int = 2, n_specific: int = 1, factorise: bool = False, use_profiles: bool = True,
                 epochs: int = 3, batch_size: int = 2048, lr: float = 0.001, online_lr: float = 0.00001,
                 max_train_rows: int | None = None, fusion: dict[str, float] | None = None, topk_negatives: int = 20,
                 sequences: list[str] | None = None, seq_length: int = 20, search_pool: int = 50, search_k: int = 20,
                 attention_heads: int = 2, temperature: float = 0.1, align_weight: float = 0.1):
        unknown = sorted(set(sequences or ()) - set(SEQUENCES))
        if unknown:
            raise ValueError(f"sequences: unknown {unknown}; Cross's sequences are {', '.join(SEQUENCES)}")
        if embedding_size % attention_heads:
            raise ValueError(f"embedding_size {embedding_size} must be a multiple of attention_heads {attention_heads}")
        super().__init__(arch=arch, levels=levels, embedding_size=embedding_size,
                         expert_units=list(expert_units or [64]), tower_units=list(tower_units or [32]),
                         n_experts=n_experts, n_shared=n_shared, n_specific=n_specific, factorise=factorise,
                         use_profiles=use_profiles, epochs=epochs, batch_size=batch_size, lr=lr,
                         online_lr=online_lr, max_train_rows=max_train_rows,
                         fusion=dict(fusion or {"click": 1.0, "long_view": 1.0, "gift": 1.0}),
                         topk_negatives=topk_negatives,
                         sequences=[s for s in SEQUENCES if s in (sequences or ())], seq_length=seq_length,
                         search_pool=search_pool, search_k=search_k, attention_heads=attention_heads,
                         temperature=temperature, align_weight=align_weight)
        self.cross = CrossSpec(tuple(self.params["sequences"]), seq_length, search_pool)
        self.log: dict = {}

    # --- offline ---------------------------------------------------------------------------------------
    def fit(self, train: pd.DataFrame, valid: pd.DataFrame, ctx: Context) -> None:
        p, dev = self.params, ctx.device
        labels = tuple(ctx.labels)
        if ctx.task == "topk":
            labels = ("click",)
            train, valid = (query_rows(ctx.features, t, p["topk_negatives"], ctx.seed + i)
                            for i, t in enumerate((train, valid)))
        gen = torch.Generator().manual_seed(ctx.seed)
        if p["max_train_rows"] is not None and len(train) > p["max_train_rows"]:
            keep = np.sort(torch.randperm(len(train), generator=gen)[: p["max_train_rows"]].numpy())
            train = train.iloc[keep].reset_index(drop=True)
        x = rows_inputs(ctx.features, train, p["use_profiles"], self.cross)
        xv = rows_inputs(ctx.features, valid, p["use_profiles"], self.cross)
        self.net = MomentCrossNet(field_sizes(ctx.features), x.dense.shape[1], x.dense.mean(0),
                                  x.dense.std(0) + 1e-6, labels, p["arch"], p["embedding_size"], p["expert_units"],
                                  p["tower_units"], p["n_experts"], p["n_shared"], p["n_specific"], p["levels"],
                                  p["factorise"], self.cross.names, p["attention_heads"], p["search_k"],
                                  p["temperature"]).to(dev)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=p["lr"], foreach=True)
        y, yv = (self._tensors(offline_targets(t, labels), dev) for t in (train, valid))
        sx, dx = torch.as_tensor(x.sparse, device=dev), torch.as_tensor(x.dense, device=dev)
        best, best_state, losses, seconds = np.inf, None, [], []
        for _ in range(p["epochs"]):
            t0 = time.perf_counter()
            for batch in torch.randperm(len(train), generator=gen).split(p["batch_size"]):
                seq = x.seq.tensors(batch.numpy(), dev) if x.seq is not None else None
                batch = batch.to(dev)
                loss = self._loss(sx[batch], dx[batch], seq, {k: v[batch] for k, v in y.items()})
                self.opt.zero_grad()
                loss.backward()
                self.opt.step()
            seconds.append(time.perf_counter() - t0)
            losses.append(self._valid_loss(xv, yv, dev))
            if losses[-1] >= best:
                break
            best, best_state = losses[-1], ({k: v.clone() for k, v in self.net.state_dict().items()},
                                            self.opt.state_dict())
        if best_state is not None:
            self.net.load_state_dict(best_state[0])
            self.opt.load_state_dict(best_state[1])
        for group in self.opt.param_groups:
            group["lr"] = p["online_lr"]
        self.logged_id = None   # the serving log, made at the first prediction: a saved or copied fit is small
        best_epoch = int(np.argmin(losses)) + 1
        # early-stopped: the valid loss stopped falling before the epoch budget ran out (the last epoch may be
        # the one that rose: the best one is kept)
        self.log = {"network": {"arch": p["arch"], "epochs": len(losses), "max_epochs": p["epochs"],
                                "valid_loss": losses, "best_epoch": best_epoch,
                                "early_stopped": best_epoch < len(losses),
                                "train_rows": len(train), "towers": list(labels), "seconds_per_epoch": seconds,
                                "train_samples_per_second": len(train) / max(np.mean(seconds), 1e-9)}}

    def _loss(self, sparse: torch.Tensor, dense: torch.Tensor, seq: dict | None, targets: dict[str, torch.Tensor],
              slow: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """The training loss: the towers' losses, plus Cross's alignment loss weighted by `align_weight`."""
        out, align = self.net.outputs(sparse, dense, seq, align=True)
        loss = total_loss(out, targets, slow)
        return loss if self.net.cross is None else loss + self.params["align_weight"] * align

    @staticmethod
    def _tensors(targets: dict[str, np.ndarray], dev: str) -> dict[str, torch.Tensor]:
        return {k: torch.as_tensor(v, dtype=torch.float32, device=dev) for k, v in targets.items()}

    @staticmethod
    def _batch(x: Inputs, rows, dev: str) -> tuple[torch.Tensor, torch.Tensor, dict | None]:
        """Rows of `x` (a slice or an index) as tensors: sparse, dense and the sequences (None without Cross)."""
        return (torch.as_tensor(x.sparse[rows], device=dev), torch.as_tensor(x.dense[rows], device=dev),
                x.seq.tensors(rows, dev) if x.seq is not None else None)

    def _chunks(self, x: Inputs, dev: str):
        """`x` CHUNK rows at a time: (rows, sparse, dense, sequences or None)."""
        for start in range(0, len(x.sparse), CHUNK):
            part = slice(start, start + CHUNK)
            yield (part, *self._batch(x, part, dev))

    def _valid_loss(self, xv: Inputs, yv: dict[str, torch.Tensor], dev: str) -> float:
        """The towers' loss on valid (early stopping; Cross's alignment is a training aid, not scored)."""
        total = 0.0
        with torch.no_grad():
            for part, sparse, dense, seq in self._chunks(xv, dev):
                loss = total_loss(self.net(sparse, dense, seq), {k: v[part] for k, v in yv.items()})
                total += float(loss) * len(sparse)
        return total / max(len(xv.sparse), 1)

    # --- serving ---------------------------------------------------------------------------------------
    def heads(self, x: Inputs, dev: str) -> dict[str, np.ndarray]:
        """Every tower's prediction: a probability, or a value in its own unit (seconds, gift value)."""
        parts: dict[str, list] = {t: [] for t in self.net.labels}
        with torch.no_grad():
            outs = [self.net(sparse, dense, seq) for _, sparse, dense, seq in self._chunks(x, dev)]
        for out in outs:
            for t, v in out.items():
                parts[t].append((torch.expm1(v.clamp(0.0, 30.0)) if t in VALUES else torch.exp(v[0])).cpu().numpy())
        return {t: np.concatenate(v).astype(np.float64) if v else np.empty(0) for t, v in parts.items()}

    def predict(self, test: pd.DataFrame, ctx: Context) -> np.ndarray | pd.DataFrame:
        """The task's tower(s); for multi_behavior, or "shared" when another model loads this fit, a DataFrame."""
        x = rows_inputs(ctx.features, test, self.params["use_profiles"], self.cross)
        sid = test["sample_id"].to_numpy()
        if self.logged_id is None:
            self.logged_id = np.full(LOGGED, -1, np.int64)
            self.logged_sparse = np.zeros((LOGGED, x.sparse.shape[1]), np.int64)
            self.logged_dense = np.zeros((LOGGED, x.dense.shape[1]), np.float32)
        slot = sid % LOGGED   # the serving log, joined to the labels when they are revealed
        self.logged_id[slot], self.logged_sparse[slot], self.logged_dense[slot] = sid, x.sparse, x.dense
        out = self.heads(x, ctx.device)
        if ctx.task in ("multi_behavior", "shared"):
            return pd.DataFrame({label: out[label] for label in ctx.labels if label in out})
        return out[OUTPUT[ctx.task]]

    def score_candidates(self, queries: pd.DataFrame, candidates: Candidates, ctx: Context) -> np.ndarray:
        """topk: every live room's fused ranking score Π (1 + ŷ)^w over the weighted towers this fit has."""
        q = candidates.query_index
        x = read_inputs(ctx.features, queries["user_id"].to_numpy()[q], candidates.streamer_id, candidates.live_id,
                        queries["ts"].to_numpy()[q], self.params["use_profiles"], self.cross)
        out = self.heads(x, ctx.device)
        return fused_score(out, {k: w for k, w in self.params["fusion"].items() if k in out})

    # --- online (the streaming protocol) ---------------------------------------------------------------
    def _logged_inputs(self, revealed: pd.DataFrame, ctx: Context) -> Inputs:
        """The revealed rows' inputs: from the serving log where this replay scored them, else read now (the
        sequences are always read now: the log keeps the per-row fields only)."""
        if self.logged_id is None:
            return rows_inputs(ctx.features, revealed, self.params["use_profiles"], self.cross)
        sid = revealed["sample_id"].to_numpy()
        slot = sid % LOGGED
        x = Inputs(self.logged_sparse[slot].copy(), self.logged_dense[slot].copy())
        missing = self.logged_id[slot] != sid
        if missing.any():   # never scored by this task's replay (watch_time scores clicks only): read it now
            fresh = rows_inputs(ctx.features, revealed[missing], self.params["use_profiles"])
            x.sparse[missing], x.dense[missing] = fresh.sparse, fresh.dense
        if self.cross.names:
            x.seq = read_sequences(ctx.features, *(revealed[c].to_numpy() for c in ("user_id", "streamer_id", "ts")),
                                   self.cross.names, self.cross.length, self.cross.pool)
        return x

    def update(self, revealed: pd.DataFrame, ctx: Context) -> None:
        """One Adam step on the tick's revealed labels: L_moment on `moment`, L_fast + L_slow on `fast_slow`."""
        labels = self.net.labels
        if "first_only" in revealed:
            targets, slow = moment_targets(revealed, labels), None
        else:
            targets, missed = fast_slow_targets(revealed, labels)
            slow = {k: torch.as_tensor(v, device=ctx.device) for k, v in missed.items()}
        x = self._logged_inputs(revealed, ctx)
        loss = self._loss(*self._batch(x, slice(None), ctx.device), self._tensors(targets, ctx.device), slow)
        if loss.requires_grad:
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()

    def n_params(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    def fit_log(self) -> dict:
        """The one network's training (the board's budget column reads `network`)."""
        return {"network": self.log["network"]}
