"""A tabular feature matrix from the feature store, shared by the learned simple models.

Everything comes through the store's leakage-safe accessors, so every column is known strictly
before the sample's time (profiles excepted: a documented snapshot, switchable off).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.types as pt

from benchmark.features.moment import moment_column

SMOOTH = 20.0  # pseudo-exposures pulling a sparse streamer's rates towards the global rate

TIME_COLUMNS = ["hour", "dow", "peak", "room_age_s"]
MOMENT_QUANTITIES = ("entries", "comments", "likes", "gifts", "gift_value")   # a room's moment context


def _rate(num: np.ndarray, den: np.ndarray, prior: np.ndarray, strength: float = SMOOTH) -> np.ndarray:
    return (num + strength * prior) / (den + strength)


def expanding_rates(store, field: str, values: np.ndarray, ts: np.ndarray, prefix: str) -> dict[str, np.ndarray]:
    """Smoothed click-through and per-session outcome rates of an entity, strictly before t."""
    g = store.entity_stats("all", None, ts)
    e = store.entity_stats(field, values, ts)
    g_ctr = _rate(g["clicks"], g["exposures"], np.full(ts.size, 0.3), 1.0)
    out = {f"{prefix}_exposures": e["exposures"], f"{prefix}_ctr": _rate(e["clicks"], e["exposures"], g_ctr)}
    g_rev = np.maximum(g["revealed"], 1)
    for k in ("long_view", "like", "comment", "gift"):
        out[f"{prefix}_{k}_rate"] = _rate(e[k], e["revealed"], g[k] / g_rev)
    out[f"{prefix}_log_watch"] = np.log1p(_rate(e["watch_ms"] / 1000.0, e["revealed"], g["watch_ms"] / 1000.0 / g_rev))
    out[f"{prefix}_log_gift_value"] = np.log1p(_rate(e["gift_value"], e["revealed"], g["gift_value"] / g_rev))
    return out


def moment_counts(view, live: np.ndarray, ts: np.ndarray) -> list[np.ndarray]:
    """log1p of the room's entries, comments, likes and gifts in each trailing window and since it started,
    then log1p of the room's age in seconds (0 when unknown): the room's state just before t."""
    moment = view.moment(live, ts)
    cols = [np.log1p(moment[moment_column(q, w)]) for q in ("entries", "comments", "likes", "gifts")
            for w in (*view.windows_s, None)]
    return cols + [np.log1p(np.nan_to_num(view.room_age_s(live, ts), nan=0.0).clip(0))]


def repeat_features(store, users: np.ndarray, streamers: np.ndarray, ts: np.ndarray) -> dict[str, np.ndarray]:
    """Repeat consumption of (user, streamer) before t: how often, how recently, revealed gifts."""
    p = store.pair_stats(users, streamers, ts)
    hours_since = np.where(p["last_click_ts"] >= 0, (ts - p["last_click_ts"]) / 3.6e6, 1e4)
    return {"pair_clicks": p["clicks"], "pair_log_hours_since": np.log1p(hours_since),
            "pair_gifts": p["n_gift"], "pair_log_watch": np.log1p(p["watch_ms"] / 1000.0)}


def tabular_features(table: pd.DataFrame, store, use_profiles: bool = True, only: list[str] | None = None
                     ) -> pd.DataFrame:
    """One row of features per sample in `table` (which carries sample_id, user_id, streamer_id, live_id, ts)."""
    sid = table["sample_id"].to_numpy()
    ts = table["ts"].to_numpy()
    users, streamers = table["user_id"].to_numpy(), table["streamer_id"].to_numpy()
    samples = store.samples(sid).drop(["sample_id", "split"]).to_pandas()
    if only is not None:
        return samples[only].reset_index(drop=True)
    cols: dict[str, np.ndarray] = {c: samples[c].to_numpy() for c in samples.columns}
    cols.update(expanding_rates(store, "streamer_id", streamers, ts, "streamer"))
    cols.update(expanding_rates(store, "user_id", users, ts, "user"))
    cols.update(repeat_features(store, users, streamers, ts))
    room = store.rooms(table["live_id"].to_numpy())
    cols["live_type"] = store.encode("live_type", room["live_type"])
    cols["category"] = store.encode("category", room["category"])
    _, cols["title_missing"] = store.title_embedding(table["live_id"].to_numpy())
    if use_profiles:
        for kind, ids in (("user", users), ("streamer", streamers)):
            prof = (store.user_profile if kind == "user" else store.streamer_profile)(ids)
            for c in prof.column_names:
                if c in ("user_id", "streamer_id", "known") or not pa_is_numeric(prof.schema.field(c).type):
                    continue
                cols[f"{kind}_{c}"] = prof[c].to_numpy(zero_copy_only=False)
    return pd.DataFrame(cols)


def pa_is_numeric(t) -> bool:
    """Whether a pyarrow type is integer or floating (profile codes, days, flags)."""
    import pyarrow.types as pt

    return pt.is_integer(t) or pt.is_floating(t)


def numeric_profile(table) -> list[np.ndarray]:
    """The profile's numeric codes and counts, signed log1p (the counts are heavy-tailed), 0 when unknown."""
    known = table["known"].to_numpy(zero_copy_only=False)
    out = []
    for name in table.column_names:
        field = table.schema.field(name)
        if name in ("user_id", "streamer_id", "known") or not (pt.is_integer(field.type) or pt.is_floating(field.type)):
            continue
        x = np.nan_to_num(table[name].to_numpy(zero_copy_only=False).astype(np.float64), nan=0.0)
        out.append(np.where(known, np.sign(x) * np.log1p(np.abs(x)), 0.0))
    return out
