"""Calibration report: KuaiLive-Sim's marginal statistics next to the published KuaiLive figures."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
from tabulate import tabulate

from benchmark.data import schema
from benchmark.errors import BenchmarkError
from benchmark.sim.oracle import T0_MS, T1_MS, is_weekend

# label, stat key, format
ROWS: list[tuple[str, str, str]] = [
    ("comments / click", "comments_per_click", ".4f"),
    ("likes / click", "likes_per_click", ".4f"),
    ("gifts / click", "gifts_per_click", ".4f"),
    ("negatives / click", "negatives_per_click", ".2f"),
    ("watch median (s)", "watch_median_s", ".1f"),
    ("watch mean (s)", "watch_mean_s", ".1f"),
    ("gift_price median", "gift_median", ".0f"),
    ("gift_price mean", "gift_mean", ".1f"),
    ("gift_price P90", "gift_p90", ".0f"),
    ("gift_price P99", "gift_p99", ".0f"),
    ("gift_price max", "gift_max", ".0f"),
    ("streamers with < 5 interactions", "streamers_lt5_share", ".3f"),
    ("top-1% users' share of gift value", "top1pct_gift_share", ".3f"),
    ("gifts with ts == a click ts", "gift_snap_share", ".3f"),
    ("rooms per room row", "rooms_per_row", ".4f"),
    ("room starts in 18:00-24:00 +08", "evening_start_share", ".3f"),
    ("users", "users", ",d"),
    ("streamers", "streamers", ",d"),
    ("distinct rooms", "rooms_distinct", ",d"),
    ("room rows", "room_rows", ",d"),
    ("clicks", "clicks", ",d"),
    ("negatives", "negatives", ",d"),
    ("comments", "comments", ",d"),
    ("likes", "likes", ",d"),
    ("gifts", "gifts", ",d"),
    ("oracle click AUC", "oracle_auc", ".4f"),
]


def published_figures() -> dict[str, Any]:
    """The published KuaiLive statistics (paper, documentation, third-party counts); None = not published."""
    return {
        "comments_per_click": 196526 / 4909515, "likes_per_click": 179311 / 4909515,
        "gifts_per_click": 72646 / 4909515, "negatives_per_click": 12705835 / 4909515,
        "watch_median_s": 5.0, "watch_mean_s": 120.0,
        "gift_median": 2, "gift_mean": 82.7, "gift_p90": 88, "gift_p99": 1488, "gift_max": 13140,
        "streamers_lt5_share": 0.70, "top1pct_gift_share": 0.60, "gift_snap_share": 0.982,
        "rooms_per_row": 11613708 / 11819964, "evening_start_share": None,
        "users": 23772, "streamers": 452621, "rooms_distinct": 11613708, "room_rows": 11819964,
        "clicks": 4909515, "negatives": 12705835, "comments": 196526, "likes": 179311, "gifts": 72646,
        "oracle_auc": None,
    }


def _read(path: Path, columns: list[str]) -> pd.DataFrame:
    opts = pcsv.ConvertOptions(include_columns=columns)
    return pcsv.read_csv(path, convert_options=opts).to_pandas()


def compute_stats(source: Path) -> dict[str, Any]:
    """Every statistic of the report, read from source/KuaiLive/ (and source/oracle/ when present)."""
    raw = Path(source) / schema.FOLDER
    if not raw.is_dir():
        raise BenchmarkError(f"{source}: no {schema.FOLDER}/ folder to report on")
    ev_cols = ["user_id", "live_id", "streamer_id", "timestamp"]
    click = _read(raw / "click.csv", ev_cols + ["watch_live_time"])
    comment, like = _read(raw / "comment.csv", ev_cols), _read(raw / "like.csv", ev_cols)
    gift = _read(raw / "gift.csv", ev_cols + ["gift_price"])
    n_neg = pcsv.read_csv(raw / "negative.csv", convert_options=pcsv.ConvertOptions(
        include_columns=["user_id"])).num_rows
    room = _read(raw / "room.csv", ["live_id", "start_timestamp"])
    n_users = pcsv.read_csv(raw / "user.csv", convert_options=pcsv.ConvertOptions(
        include_columns=["user_id"])).num_rows
    streamer_ids = _read(raw / "streamer.csv", ["streamer_id"])["streamer_id"].to_numpy()
    nc = max(len(click), 1)
    watch_s = click["watch_live_time"].to_numpy() / 1000.0
    price = gift["gift_price"].to_numpy()
    inter = pd.concat([d["streamer_id"] for d in (click, comment, like, gift)]).value_counts()
    per_streamer = inter.reindex(streamer_ids, fill_value=0).to_numpy()
    value = gift.groupby("user_id")["gift_price"].sum()
    by_user = np.sort(value.reindex(value.index.union(click["user_id"].unique()), fill_value=0).to_numpy())[::-1]
    top = max(1, int(round(0.01 * n_users)))
    keys = pd.MultiIndex.from_frame(click[["user_id", "live_id", "timestamp"]])
    snap = pd.MultiIndex.from_frame(gift[["user_id", "live_id", "timestamp"]]).isin(keys)
    starts = room.drop_duplicates("live_id")["start_timestamp"].to_numpy()
    hour = ((starts + schema.TZ_OFFSET_MS) % schema.DAY_MS) // 3_600_000
    stats = {
        "comments_per_click": len(comment) / nc, "likes_per_click": len(like) / nc,
        "gifts_per_click": len(gift) / nc, "negatives_per_click": n_neg / nc,
        "watch_median_s": float(np.median(watch_s)) if len(watch_s) else np.nan,
        "watch_mean_s": float(watch_s.mean()) if len(watch_s) else np.nan,
        "gift_median": float(np.median(price)) if len(price) else np.nan,
        "gift_mean": float(price.mean()) if len(price) else np.nan,
        "gift_p90": float(np.percentile(price, 90)) if len(price) else np.nan,
        "gift_p99": float(np.percentile(price, 99)) if len(price) else np.nan,
        "gift_max": float(price.max()) if len(price) else np.nan,
        "streamers_lt5_share": float((per_streamer < 5).mean()),
        "top1pct_gift_share": float(by_user[:top].sum() / max(by_user.sum(), 1)),
        "gift_snap_share": float(snap.mean()) if len(snap) else np.nan,
        "rooms_per_row": room["live_id"].nunique() / max(len(room), 1),
        "evening_start_share": float((hour >= 18).mean()),
        "users": n_users, "streamers": len(streamer_ids), "rooms_distinct": int(room["live_id"].nunique()),
        "room_rows": len(room), "clicks": len(click), "negatives": n_neg, "comments": len(comment),
        "likes": len(like), "gifts": len(gift),
        "oracle_auc": oracle_auc(Path(source)) if (Path(source) / "oracle" / "exposures.parquet").exists() else None,
    }
    return stats


def _load(source: Path) -> dict[str, pd.DataFrame]:
    """The release CSVs of source/KuaiLive/ as DataFrames (plus oracle/exposures.parquet when present)."""
    raw = Path(source) / schema.FOLDER
    out = {name[:-4]: pcsv.read_csv(raw / name).to_pandas() for name in schema.RAW_FILES}
    exp = Path(source) / "oracle" / "exposures.parquet"
    if exp.exists():
        out["oracle_exposures"] = pq.read_table(exp).to_pandas()
    return out


def _hour(ts: np.ndarray) -> np.ndarray:
    return ((np.asarray(ts) + schema.TZ_OFFSET_MS) % schema.DAY_MS) / 3_600_000.0


def _gini(x: np.ndarray) -> float:
    x = np.sort(np.asarray(x, dtype=np.float64))
    if x.sum() <= 0:
        return 0.0
    n = x.size
    return float((2 * np.arange(1, n + 1) - n - 1).dot(x) / (n * x.sum()))


def mechanism_stats(source: Path) -> dict[str, float]:
    """One statistic per mechanism, measured on the written files (see docs/simulator.md, "Detecting ...").

    Each is large with its mechanism switched on and near its null value with it switched off.
    """
    d = _load(Path(source))
    click, neg, room = d["click"], d["negative"], d["room"]
    rooms = room.drop_duplicates("live_id")
    out: dict[str, float] = {}
    # popularity_tail: Gini of clicks over streamers.
    per_streamer = click["streamer_id"].value_counts().reindex(d["streamer"]["streamer_id"], fill_value=0)
    out["popularity_gini"] = _gini(per_streamer.to_numpy())
    # category_clusters: nearest-category-centroid accuracy of the title embeddings (chance = largest share).
    emb = np.load(Path(source) / schema.FOLDER / schema.EMBEDDINGS_FILE)
    titled = room[room["live_name_id"] >= 0].drop_duplicates("live_name_id")
    ids = np.sort(room.loc[room["live_name_id"] >= 0, "live_name_id"].unique())
    x = emb[np.searchsorted(ids, titled["live_name_id"].to_numpy())].astype(np.float64)
    cats, y = np.unique(titled["live_content_category"].to_numpy(), return_inverse=True)
    half = np.arange(len(y)) % 2 == 0
    cent = np.stack([x[half & (y == k)].mean(axis=0) if (half & (y == k)).any() else np.full(x.shape[1], np.inf)
                     for k in range(len(cats))])
    pred = np.argmin(((x[~half, None, :] - cent[None]) ** 2).sum(axis=2), axis=1)
    out["title_category_accuracy"] = float((pred == y[~half]).mean())
    out["title_category_chance"] = float(np.bincount(y[~half]).max() / max((~half).sum(), 1))
    # daily_peak: share of room starts and of exposures in 18:00-24:00 +08.
    out["evening_start_share"] = float((_hour(rooms["start_timestamp"]) >= 18).mean())
    ts_all = np.concatenate([click["timestamp"].to_numpy(), neg["timestamp"].to_numpy()])
    out["evening_exposure_share"] = float((_hour(ts_all) >= 18).mean())
    # daily_rhythm: successive clicks of a user on the same streamer, 12-36 h apart; share within 24 +- 1.5 h,
    # over the same share when the clicks' times of day are shuffled across pairs (1 = no daily rhythm).
    c = click.sort_values(["user_id", "streamer_id", "timestamp"])
    same = (c["user_id"].to_numpy()[1:] == c["user_id"].to_numpy()[:-1]) & (
        c["streamer_id"].to_numpy()[1:] == c["streamer_id"].to_numpy()[:-1])
    t = c["timestamp"].to_numpy()
    t0, t1 = t[:-1][same], t[1:][same]
    lag_h = (t1 - t0) / 3_600_000.0
    w = (lag_h >= 12) & (lag_h <= 36)
    day0, day1 = (t0[w] + schema.TZ_OFFSET_MS) // schema.DAY_MS, (t1[w] + schema.TZ_OFFSET_MS) // schema.DAY_MS
    h0, h1 = _hour(t0[w]), _hour(t1[w])
    obs = np.abs(((day1 - day0) * 24 + h1 - h0) - 24) <= 1.5
    rng = np.random.default_rng(0)
    null = np.mean([np.mean(np.abs(((day1 - day0) * 24 + rng.permutation(h1) - h0) - 24) <= 1.5) for _ in range(20)])
    out["lag24_peak_ratio"] = float(obs.mean() / null) if w.sum() and null > 0 else float("nan")
    out["lag24_pairs"] = float(w.sum())
    # favourites: share of clicks on the user's 3 most clicked streamers.
    top = (click.groupby(["user_id", "streamer_id"]).size().groupby(level=0, group_keys=False)
           .apply(lambda s: s.nlargest(3).sum()))
    out["top3_streamer_click_share"] = float(top.sum() / max(len(click), 1))
    # highlights and room_age need the oracle's highlight flags / the room table.
    lab = _labelled_exposures(d)
    if lab is not None:
        out["highlight_ctr_ratio"] = _mh_ratio(lab)
    starts = rooms.set_index("live_id")["start_timestamp"]
    exp_ts = pd.concat([click[["live_id", "timestamp"]], neg[["live_id", "timestamp"]]])
    age_min = (exp_ts["timestamp"].to_numpy() - starts.reindex(exp_ts["live_id"]).to_numpy()) / 60_000.0
    out["fresh_exposure_share"] = float((age_min < 3).mean())
    # funnel: like+comment rate per click in the top over the bottom watch-time quartile (events attributed
    # to the latest click of the same user and room at or before them).
    ev = pd.concat([d["comment"], d["like"]])[["user_id", "live_id", "timestamp"]]
    att = attribute(click, ev)
    n_ev = np.bincount(att[att >= 0], minlength=len(click))
    q = pd.qcut(click["watch_live_time"].rank(method="first"), 4, labels=False).to_numpy()
    rate = pd.Series(n_ev > 0).groupby(q).mean()
    out["funnel_top_bottom_ratio"] = float(rate.iloc[-1] / max(rate.iloc[0], 1e-9))
    # gift_concentration: Gini of gift counts over users, and the top-1% users' share of gift value.
    gifts = d["gift"].groupby("user_id").size().reindex(d["user"]["user_id"], fill_value=0)
    out["gift_count_gini"] = _gini(gifts.to_numpy())
    value = d["gift"].groupby("user_id")["gift_price"].sum().reindex(d["user"]["user_id"], fill_value=0)
    v = np.sort(value.to_numpy())[::-1]
    out["top1pct_gift_share"] = float(v[:max(1, round(0.01 * v.size))].sum() / max(v.sum(), 1))
    # activity_tail: exposures per user, P90 over P10.
    per_user = pd.concat([click["user_id"], neg["user_id"]]).value_counts()
    out["user_activity_p90_p10"] = float(np.percentile(per_user, 90) / max(np.percentile(per_user, 10), 1))
    # side_signal: Spearman of the ordinal profile bins with whole-window activity.
    u = d["user"].set_index("user_id")
    clicks_u = click["user_id"].value_counts().reindex(u.index, fill_value=0)
    out["user_profile_activity_spearman"] = _spearman(_range_code(u["accu_watch_live_cnt"]), clicks_u.to_numpy())
    sdf = d["streamer"].set_index("streamer_id")
    out["streamer_fans_clicks_spearman"] = _spearman(_range_code(sdf["fans_user_num"]),
                                                     per_streamer.reindex(sdf.index).to_numpy())
    # snap_timestamps: events whose timestamp equals a click of the same user in the same room.
    keys = pd.MultiIndex.from_frame(click[["user_id", "live_id", "timestamp"]])
    evs = pd.concat([d["comment"], d["like"], d["gift"]])[["user_id", "live_id", "timestamp"]]
    snapped = pd.MultiIndex.from_frame(evs).isin(keys)
    out["event_snap_share"] = float(snapped.mean()) if len(evs) else float("nan")
    # touched_rooms_only: share of room.csv rooms that some click or negative touched.
    touched = set(click["live_id"].unique()) | set(neg["live_id"].unique())
    out["touched_room_share"] = float(rooms["live_id"].isin(touched).mean())
    # active_selection: share of users with at least one click, comment, like and gift.
    uid = d["user"]["user_id"]
    has = [uid.isin(x["user_id"].unique()) for x in (click, d["comment"], d["like"], d["gift"])]
    out["all_four_share"] = float(np.logical_and.reduce(has).mean())
    # release_quirks: unattributed events, click/room streamer mismatch, later-date title changes.
    out["unattributed_share"] = float((attribute(click, evs) < 0).mean()) if len(evs) else float("nan")
    room_streamer = rooms.set_index("live_id")["streamer_id"]
    out["streamer_mismatch_share"] = float((click["streamer_id"].to_numpy()
                                            != room_streamer.reindex(click["live_id"]).to_numpy()).mean())
    multi = room[room.duplicated("live_id", keep=False)]
    out["title_change_rooms"] = float(multi.groupby("live_id")["live_name_id"].nunique().gt(1).sum())
    both = pd.MultiIndex.from_frame(neg[["user_id", "live_id"]]).isin(
        pd.MultiIndex.from_frame(click[["user_id", "live_id"]]))
    out["negative_and_click_pairs"] = float(both.sum())
    out.update(sim2_stats(Path(source), d, lab))
    return out


def sim2_stats(source: Path, d: dict[str, pd.DataFrame], lab: pd.DataFrame | None) -> dict[str, float]:
    """The detection statistics of kuailive-sim-2's mechanisms (docs/simulator.md, section 3)."""
    click, neg, room = d["click"], d["negative"], d["room"]
    out: dict[str, float] = {}
    # platform_traffic: exposures inside highlights over the highlights' share of live time.
    hl = highlight_stats(source, d, lab)
    if hl:
        out["highlight_exposure_lift"] = hl["exposure_share_in"] / max(hl["time_share"], 1e-12)
        out["highlight_entry30_in"], out["highlight_entry30_out"] = hl["entry30_in"], hl["entry30_out"]
    # content_drift: streamers with 3+ rooms in room.csv showing two or more categories.
    per = room.drop_duplicates("live_id").groupby("streamer_id")["live_content_category"].agg(["size", "nunique"])
    per = per[per["size"] >= 3]
    out["multi_category_streamers"] = float((per["nunique"] >= 2).mean()) if len(per) else float("nan")
    # weekly_rhythm: exposures per Saturday/Sunday over exposures per weekday.
    ts = np.concatenate([click["timestamp"].to_numpy(), neg["timestamp"].to_numpy()])
    day = (ts + schema.TZ_OFFSET_MS) // schema.DAY_MS
    per_day = np.bincount(day - day.min())
    used = per_day > 0
    we = used & is_weekend((np.arange(per_day.size) + day.min()) * schema.DAY_MS - schema.TZ_OFFSET_MS)
    out["weekend_weekday_ratio"] = float(per_day[we].mean() / max(per_day[used & ~we].mean(), 1e-12)) \
        if we.any() and (used & ~we).any() else float("nan")
    # platform_profiles: rank correlation of streamers' play-count bins with their sampled clicks once their
    # popularity and live time are accounted for (large when the sampled clicks are inside the count).
    out["profile_click_partial"] = _profile_click_partial(source, d)
    # match_value: rank correlation of the oracle's expected watch with the realised watch, over clicks.
    cl = Path(source) / "oracle" / "clicks.parquet"
    if cl.exists():
        exp_w = pq.read_table(cl, columns=["exp_watch_ms"])["exp_watch_ms"].to_numpy()
        out["oracle_watch_spearman"] = _spearman(exp_w.astype(np.float64),
                                                 click["watch_live_time"].to_numpy().astype(np.float64))
    return out


def _profile_click_partial(source: Path, d: dict[str, pd.DataFrame]) -> float:
    lat = Path(source) / "oracle" / "latent" / "streamers.parquet"
    if not lat.exists():
        return float("nan")
    s = pq.read_table(lat, columns=["streamer_id", "log_pop"]).to_pandas().set_index("streamer_id")
    rooms = d["room"].drop_duplicates("live_id")
    live = (rooms["end_timestamp"] - rooms["start_timestamp"]).groupby(rooms["streamer_id"]).sum()
    prof = d["streamer"].set_index("streamer_id")
    clicks = d["click"]["streamer_id"].value_counts()
    ids = s.index
    x = np.column_stack([np.ones(ids.size), s["log_pop"].to_numpy(),
                         np.log1p(live.reindex(ids, fill_value=0).to_numpy() / 60_000.0)])
    a = pd.Series(_range_code(prof["accu_play_cnt"].reindex(ids))).rank().to_numpy()
    b = pd.Series(clicks.reindex(ids, fill_value=0).to_numpy()).rank().to_numpy()
    ra = a - x @ np.linalg.lstsq(x, a, rcond=None)[0]
    rb = b - x @ np.linalg.lstsq(x, b, rcond=None)[0]
    return float(np.corrcoef(ra, rb)[0, 1])


def highlight_stats(source: Path, d: dict[str, pd.DataFrame] | None = None,
                    lab: pd.DataFrame | None = None) -> dict[str, float]:
    """Inside vs outside highlight windows: exposure share against the windows' share of live time, click rate,
    and the share of exposures with an entry (click) into the room by another sampled user in the previous 30 s.

    Needs the oracle (its exposures' in_highlight flags, latent rooms and highlights); {} without it.
    """
    orc = Path(source) / "oracle"
    if not (orc / "exposures.parquet").exists():
        return {}
    d = d if d is not None else _load(Path(source))
    lab = lab if lab is not None else _labelled_exposures(d)
    rooms = pq.read_table(orc / "latent" / "rooms.parquet", columns=["live_id", "start_ts", "true_end_ts"]).to_pandas()
    h = pq.read_table(orc / "latent" / "highlights.parquet").to_pandas()
    t0, t1 = T0_MS, T1_MS
    live = (np.minimum(rooms["true_end_ts"], t1) - np.maximum(rooms["start_ts"], t0)).clip(lower=0).sum()
    hl_time = (np.minimum(h["end_ts"], t1) - np.maximum(h["start_ts"], t0)).clip(lower=0).sum()
    inside = lab["in_highlight"].to_numpy()
    clicked = lab["click"].to_numpy()
    # Entries by others in the previous 30 s: every entry into the room in [t - 30 s, t) minus the user's own,
    # each counted by binary search over sorted (room, time) and ((user, room), time) keys.
    c = d["click"]
    offset = schema.DAY_MS - t0  # times within the window fit in 31 bits after this shift
    c_t, e_t = c["timestamp"].to_numpy() + offset, lab["timestamp"].to_numpy() + offset
    room_codes, _ = pd.factorize(pd.concat([c["live_id"], lab["live_id"]]))
    pair = pd.concat([c["user_id"], lab["user_id"]]).to_numpy().astype(np.int64)
    pair_codes, _ = pd.factorize(pair * np.int64(room_codes.max() + 1) + room_codes)
    entries = np.zeros(len(lab), dtype=np.int64)
    for codes, sign in ((room_codes, 1), (pair_codes, -1)):
        ck = np.sort(codes[:len(c)].astype(np.int64) << 32 | c_t)
        ek = codes[len(c):].astype(np.int64) << 32 | e_t
        entries += sign * (np.searchsorted(ck, ek, side="left") - np.searchsorted(ck, ek - 30_000, side="left"))
    entry = entries > 0
    return {"time_share": float(hl_time / max(live, 1)), "exposure_share_in": float(inside.mean()),
            "ctr_in": float(clicked[inside].mean()) if inside.any() else float("nan"),
            "ctr_out": float(clicked[~inside].mean()),
            "entry30_in": float(entry[inside].mean()) if inside.any() else float("nan"),
            "entry30_out": float(entry[~inside].mean())}


def attribute(click: pd.DataFrame, events: pd.DataFrame) -> np.ndarray:
    """Row of click.csv each event belongs to: the latest click of the same user and room at or before it (-1 none)."""
    c = click[["user_id", "live_id", "timestamp"]].assign(row=np.arange(len(click)))
    e = events[["user_id", "live_id", "timestamp"]].assign(pos=np.arange(len(events)))
    m = pd.merge_asof(e.sort_values("timestamp"), c.sort_values("timestamp"), on="timestamp",
                      by=["user_id", "live_id"], direction="backward")
    out = np.full(len(events), -1, dtype=np.int64)
    ok = m["row"].notna().to_numpy()
    out[m["pos"].to_numpy()[ok]] = m["row"].to_numpy()[ok].astype(np.int64)
    return out


def _labelled_exposures(d: dict[str, pd.DataFrame]) -> pd.DataFrame | None:
    """oracle exposures with the click label from click.csv (None without an oracle)."""
    if "oracle_exposures" not in d:
        return None
    exp = d["oracle_exposures"]
    label = pd.MultiIndex.from_frame(exp[["user_id", "live_id", "timestamp"]]).isin(
        pd.MultiIndex.from_frame(d["click"][["user_id", "live_id", "timestamp"]]))
    return exp.assign(click=label)


def _mh_ratio(lab: pd.DataFrame) -> float:
    """Mantel-Haenszel risk ratio of click inside vs outside highlight windows, stratified by room."""
    g = lab.groupby(["live_id", "in_highlight"])["click"].agg(["sum", "count"]).unstack(fill_value=0)
    g = g[(g[("count", True)] > 0) & (g[("count", False)] > 0)] if ("count", True) in g else g.iloc[:0]
    if g.empty:
        return float("nan")
    n1, n0 = g[("count", True)], g[("count", False)]
    a, b = g[("sum", True)], g[("sum", False)]
    n = n1 + n0
    return float((a * n0 / n).sum() / max((b * n1 / n).sum(), 1e-12))


def _range_code(col: pd.Series) -> np.ndarray:
    """Ordinal code of range strings by lower bound ('0-10' -> 0, '5000+' -> 5000); unknown -> NaN."""
    lower = col.astype(str).str.extract(r"^(\d+)")[0].astype(float)
    return lower.to_numpy()


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ok = ~np.isnan(a) & ~np.isnan(b)
    if ok.sum() < 3:
        return float("nan")
    ra, rb = pd.Series(a[ok]).rank().to_numpy(), pd.Series(b[ok]).rank().to_numpy()
    return float(np.corrcoef(ra, rb)[0, 1])


def oracle_auc(source: Path) -> float:
    """roc_auc_score of the oracle's p_click against the click label over every exposure."""
    from sklearn.metrics import roc_auc_score

    exp = pq.read_table(source / "oracle" / "exposures.parquet",
                        columns=["user_id", "live_id", "timestamp", "p_click"]).to_pandas()
    clicks = _read(source / schema.FOLDER / "click.csv", ["user_id", "live_id", "timestamp"])
    label = pd.MultiIndex.from_frame(exp[["user_id", "live_id", "timestamp"]]).isin(
        pd.MultiIndex.from_frame(clicks))
    return float(roc_auc_score(label, exp["p_click"].to_numpy()))


def _fmt(v: Any, f: str) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "-"
    if f == ",d":
        return f"{int(round(v)):,d}"
    return format(v, f)


def calibration_report(source: Path | None = None, preset: str = "small", seed: int = 0,
                       quiet: bool = False, overrides: dict[str, Any] | None = None) -> str:
    """A table of sim vs published KuaiLive statistics; simulates preset/seed into a temp dir if no source."""
    if source is None:
        from benchmark.sim import simulate

        with tempfile.TemporaryDirectory(prefix="kuailive-sim-report-") as tmp:
            simulate(preset, seed, Path(tmp), overrides=overrides, quiet=quiet)
            return _table_text(Path(tmp), f"preset {preset}, seed {seed}")
    return _table_text(Path(source), str(source))


def _table_text(source: Path, label: str) -> str:
    stats = compute_stats(source)
    pub = published_figures()
    rows = [[label_, _fmt(pub[key], fmt), _fmt(stats[key], fmt)] for label_, key, fmt in ROWS]
    title = f"KuaiLive-Sim ({label}) vs published KuaiLive; counts are comparable at the full preset only"
    return title + "\n" + tabulate(rows, headers=["statistic", "KuaiLive (published)", "KuaiLive-Sim"],
                                   tablefmt="github", disable_numparse=True)
