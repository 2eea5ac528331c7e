"""Simple baselines: non-learned heuristics and a gradient-boosting model on the shared features.

Every statistic is expanding (strictly before the sample's time, from the feature store), never
in-sample. `ArtifactProbe` and `Oracle` are reference rows, never ranked.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from baselines.tabular import expanding_rates, repeat_features, tabular_features
from benchmark.interface import Baseline, Candidates, Context, moment_column

ALL_TASKS = ("ctr", "multi_behavior", "watch_time", "gift_price", "topk")


def _keys(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return (df["user_id"].to_numpy(), df["streamer_id"].to_numpy(), df["live_id"].to_numpy(), df["ts"].to_numpy())


def _as_output(labels: tuple[str, ...], scores: dict[str, np.ndarray]) -> np.ndarray | pd.DataFrame:
    """One array for a one-label task, a DataFrame with a column per label otherwise."""
    return pd.DataFrame({k: scores[k] for k in labels}) if len(labels) > 1 else scores[labels[0]]


def _from_rates(labels: tuple[str, ...], r: dict[str, np.ndarray], p: str) -> np.ndarray | pd.DataFrame:
    """Turn an entity's expanding rates into a prediction per label (a funnel label: CTR times its rate)."""
    def one(label: str) -> np.ndarray:
        if label == "click":
            return r[f"{p}_ctr"]
        if label == "watch_s":
            return np.expm1(r[f"{p}_log_watch"])
        if label == "gift_value":
            return np.expm1(r[f"{p}_log_gift_value"])
        return r[f"{p}_ctr"] * r[f"{p}_{label}_rate"]

    return _as_output(labels, {label: one(label) for label in labels})


def _live_entries(ctx: Context, live_ids: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Entries into each room over the store's longest trailing window before t (its popularity right now)."""
    return ctx.features.moment(live_ids, ts)[moment_column("entries", max(ctx.features.windows_s))]


class GlobalMean(Baseline):
    """The global rate or mean over everything known before t (topk: every candidate ties)."""

    tasks = ALL_TASKS
    deterministic = True
    learned = False

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame, ctx: Context) -> None:
        """Nothing to learn: the statistics are read from the store at prediction time."""

    def predict(self, test: pd.DataFrame, ctx: Context):
        ts = test["ts"].to_numpy()
        return _from_rates(ctx.labels, expanding_rates(ctx.features, "all", None, ts, "g"), "g")

    def score_candidates(self, queries: pd.DataFrame, candidates: Candidates, ctx: Context) -> np.ndarray:
        return np.zeros(candidates.streamer_id.size)


class Popularity(Baseline):
    """Streamer popularity before t (smoothed click-through, mean watch, gift rate); topk: live-now entries."""

    tasks = ALL_TASKS
    deterministic = True
    learned = False

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame, ctx: Context) -> None:
        """Nothing to learn."""

    def predict(self, test: pd.DataFrame, ctx: Context):
        _, streamers, _, ts = _keys(test)
        return _from_rates(ctx.labels, expanding_rates(ctx.features, "streamer_id", streamers, ts, "s"), "s")

    def score_candidates(self, queries: pd.DataFrame, candidates: Candidates, ctx: Context) -> np.ndarray:
        ts = queries["ts"].to_numpy()[candidates.query_index]
        now = _live_entries(ctx, candidates.live_id, ts)
        past = ctx.features.entity_stats("streamer_id", candidates.streamer_id, ts)["clicks"]
        return now + 1e-3 * np.log1p(past)


class RepeatConsumption(Baseline):
    """Has the user watched or gifted this streamer before t, how often and how recently."""

    tasks = ALL_TASKS
    deterministic = True
    learned = False

    @staticmethod
    def _score(store, users: np.ndarray, streamers: np.ndarray, ts: np.ndarray) -> np.ndarray:
        f = repeat_features(store, users, streamers, ts)
        recency = 1.0 / (1.0 + np.expm1(f["pair_log_hours_since"]) / 24.0)
        return np.log1p(f["pair_clicks"]) + recency + 0.5 * (f["pair_gifts"] > 0)

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame, ctx: Context) -> None:
        """Nothing to learn."""

    def predict(self, test: pd.DataFrame, ctx: Context):
        users, streamers, _, ts = _keys(test)
        score = self._score(ctx.features, users, streamers, ts)
        if ctx.kind == "regression":
            f = repeat_features(ctx.features, users, streamers, ts)
            pair = np.expm1(f["pair_log_watch"]) if ctx.labels == ("watch_s",) else f["pair_gifts"].astype(float)
            return pair / np.maximum(f["pair_clicks"], 1) + 1e-3 * score
        return _as_output(ctx.labels, {k: score for k in ctx.labels})

    def score_candidates(self, queries: pd.DataFrame, candidates: Candidates, ctx: Context) -> np.ndarray:
        q = candidates.query_index
        users, ts = queries["user_id"].to_numpy()[q], queries["ts"].to_numpy()[q]
        pop = _live_entries(ctx, candidates.live_id, ts)
        return self._score(ctx.features, users, candidates.streamer_id, ts) + 1e-4 * np.log1p(pop)


class GradientBoosting(Baseline):
    """scikit-learn histogram gradient boosting on the shared tabular features, early-stopped on valid.

    params: max_iter, learning_rate, max_leaf_nodes, max_train_rows, use_profiles (False = the
    no-profile ablation that sizes the snapshot leak), only (restrict to these sample columns).
    Deterministic: its only randomness (scikit-learn's bin-threshold subsample, the max_train_rows
    subsample) is drawn with a fixed seed 0, so it runs once (docs/baselines.md says why).
    """

    tasks = ("ctr", "multi_behavior", "watch_time", "gift_price")
    deterministic = True

    def __init__(self, max_iter: int = 300, learning_rate: float = 0.1, max_leaf_nodes: int = 31,
                 max_train_rows: int | None = None, use_profiles: bool = True, only: list[str] | None = None):
        super().__init__(max_iter=max_iter, learning_rate=learning_rate, max_leaf_nodes=max_leaf_nodes,
                         max_train_rows=max_train_rows, use_profiles=use_profiles, only=only)
        self.models: dict[str, object] = {}
        self.train_rows = 0

    def _features(self, df: pd.DataFrame, ctx: Context) -> pd.DataFrame:
        return tabular_features(df, ctx.features, use_profiles=self.params["use_profiles"], only=self.params["only"])

    @staticmethod
    def _targets(df: pd.DataFrame, ctx: Context) -> dict[str, np.ndarray]:
        """Per label: the 0/1 label, or log1p of a regression target (heavy-tailed seconds and gift value)."""
        if ctx.kind == "regression":
            return {k: np.log1p(df[k].to_numpy().astype(float)) for k in ctx.labels}
        return {k: df[k].to_numpy() for k in ctx.labels}

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame, ctx: Context) -> None:
        # imported here: scikit-learn takes seconds to import, and every other baseline runs without it
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        rng = np.random.default_rng(0)
        cap = self.params["max_train_rows"]
        if cap is not None and len(train) > cap:
            train = train.iloc[np.sort(rng.choice(len(train), cap, replace=False))]
        self.train_rows = len(train)
        x, xv = self._features(train, ctx), self._features(valid, ctx)
        yv = self._targets(valid, ctx)
        regress = ctx.kind == "regression"
        for name, y in self._targets(train, ctx).items():
            kw = dict(max_iter=self.params["max_iter"], learning_rate=self.params["learning_rate"],
                      max_leaf_nodes=self.params["max_leaf_nodes"], early_stopping=True, n_iter_no_change=20,
                      random_state=0)
            model = HistGradientBoostingRegressor(**kw) if regress else HistGradientBoostingClassifier(**kw)
            if not regress and np.unique(y).size < 2:
                self.models[name] = float(y.mean())
                continue
            model.fit(x, y, X_val=xv, y_val=yv[name])
            self.models[name] = model

    def _predict_one(self, model, x: pd.DataFrame) -> np.ndarray:
        if isinstance(model, float):
            return np.full(len(x), model)
        if hasattr(model, "predict_proba"):
            return model.predict_proba(x)[:, 1]
        return np.expm1(model.predict(x))

    def predict(self, test: pd.DataFrame, ctx: Context):
        x = self._features(test, ctx)
        return _as_output(ctx.labels, {k: self._predict_one(m, x) for k, m in self.models.items()})

    def fit_log(self) -> dict:
        """Per label: the rows trained on, boosting iterations run of max_iter, and whether early
        stopping on valid ended the fit (otherwise max_iter did)."""
        out = {}
        for name, m in self.models.items():
            its = 0 if isinstance(m, float) else int(m.n_iter_)
            out[name] = {"train_rows": self.train_rows, "iterations": its, "max_iterations": self.params["max_iter"],
                         "early_stopped": its < self.params["max_iter"]}
        return out

    def n_params(self) -> int:
        """Leaves over all trees (a tree model's free parameters)."""
        total = 0
        for m in self.models.values():
            if not isinstance(m, float):
                total += sum(p.nodes["is_leaf"].sum() for it in m._predictors for p in it)
        return int(total)


class ArtifactProbe(GradientBoosting):
    """Sees only time, room age and live status: how much could be gained from logging artefacts."""

    def __init__(self, **params):
        params.setdefault("only", ["hour", "dow", "peak", "room_age_s", "room_known"])
        params["use_profiles"] = False
        super().__init__(**params)


class Oracle(Baseline):
    """KuaiLive-Sim's ground truth (the probabilities it sampled from): the ceiling, never ranked.

    It declares `uses_oracle`, so the harness hands it the truth (`ctx.oracle`) and never ranks it.
    Unavailable on the real data (no oracle/ folder): the run fails with that message.
    params: blind (None, or "highlights", "content", "rhythm"): the ablation that hides one mechanism and
    averages over it (benchmark.sim.oracle.Oracle.variants); its gap to the Oracle sizes what a model can
    gain from that mechanism. A row-level sample given a click (watch, gift value) weighs each hidden
    state by its posterior given the click. topk ("exposure" or "preference"): on topk, rank a query's live
    rooms by P(the feed shows it at t) x P(click | shown), a room the user entered before t scoring 0 (the
    task's query rule): the ceiling; or by P(click | shown) alone, the user's preference ignoring who is
    shown what.
    """

    tasks = ALL_TASKS
    deterministic = True
    uses_oracle = True  # the harness hands it ctx.oracle; this declaration alone makes it an unranked row

    def __init__(self, blind: str | None = None, topk: str = "exposure"):
        if topk not in ("exposure", "preference"):
            raise ValueError(f"Oracle: topk must be 'exposure' or 'preference', not {topk!r}")
        super().__init__(blind=blind, topk=topk)

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame, ctx: Context) -> None:
        self.oracle = ctx.oracle
        self.long_view_ms = int(ctx.features.long_view_ms)

    def predict(self, test: pd.DataFrame, ctx: Context):
        users, _, lives, ts = _keys(test)
        t = self.oracle.truth
        variants = self.oracle.variants(users, lives, ts, self.params["blind"])
        clicks = [w * t.click_prob(c) for w, c in variants]  # P(hidden state) x P(click | it)
        if ctx.kind == "regression":
            value = {"watch_s": lambda c: t.expected_watch(c) / 1000.0, "gift_value": t.expected_gift_value}
            if len(variants) == 1:
                return _as_output(ctx.labels, {k: value[k](variants[0][1]) for k in ctx.labels})
            total = np.sum(clicks, axis=0)
            return _as_output(ctx.labels, {k: sum(p * value[k](c) for p, (_, c) in zip(clicks, variants, strict=True))
                                           / total for k in ctx.labels})
        given_click = {"long_view": lambda c: t.p_watch_at_least(c, self.long_view_ms),
                       "like": lambda c: t.event_prob(c, "like"), "comment": lambda c: t.event_prob(c, "comment"),
                       "gift": lambda c: t.event_prob(c, "gift")}
        return _as_output(ctx.labels, {k: np.sum(clicks, axis=0) if k == "click" else
                                       sum(p * given_click[k](c) for p, (_, c) in zip(clicks, variants, strict=True))
                                       for k in ctx.labels})

    def score_candidates(self, queries: pd.DataFrame, candidates: Candidates, ctx: Context) -> np.ndarray:
        q = candidates.query_index
        users, ts = queries["user_id"].to_numpy(), queries["ts"].to_numpy()
        variants = self.oracle.variants(users[q], candidates.live_id, ts[q], self.params["blind"])
        t = self.oracle.truth
        if self.params["topk"] == "preference":
            return np.sum([w * t.click_prob(c) for w, c in variants], axis=0)
        score = np.sum([w * t.exposure_prob(c) * t.click_prob(c) for w, c in variants], axis=0)
        seq = ctx.features.sequences(users, ts, kinds=["click"])  # every room each user entered before t
        entered = pd.MultiIndex.from_arrays([np.repeat(np.arange(len(queries)), seq.lengths), seq.columns["live_id"]])
        return np.where(pd.MultiIndex.from_arrays([q, candidates.live_id]).isin(entered), 0.0, score)
