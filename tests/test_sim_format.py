"""KuaiLive-Sim writes the real release's format: files, headers, column order, types, ids and quirks."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from benchmark.data import schema
from benchmark.sim import simulate
from benchmark.sim.oracle import CAP_MS, T0_MS, T1_MS

RANGE = re.compile(r"^(\d+-\d+|\d+\+|0|UNKNOWN)$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    return simulate("tiny", 0, tmp_path_factory.mktemp("sim"), quiet=True)


@pytest.fixture(scope="module")
def tables(out) -> dict[str, pd.DataFrame]:
    raw = out / schema.FOLDER
    return {name: pcsv.read_csv(raw / name).to_pandas() for name in schema.RAW_FILES}


def test_layout_and_headers(out):
    raw = out / schema.FOLDER
    assert sorted(p.name for p in raw.iterdir()) == sorted([*schema.RAW_FILES, schema.EMBEDDINGS_FILE])
    for name, spec in schema.RAW_FILES.items():
        with open(raw / name) as f:
            header = f.readline().rstrip("\n")
        assert header == ",".join(spec.column_names), name
    for name in ("exposures.parquet", "clicks.parquet", "latent/params.json", "latent/rooms.parquet",
                 "latent/highlights.parquet", "latent/users.parquet", "latent/streamers.parquet",
                 "latent/favourites.parquet", "latent/user_factors.npy", "latent/streamer_factors.npy"):
        assert (out / "oracle" / name).exists(), name
    assert not any(p.name.startswith(".sim-tmp") for p in out.iterdir())


def test_column_kinds(out, tables):
    text = (out / schema.FOLDER / "room.csv").read_text()
    assert '"' not in text  # strings unquoted
    for name, spec in schema.RAW_FILES.items():
        df = tables[name]
        assert len(df) > 0, name
        for col, kind in spec.columns:
            v = df[col]
            if kind in ("int", "flag"):
                assert v.dtype == np.int64, (name, col, v.dtype)
            if kind == "flag":
                assert set(v.unique()) <= {0, 1}, (name, col)
            if kind == "range":
                assert v.astype(str).map(lambda x: bool(RANGE.match(x))).all(), (name, col, v.unique()[:5])
            if kind == "date":
                assert v.astype(str).map(lambda x: bool(DATE.match(x))).all(), (name, col)
    assert tables["user.csv"]["device_price"].astype(str).eq("0").any()  # a bare "0" bin


def test_ids_random_looking_and_titles(out, tables):
    users, streamers = tables["user.csv"]["user_id"], tables["streamer.csv"]["streamer_id"]
    room = tables["room.csv"]
    assert users.is_unique and streamers.is_unique
    for ids in (users, streamers, room["live_id"].drop_duplicates()):
        assert ids.min() >= 0 and ids.max() + 1 > len(ids)  # non-contiguous
    assert len(users) == 300
    emb = np.load(out / schema.FOLDER / schema.EMBEDDINGS_FILE)
    titles = room["live_name_id"]
    assert emb.dtype == np.float32 and emb.shape == (titles[titles >= 0].nunique(), schema.EMBEDDING_DIM)
    assert (titles == -1).any()
    ids = np.sort(titles[titles >= 0].unique())
    assert (np.diff(ids) > 1).any()  # sparse, non-contiguous


def test_rooms_and_dates(tables):
    room = tables["room.csv"]
    dates = pd.to_datetime(room["p_date"].astype(str), format="%Y%m%d")
    assert dates.min() >= pd.Timestamp("2025-05-05") and dates.max() <= pd.Timestamp("2025-05-25")
    # p_date is the +08 day of the row and lies within the room's live span.
    day_start = (dates - pd.Timestamp("1970-01-01")).dt.days.to_numpy() * schema.DAY_MS - schema.TZ_OFFSET_MS
    assert (room["start_timestamp"] < day_start + schema.DAY_MS).all()
    assert (room["end_timestamp"] > day_start).all()
    dup = room[room.duplicated("live_id", keep=False)]
    assert len(dup) > 0  # rooms crossing midnight have one row per p_date
    assert (dup.groupby("live_id")["p_date"].nunique() == dup.groupby("live_id").size()).all()
    capped = room["end_timestamp"] > T1_MS
    assert capped.any() and (room.loc[capped, "end_timestamp"] == CAP_MS).all()
    assert room["live_content_category"].isin(["shop", "game", "chat", "music", "dance", "outdoor", "food",
                                               "talent", "education", "sports"]).all()


def test_exposures_inside_live_rooms(tables, out):
    room = tables["room.csv"].groupby("live_id").agg(start=("start_timestamp", "min"), end=("end_timestamp", "max"),
                                                     streamer=("streamer_id", "first"))
    exp = pd.concat([tables["click.csv"].assign(click=1), tables["negative.csv"].assign(click=0)])
    r = room.reindex(exp["live_id"])
    assert r["start"].notna().all()
    assert (exp["timestamp"].to_numpy() >= r["start"].to_numpy()).all()
    assert (exp["timestamp"].to_numpy() < r["end"].to_numpy()).all()
    assert exp["timestamp"].between(T0_MS, T1_MS - 1).all()
    assert not exp.duplicated(["user_id", "live_id", "timestamp"]).any()
    # Watch never outlasts the room (true ends are in the latent room table).
    latent_rooms = pq.read_table(out / "oracle" / "latent" / "rooms.parquet").to_pandas()
    true_end = latent_rooms.set_index("live_id")["true_end_ts"]
    c = tables["click.csv"]
    assert (c["watch_live_time"] >= 1).all()
    assert (c["timestamp"] + c["watch_live_time"] <= true_end.reindex(c["live_id"]).to_numpy()).all()
    # A user can have both a negative and a click on the same room.
    both = pd.MultiIndex.from_frame(tables["negative.csv"][["user_id", "live_id"]]).isin(
        pd.MultiIndex.from_frame(c[["user_id", "live_id"]]))
    assert both.any()
    # Every event user and room is in user.csv / room.csv.
    for name in ("comment.csv", "like.csv", "gift.csv"):
        ev = tables[name]
        assert ev["user_id"].isin(tables["user.csv"]["user_id"]).all()
        assert ev["live_id"].isin(room.index).all()
    assert (tables["gift.csv"]["gift_price"] >= 1).all()


def test_sorted_by_time(tables):
    for name in ("click.csv", "negative.csv", "comment.csv", "like.csv", "gift.csv"):
        ts = tables[name]["timestamp"].to_numpy()
        assert (np.diff(ts) >= 0).all(), name


def test_oracle_tables_match_release(out, tables):
    exp = pq.read_table(out / "oracle" / "exposures.parquet").to_pandas()
    clicks = pq.read_table(out / "oracle" / "clicks.parquet").to_pandas()
    assert list(exp.columns) == ["user_id", "live_id", "timestamp", "p_click", "in_highlight"]
    assert list(clicks.columns) == ["user_id", "live_id", "timestamp", "exp_watch_ms", "p_comment", "p_like",
                                    "p_gift", "exp_gift_value"]
    assert len(exp) == len(tables["click.csv"]) + len(tables["negative.csv"])
    assert not exp.duplicated(["user_id", "live_id", "timestamp"]).any()
    key = ["user_id", "live_id", "timestamp"]
    assert clicks[key].reset_index(drop=True).equals(tables["click.csv"][key].reset_index(drop=True))
    assert exp["p_click"].between(0, 1).all() and exp["in_highlight"].any()


def test_reader_reads_output(out, tmp_path):
    ingest = pytest.importorskip("benchmark.data.ingest")
    report = ingest.ingest(out, tmp_path / "processed", quiet=True)
    assert report["rows"]["click.csv"] > 0
    assert report["title_embeddings"]["dim"] == schema.EMBEDDING_DIM
