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
                       quiet: bool = False) -> str:
    """A table of sim vs published KuaiLive statistics; simulates preset/seed into a temp dir if no source."""
    if source is None:
        from benchmark.sim import simulate

        with tempfile.TemporaryDirectory(prefix="kuailive-sim-report-") as tmp:
            simulate(preset, seed, Path(tmp), quiet=quiet)
            return calibration_report(Path(tmp), preset=preset, seed=seed, quiet=quiet)
    stats = compute_stats(Path(source))
    pub = published_figures()
    rows = [[label, _fmt(pub[key], fmt), _fmt(stats[key], fmt)] for label, key, fmt in ROWS]
    title = (f"KuaiLive-Sim ({source}) vs published KuaiLive; counts are comparable at the full preset only")
    return title + "\n" + tabulate(rows, headers=["statistic", "KuaiLive (published)", "KuaiLive-Sim"],
                                   tablefmt="github", disable_numparse=True)
