"""RecBole 1.2.1's own models behind the baseline interface: context-aware CTR models and ranking models.

`ContextModel` (ctr, multi_behavior, watch_time, gift_price): LR, FM, WideDeep, DeepFM, xDeepFM, DCN,
DCNV2, AutoInt, and the history models DIN and DIEN; RecBole is single-task, so multi_behavior trains
one model per label. watch_time and gift_price train on log1p(target) scaled into [0, 1] by the train
maximum, a soft label for RecBole's BCE loss (docs/recbole.md says why that is sound).
`RankingModel` (topk): Pop, BPR, LightGCN, GRU4Rec, SASRec, scored by full_sort_predict and ranked by
the harness over every live candidate; a user's past streamers are never masked.
The harness's split is the only split; RecBole's evaluation never produces a reported number.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from baselines.recbole.atomic import (
    SPLIT_FILES,
    TrainScaler,
    context_frame,
    history_matrix,
    profile_frame,
    seq_tokens,
    write_atomic,
)
from baselines.recbole.engine import DATASET_NAME, Fitted, Prepared, make_config
from benchmark.interface import Baseline, Candidates, Context
from benchmark.metrics import ndcg_gains, target_rank

HISTORY_CTR = ("DIN", "DIEN")
SEQUENTIAL_TOPK = ("GRU4Rec", "SASRec")
QUERY_CHUNK = 256
LABEL = "label"          # the one label column of the atomic files; each label's values are swapped in
PLACEHOLDER_ROWS = 64    # the test file RecBole insists on: never evaluated


def _subsample(df: pd.DataFrame, cap: int | None, rng: np.random.Generator) -> pd.DataFrame:
    """A seeded random subsample of at most `cap` rows, kept in time order (all rows when cap is None)."""
    if cap is None or len(df) <= cap:
        return df
    return df.iloc[np.sort(rng.choice(len(df), int(cap), replace=False))]


def _common(p: dict[str, Any]) -> dict[str, Any]:
    """RecBole settings every model shares, from the model's params block."""
    out = {"epochs": p["epochs"], "stopping_step": p["stopping_step"], "embedding_size": p["embedding_size"],
           "train_batch_size": p["train_batch_size"], "eval_batch_size": p["eval_batch_size"],
           "learning_rate": p["learning_rate"], "MAX_ITEM_LIST_LENGTH": p["hist_len"]}
    out.update(p.get("settings") or {})
    return out


class _RecBoleBaseline(Baseline):
    def __init__(self, model: str = "DeepFM", epochs: int = 10, stopping_step: int = 2, embedding_size: int = 64,
                 train_batch_size: int = 2048, eval_batch_size: int = 8192, learning_rate: float = 1e-3,
                 hist_len: int = 20, use_profiles: bool = True, max_train_rows: int | None = None,
                 max_valid_rows: int | None = None, settings: dict | None = None):
        super().__init__(model=model, epochs=epochs, stopping_step=stopping_step, embedding_size=embedding_size,
                         train_batch_size=train_batch_size, eval_batch_size=eval_batch_size,
                         learning_rate=learning_rate, hist_len=hist_len, use_profiles=use_profiles,
                         max_train_rows=max_train_rows, max_valid_rows=max_valid_rows, settings=settings)
        self.fitted: dict[str, Fitted] = {}

    def _entity_files(self, files: Path, store, users: np.ndarray, streamers: np.ndarray,
                      use_profiles: bool) -> dict[str, list[str]]:
        """klb.user / klb.item with every known id (profile tokens when use_profiles); their load_col."""
        cols: dict[str, list[str]] = {}
        for kind, suffix, ids in (("user", "user", users), ("streamer", "item", streamers)):
            ids = np.unique(ids)
            frame = (profile_frame(store, kind, ids) if use_profiles
                     else pd.DataFrame({"user_id" if kind == "user" else "item_id": ids}))
            write_atomic(files / f"{DATASET_NAME}.{suffix}", {c: ("token", frame[c].to_numpy()) for c in frame})
            cols[suffix] = list(frame.columns)
        return cols

    def n_params(self) -> int:
        return int(sum(p.numel() for f in self.fitted.values() for p in f.model.parameters()))

    def fit_log(self) -> dict[str, Any]:
        """Per fitted RecBole model (a label, or 'model' for topk): seconds of each epoch (training plus the
        valid evaluation early stopping reads), epochs run of the budget, whether early stopping ended the
        fit (otherwise the epoch budget did) and the rows it trained on."""
        budget = int(self.params["epochs"])
        return {name: {"epoch_seconds": [round(float(s), 3) for s in f.epoch_seconds],
                       "epochs": len(f.epoch_seconds), "max_epochs": budget,
                       "early_stopped": len(f.epoch_seconds) < budget, "train_rows": len(f.train_data._dataset)}
                for name, f in self.fitted.items()}


class ContextModel(_RecBoleBaseline):
    """A RecBole context-aware (or DIN/DIEN history) model per label, early-stopped on valid; on watch_time
    and gift_price trained on log1p(target) / train max as a soft label (BCE's minimiser is its mean)."""

    tasks = ("ctr", "multi_behavior", "watch_time", "gift_price")

    @staticmethod
    def _labels(ctx: Context) -> tuple[str, ...]:
        """One RecBole model per label; a regression target trains as the soft label `target`."""
        return ("target",) if ctx.kind == "regression" else ctx.labels

    def _targets(self, df: pd.DataFrame, ctx: Context) -> dict[str, np.ndarray]:
        if ctx.kind == "regression":
            y = np.log1p(df[ctx.labels[0]].to_numpy(np.float64))
            return {"target": np.clip(y / self.scale, 0.0, 1.0)}
        return {k: df[k].to_numpy(np.float64) for k in self._labels(ctx)}

    def _history(self, store, df: pd.DataFrame, rng: np.random.Generator):
        items, counts = history_matrix(store, df["user_id"].to_numpy(), df["ts"].to_numpy(), self.params["hist_len"])
        seqs = {"item_id_list": items}
        if self.params["model"] == "DIEN":  # DIEN's auxiliary loss needs a negative per history position
            neg = self.neg_pool[rng.integers(0, self.neg_pool.size, items.shape)]
            seqs["neg_item_id_list"] = np.where(items >= 0, neg, -1)
        return seqs, counts

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame, ctx: Context) -> None:
        self.fit_recbole(train, valid, ctx)

    def fit_recbole(self, train: pd.DataFrame, valid: pd.DataFrame, ctx: Context,
                    recbole_test: pd.DataFrame | None = None) -> None:
        """Train one RecBole model per label on one dataset build (only the label column differs).

        RecBole insists on a test file: a few valid rows stand in for it, or `recbole_test` (with labels)
        for the parity check against RecBole's own trainer.evaluate."""
        store, files = ctx.features, ctx.work_dir / DATASET_NAME
        history_model = self.params["model"] in HISTORY_CTR
        rng = np.random.default_rng(ctx.seed)
        train = _subsample(train, self.params["max_train_rows"], rng)
        valid = _subsample(valid, self.params["max_valid_rows"], rng)
        self.neg_pool = np.unique(train["streamer_id"].to_numpy())
        if ctx.kind == "regression":
            self.scale = max(float(np.log1p(train[ctx.labels[0]].to_numpy(np.float64)).max()), 1e-6)
        parts = {"train": train, "valid": valid,
                 "test": valid.iloc[:PLACEHOLDER_ROWS] if recbole_test is None else recbole_test}
        frames = {}
        for name, df in parts.items():
            tokens, floats = context_frame(df, store)
            if name == "train":
                self.scaler = TrainScaler().fit(floats)
            frames[name] = (tokens, self.scaler.transform(floats))
        labels = {name: self._targets(df, ctx) for name, df in parts.items()}
        first = self._labels(ctx)[0]
        for name, df in parts.items():
            tokens, floats = frames[name]
            cols: dict[str, tuple[str, Any]] = {c: ("token", tokens[c].to_numpy()) for c in tokens}
            if history_model:
                seqs, _ = self._history(store, df, rng)
                cols.update({k: ("token_seq", seq_tokens(v, (v >= 0).sum(axis=1))) for k, v in seqs.items()})
            else:
                cols.update({c: ("float", floats[c].to_numpy()) for c in floats})
            cols[LABEL] = ("float", labels[name][first])
            write_atomic(files / f"{DATASET_NAME}.{name}.inter", cols)
        entity_cols = self._entity_files(files, store, np.concatenate([train["user_id"], valid["user_id"]]),
                                         np.concatenate([train["streamer_id"], valid["streamer_id"]]),
                                         self.params["use_profiles"])
        float_cols = [] if history_model else list(frames["train"][1].columns)
        token_cols = ["user_id", "item_id"] if history_model else list(frames["train"][0].columns)
        seq_cols = (["item_id_list"] + (["neg_item_id_list"] if self.params["model"] == "DIEN" else [])
                    if history_model else [])
        regression = ctx.kind == "regression"
        settings = {
            **_common(self.params), "LABEL_FIELD": LABEL, "threshold": None,
            "load_col": {"inter": token_cols + float_cols + seq_cols + [LABEL], **entity_cols},
            "numerical_features": float_cols, "train_neg_sample_args": None,
            "eval_args": {"split": {"RS": [0.8, 0.1, 0.1]}, "order": "TO" if history_model else "RO",
                          "group_by": None, "mode": "labeled"},
            "metrics": ["AUC", "LogLoss"], "valid_metric": "LogLoss" if regression else "AUC",
            "valid_metric_bigger": not regression,
        }
        if history_model:
            settings["alias_of_item_id"] = seq_cols
        prepared = None
        for label in self._labels(ctx):
            config = make_config(self.params["model"], ctx.work_dir, ctx.seed, ctx.device, ctx.quiet, settings)
            if prepared is None:
                prepared = Prepared(config, ctx.work_dir)
                prepared.check_rows(LABEL, {name: y[label] for name, y in labels.items()})
            else:
                prepared.relabel(LABEL, {name: y[label] for name, y in labels.items()})
            fitted = Fitted(config, ctx.work_dir, prepared)
            fitted.fit_early_stopped()
            self.fitted[label] = fitted

    def predict(self, test: pd.DataFrame, ctx: Context) -> np.ndarray | pd.DataFrame:
        tokens, floats = context_frame(test, ctx.features)
        floats = self.scaler.transform(floats)
        history = (self._history(ctx.features, test, np.random.default_rng(ctx.seed))
                   if self.params["model"] in HISTORY_CTR else None)
        out = {}
        for label, fitted in self.fitted.items():
            fields = fitted.dataset.field2type
            numeric = fitted.config["numerical_features"]
            inter = fitted.interaction({c: tokens[c].to_numpy() for c in tokens if c in fields},
                                       {c: floats[c].to_numpy() for c in floats if c in numeric},
                                       history)
            out[label] = fitted.predict(inter, self.params["eval_batch_size"]).astype(np.float64)
        if ctx.kind == "regression":
            return np.expm1(out["target"] * self.scale)
        return pd.DataFrame(out) if len(out) > 1 else out[ctx.labels[0]]


class RankingModel(_RecBoleBaseline):
    """A RecBole general or sequential recommender trained on the train period's clicks; early stopping
    on NDCG@10 of the valid queries over their live candidates, unmasked, as the harness ranks."""

    tasks = ("topk",)

    def predict(self, test: pd.DataFrame, ctx: Context) -> np.ndarray:
        raise NotImplementedError("RankingModel serves topk only: it ranks candidates (score_candidates)")

    def _sequential(self) -> bool:
        return self.params["model"] in SEQUENTIAL_TOPK

    def _rows(self, store, users: np.ndarray, items: np.ndarray, ts: np.ndarray) -> dict[str, tuple[str, Any]]:
        cols: dict[str, tuple[str, Any]] = {"user_id": ("token", users), "item_id": ("token", items),
                                            "timestamp": ("float", ts.astype(np.float64))}
        if self._sequential():
            hist, counts = history_matrix(store, users, ts, self.params["hist_len"])
            cols["item_id_list"] = ("token_seq", seq_tokens(hist, counts))
        return cols

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame, ctx: Context) -> None:
        store, files = ctx.features, ctx.work_dir / DATASET_NAME
        log = store.click_log(*store.periods["train"])  # every click of the train period, not only its queries
        rows = {"train": self._rows(store, log["user_id"], log["streamer_id"], log["ts"]),
                "valid": self._rows(store, valid["user_id"].to_numpy(), valid["target_streamer_id"].to_numpy(),
                                    valid["ts"].to_numpy())}
        rows["test"] = rows["valid"]  # a placeholder RecBole requires; test queries are scored in score_candidates
        for name in SPLIT_FILES:
            write_atomic(files / f"{DATASET_NAME}.{name}.inter", rows[name])
        entity_cols = self._entity_files(files, store, log["user_id"], store.known_streamers(), False)
        seq = self._sequential()
        general_neg = {"distribution": "uniform", "sample_num": 1, "alpha": 1.0, "dynamic": False, "candidate_num": 0}
        settings = {
            **_common(self.params),
            "load_col": {"inter": ["user_id", "item_id", "timestamp"] + (["item_id_list"] if seq else []),
                         **entity_cols},
            "train_neg_sample_args": None if seq or self.params["model"] == "Pop" else general_neg,
            "eval_args": {"split": {"RS": [0.8, 0.1, 0.1]}, "order": "TO" if seq else "RO", "group_by": "user",
                          "mode": "full"},
            "metrics": ["NDCG"], "topk": [10], "valid_metric": "NDCG@10",
        }
        if seq:
            settings["alias_of_item_id"] = ["item_id_list"]
        fitted = Fitted(make_config(self.params["model"], ctx.work_dir, ctx.seed, ctx.device, ctx.quiet, settings),
                        ctx.work_dir)
        self.fitted = {"model": fitted}
        self._train(fitted, valid, ctx)

    def _train(self, fitted: Fitted, valid: pd.DataFrame, ctx: Context) -> None:
        """Epochs of RecBole's own training step; keep the epoch with the best valid NDCG@10."""
        best, best_state, wait = -np.inf, None, 0
        for epoch in range(int(self.params["epochs"])):
            start = time.perf_counter()
            fitted.model.train()
            fitted.trainer._train_epoch(fitted.train_data, epoch, show_progress=not ctx.quiet)
            score = self._valid_ndcg(valid, ctx)
            fitted.epoch_seconds.append(time.perf_counter() - start)
            if score > best:
                best, best_state, wait = score, copy.deepcopy(fitted.model.state_dict()), 0
            else:
                wait += 1
                if wait >= int(self.params["stopping_step"]):
                    break
        fitted.model.load_state_dict(best_state)
        _reset_cache(fitted.model)
        self.best_valid_ndcg = float(best)

    def _valid_ndcg(self, valid: pd.DataFrame, ctx: Context) -> float:
        """NDCG@10 of the valid queries over all their live candidates, by the harness's rank rule."""
        _reset_cache(self.fitted["model"].model)
        ts, targets = valid["ts"].to_numpy(), valid["target_streamer_id"].to_numpy()
        ranks = np.full(len(valid), 11.0)  # a target not live at its query time (none should be): gain 0
        for i in range(0, len(valid), QUERY_CHUNK):
            sl = slice(i, i + QUERY_CHUNK)
            offsets, streamer, live = ctx.features.candidates(ts[sl])
            cand = Candidates(offsets, streamer, live)
            scores = self.score_candidates(valid.iloc[sl].reset_index(drop=True), cand, ctx)
            q = cand.query_index
            is_t = streamer == targets[sl][q]
            t_score = np.zeros(offsets.size - 1)
            t_score[q[is_t]] = scores[is_t]
            found = np.bincount(q[is_t], minlength=offsets.size - 1) > 0
            ranks[sl] = np.where(found, target_rank(t_score, scores, offsets, target_included=True), 11.0)
        return float(ndcg_gains(ranks, 10).mean()) if ranks.size else 0.0

    def score_candidates(self, queries: pd.DataFrame, candidates: Candidates, ctx: Context) -> np.ndarray:
        fitted = self.fitted["model"]
        users, ts = queries["user_id"].to_numpy(), queries["ts"].to_numpy()
        history = None
        if self._sequential():
            items, counts = history_matrix(ctx.features, users, ts, self.params["hist_len"])
            history = ({"item_id_list": items}, counts)
        inter = fitted.interaction({"user_id": users}, history=history)
        full = fitted.full_sort(inter)
        return full[candidates.query_index, fitted.ids(fitted.dataset.iid_field, candidates.streamer_id)]


def _reset_cache(model: torch.nn.Module) -> None:
    """LightGCN-style models cache their propagated embeddings for evaluation; drop them after weights change."""
    for name in ("restore_user_e", "restore_item_e"):
        if hasattr(model, name):
            setattr(model, name, None)
