"""The exact reader on the hand-written fixture tests/fixtures/kuailive_mini (planted cases, README there)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from benchmark.data.ingest import attribute, ingest
from benchmark.data.ranges import encode_dates, encode_ranges
from benchmark.data.schema import RAW_FILES
from benchmark.errors import BenchmarkError, DataError

FIXTURE = Path(__file__).parent / "fixtures" / "kuailive_mini" / "KuaiLive"
TITLE_IDS = [0, 2, 3, 5, 8, 9]  # the distinct non-negative live_name_id of the fixture's room.csv
PROCESSED = ["exposures.parquet", "events.parquet", "rooms.parquet", "users.parquet", "streamers.parquet"]
T0 = 1746374400000  # 2025-05-05 00:00 +08:00


def titles(n: int = len(TITLE_IDS), dim: int = 128) -> np.ndarray:
    return (np.arange(n * dim, dtype=np.float32).reshape(n, dim) / 100).astype(np.float32)


@pytest.fixture
def src(tmp_path: Path) -> Path:
    """A copy of the fixture release (tmp/src/KuaiLive/) with its title_embeddings.npy."""
    folder = tmp_path / "src" / "KuaiLive"
    shutil.copytree(FIXTURE, folder)
    np.save(folder / "title_embeddings.npy", titles())
    return tmp_path / "src"


@pytest.fixture
def processed(src: Path, tmp_path: Path) -> Path:
    ingest(src, tmp_path / "out", quiet=True)
    return tmp_path / "out"


def read(out: Path, name: str) -> dict[str, list]:
    return pq.read_table(out / name).to_pydict()


def make_zip(folder: Path, dest: Path, prefix: str = "KuaiLive/") -> Path:
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for p in sorted(folder.iterdir()):
            z.write(p, prefix + p.name)
    return dest


def assert_same_output(a: Path, b: Path) -> None:
    for name in PROCESSED:
        assert pq.read_table(a / name).equals(pq.read_table(b / name)), name
    np.testing.assert_array_equal(np.load(a / "titles.npy"), np.load(b / "titles.npy"))


def assert_nothing_written(out: Path) -> None:
    assert not out.exists()
    assert not [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]


# --- exact values on the fixture -------------------------------------------------------------------
def test_exposures_order_streamer_and_outcomes(processed: Path):
    ex = read(processed, "exposures.parquet")
    assert ex["sample_id"] == list(range(13))
    # (ts, user_id, live_id, click before negative): user 103's click and negative share a millisecond,
    # users 101 and 102 share T0+4h, user 102's negative on 500002 precedes their click.
    assert list(zip(ex["user_id"], ex["live_id"], ex["click"], strict=True)) == [
        (8505, 9342705, 1), (104, 500002, 0), (101, 500001, 1), (101, 500001, 1), (103, 500001, 1),
        (103, 500001, 0), (102, 500002, 0), (102, 500002, 1), (101, 500002, 1), (102, 777777, 1),
        (104, 500003, 1), (9810, 10816308, 0), (22733, 7336601, 0)]
    assert ex["ts"] == sorted(ex["ts"]) and ex["ts"][0] == 1746374400022 and ex["ts"][11] == 1746525926498
    # the room table wins (click 101->500002 said 600099, negative 104->500002 said 600077);
    # the click into 777777, absent from room.csv, keeps its own streamer 600003
    assert ex["streamer_id"] == [392199, 600002, 600001, 600001, 600001, 600001, 600002, 600002, 600002,
                                 600003, 600004, 17452, 252634]
    assert ex["watch_ms"] == [2852, 0, 120000, 30000, 45000, 0, 0, 10000, 5000, 7000, 3000000, 0, 0]
    # a session's outcome is whole when its last event is known: click 2 watched 2 min, but a comment
    # attributed to it came 5 min after the entry, so its totals are revealed then
    end = [t + w for t, w in zip(ex["ts"], ex["watch_ms"], strict=True)]
    assert ex["reveal_ts"] == end[:2] + [1746381900000] + end[3:] and end[2] < 1746381900000
    assert ex["n_comment"] == [0, 0, 2] + [0] * 10
    assert ex["n_like"] == [0, 0, 1, 1] + [0] * 9
    assert ex["n_gift"] == [1, 0, 2] + [0] * 10
    assert ex["gift_value"] == [3, 0, 15] + [0] * 10
    schema = pq.read_schema(processed / "exposures.parquet")
    assert {f.name: str(f.type) for f in schema} == {
        "sample_id": "int64", "user_id": "int64", "live_id": "int64", "streamer_id": "int64", "ts": "int64",
        "click": "int8", "watch_ms": "int64", "reveal_ts": "int64", "n_comment": "int32", "n_like": "int32",
        "n_gift": "int32", "gift_value": "int64"}


def test_events_attributed_to_latest_click_at_or_before(processed: Path):
    ev = read(processed, "events.parquet")
    assert ev["kind"] == ["gift", "comment", "like", "gift", "comment", "comment", "gift", "gift", "like",
                          "comment", "like", "gift"]
    # snapped to the click ts -> that click; between two entries -> the earlier; at the re-entry ts -> the
    # re-entry; before any click of the pair (a negative does not count) -> -1
    assert ev["click_sample_id"] == [0, -1, -1, -1, -1, 2, 2, 2, 2, 2, 3, -1]
    assert ev["gift_price"] == [3, 0, 0, 2, 0, 0, 5, 10, 0, 0, 0, 7]
    click2_end = T0 + 2 * 3_600_000 + 120_000
    assert ev["reveal_ts"] == [1746374400022 + 2852, 1746374400819, 1746374414059, 1746374441260,
                               1746379800000, click2_end, click2_end, click2_end, click2_end,
                               1746381900000, 1746382200000 + 30000, 1746385230000]
    assert ev["ts"] == sorted(ev["ts"])


def test_rooms_deduplicated_with_first_date_title(processed: Path):
    rooms = read(processed, "rooms.parquet")
    assert rooms == {
        "live_id": [500001, 500002, 500003, 7336601, 9342705, 10816308],
        "streamer_id": [600001, 600002, 600004, 252634, 392199, 17452],
        "live_type": [1, 3, 1, 1, 1, 2],
        "start_ts": [1746378000000, 1746376200000, 1746453600000, 1748131180878, 1746374400000, 1746522000000],
        "end_ts": [1746392400000, 1746396000000, 1746464400000, 1748275200000, 1746385200000, 1746529200000],
        "category": ["game", "chat", "talent", "shop", "shop", "music"],
        # 500003 crosses midnight: title 8 on 2025-05-05 (listed second in the file), 9 on 2025-05-06
        "title_row": [-1, TITLE_IDS.index(3), TITLE_IDS.index(8), TITLE_IDS.index(0), TITLE_IDS.index(5),
                      TITLE_IDS.index(2)],
        "n_rows": [1, 1, 2, 1, 1, 1],
    }
    emb = np.load(processed / "titles.npy")
    assert emb.dtype == np.float32 and emb.shape == (6, 128)
    np.testing.assert_array_equal(emb, titles())


def days(s: str) -> int:
    return (dt.date.fromisoformat(s) - dt.date(1970, 1, 1)).days


def test_profiles_encoded(processed: Path):
    users = read(processed, "users.parquet")
    assert users["user_id"] == [101, 102, 103, 8505, 22733]
    assert users["age"] == [0, 1, 4, 3, 2]  # "abc" malformed; 0-17 < 18-23 < 24-30 < 50+
    assert users["device_price"] == [0, 2, 3, 4, 1]  # "" missing; bare "0" first; open "5000+" last
    assert users["fans_num"] == [1, 4, 2, 3, 2]  # "0" < "0-10" < "10-100" < "100-1000"
    assert users["accu_watch_live_cnt"] == [1, 3, 1, 2, 1]
    assert users["reg_timestamp"] == [-1, days("2020-06-15"), days("2019-01-01"), days("2021-11-20"),
                                      days("2023-05-03")]  # 2024-02-30 is no date
    assert users["first_watch_live_timestamp"][0] == -1  # empty
    assert users["gender"] == ["M", "F", "M", "F", "M"] and users["device_brand"][4] == "DESKTOP"
    assert users["is_photo_author"] == [1, 0, 0, 0, 0] and users["onehot_feat6"] == [0, 0, 0, 1, 0]
    types = {f.name: str(f.type) for f in pq.read_schema(processed / "users.parquet")}
    assert types["age"] == "int16" and types["reg_timestamp"] == "int32" and types["onehot_feat0"] == "int8"
    assert types["gender"] == "string" and types["user_id"] == "int64"
    streamers = read(processed, "streamers.parquet")
    assert streamers["streamer_id"] == [56006, 252634, 392199, 600001, 600002]
    assert streamers["fans_user_num"] == [3, 4, 0, 2, 1]  # "10000~100000" malformed
    assert streamers["device_price"] == [4, 4, 3, 2, 1]
    assert streamers["live_operation_tag"] == ["Relationship", "Music", "Shop", "Game", "Chat"]
    assert streamers["first_live_timestamp"][0] == days("2018-02-04")


def test_report(processed: Path):
    report = json.loads((processed / "ingest_report.json").read_text())
    for key in ("rows", "rooms_distinct", "room_rows", "unattributed", "streamer_mismatch", "title_embeddings",
                "malformed_ranges", "clicks_without_room", "source_md5", "schema"):
        assert key in report, key
    assert report["rows"] == {"click.csv": 8, "comment.csv": 4, "like.csv": 3, "gift.csv": 5, "negative.csv": 5,
                              "room.csv": 7, "user.csv": 5, "streamer.csv": 5}
    assert report["rooms_distinct"] == 6 and report["room_rows"] == 7
    assert report["unattributed"] == {"comment": 2, "gift": 2, "like": 1, "total": 5}
    assert report["streamer_mismatch"] == 1 and report["clicks_without_room"] == 1
    assert report["streamer_mismatch_by_file"] == {"click.csv": 1, "negative.csv": 1, "events": 0}
    assert report["title_embeddings"] == {"rows": 6, "dim": 128, "dtype": "float32"}
    assert report["malformed_ranges"]["total"] == 2
    assert report["malformed_ranges"]["by_column"]["user.csv:age"] == 1
    assert report["malformed_ranges"]["by_column"]["streamer.csv:fans_user_num"] == 1
    assert report["malformed_dates"]["total"] == 1
    assert report["rooms_title_changed"] == 1 and report["rooms_multi_date"] == 1
    assert report["range_bins"]["user.csv:device_price"] == ["0", "1000-2000", "2000-5000", "5000+"]
    assert report["schema"] == {"spelling": "current", "legacy_names": []}
    assert report["source_md5"] is None


# --- source forms ----------------------------------------------------------------------------------
def test_zip_and_folder_forms_give_identical_output(src: Path, processed: Path, tmp_path: Path):
    z = make_zip(src / "KuaiLive", tmp_path / "KuaiLive.zip")
    ingest(z, tmp_path / "from_zip", quiet=True)
    assert_same_output(processed, tmp_path / "from_zip")
    ingest(src / "KuaiLive", tmp_path / "from_inner", quiet=True)  # the KuaiLive/ folder itself
    assert_same_output(processed, tmp_path / "from_inner")
    holder = tmp_path / "holder"
    holder.mkdir()
    shutil.move(z, holder / "KuaiLive.zip")  # a folder holding the zip
    report = ingest(holder, tmp_path / "from_holder", quiet=True)
    assert_same_output(processed, tmp_path / "from_holder")
    assert report["source"]["kind"] == "zip"
    flat = make_zip(src / "KuaiLive", tmp_path / "flat.zip", prefix="")  # members at the archive's root
    ingest(flat, tmp_path / "from_flat", quiet=True)
    assert_same_output(processed, tmp_path / "from_flat")


def test_zip_md5_verified(src: Path, tmp_path: Path):
    z = make_zip(src / "KuaiLive", tmp_path / "KuaiLive.zip")
    import hashlib

    good = hashlib.md5(z.read_bytes()).hexdigest()
    report = ingest(z, tmp_path / "ok", md5=good.upper(), quiet=True)
    assert report["source_md5"] == good
    with pytest.raises(BenchmarkError, match=f"md5 mismatch: expected {'0' * 32}, got {good}") as e:
        ingest(z, tmp_path / "bad", md5="0" * 32, quiet=True)
    assert "KuaiLive.zip" in str(e.value)
    assert_nothing_written(tmp_path / "bad")


def test_legacy_names_accepted(src: Path, processed: Path, tmp_path: Path):
    folder = src / "KuaiLive"
    for old, new in (("author.csv", "streamer.csv"), ("mapped_room.csv", "room.csv"),
                     ("title_embeddings_pca128.npy", "title_embeddings.npy")):
        (folder / new).rename(folder / old)
    for p in folder.glob("*.csv"):
        lines = p.read_text().split("\n")
        p.write_text("\n".join([lines[0].replace("streamer_id", "author_id")] + lines[1:]))
    report = ingest(src, tmp_path / "legacy", quiet=True)
    assert_same_output(processed, tmp_path / "legacy")
    assert report["schema"]["spelling"] == "legacy"
    legacy = report["schema"]["legacy_names"]
    assert "author.csv" in legacy and "mapped_room.csv" in legacy and "click.csv:author_id" in legacy


def test_deterministic_bytes(src: Path, processed: Path, tmp_path: Path):
    ingest(src, tmp_path / "again", quiet=True)
    for name in PROCESSED + ["titles.npy"]:
        assert (processed / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name


# --- bad input -------------------------------------------------------------------------------------
def edit_line(path: Path, line: int, fn) -> None:
    lines = path.read_text().split("\n")
    lines[line - 1] = fn(lines[line - 1])
    path.write_text("\n".join(lines))


def replace_bytes(path: Path, old: bytes, new: bytes) -> None:
    path.write_bytes(path.read_bytes().replace(old, new))


def drop_column(path: Path, index: int) -> None:
    lines = path.read_text().strip("\n").split("\n")
    path.write_text("\n".join(",".join(x for i, x in enumerate(ln.split(",")) if i != index) for ln in lines) + "\n")


BAD_CASES = {
    "missing file": (lambda f: (f / "like.csv").unlink(), DataError, ["like.csv", "missing file"]),
    "missing embeddings": (lambda f: (f / "title_embeddings.npy").unlink(), DataError,
                           ["title_embeddings.npy", "missing file"]),
    "missing column": (lambda f: drop_column(f / "click.csv", 4), DataError,
                       ["click.csv", "column 'watch_live_time'", "missing"]),
    "renamed column": (lambda f: edit_line(f / "negative.csv", 1, lambda s: s.replace("user_id", "uid")), DataError,
                       ["negative.csv", "column 'user_id'", "'uid'"]),
    "non-numeric id": (lambda f: edit_line(f / "click.csv", 5, lambda s: s.replace("777777", "abc")), DataError,
                       ["click.csv", "column 'live_id'", "row 4", "line 5 of the file", "'abc'"]),
    "short row": (lambda f: edit_line(f / "gift.csv", 3, lambda s: s.rsplit(",", 1)[0]), DataError,
                  ["gift.csv", "row 2", "line 3", "Expected 5 columns, got 4"]),
    "long row": (lambda f: edit_line(f / "room.csv", 6, lambda s: s + ",extra"), DataError,
                 ["room.csv", "row 5", "line 6"]),
    "empty id": (lambda f: edit_line(f / "comment.csv", 2, lambda s: "," + s.split(",", 1)[1]), DataError,
                 ["comment.csv", "column 'user_id'", "row 1", "empty value"]),
    "non-numeric timestamp": (lambda f: edit_line(f / "room.csv", 8, lambda s: s.replace("1746453600000", "5/5")),
                              DataError, ["room.csv", "column 'start_timestamp'", "row 7"]),
    "invalid utf-8": (lambda f: replace_bytes(f / "room.csv", b"music", b"m\xffsic"), DataError,
                      ["room.csv", "column 'live_content_category'", "row 4"]),
    "embeddings row count": (lambda f: np.save(f / "title_embeddings.npy", titles(5)), DataError,
                             ["title_embeddings.npy", "5 title embeddings", "6 distinct"]),
    "embeddings dim": (lambda f: np.save(f / "title_embeddings.npy", titles(6, 64)), DataError,
                       ["title_embeddings.npy", "(6, 64)"]),
    "empty file": (lambda f: (f / "user.csv").write_text(""), DataError, ["user.csv", "no header"]),
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_input_is_named_and_leaves_nothing(case: str, src: Path, tmp_path: Path):
    mutate, exc, needles = BAD_CASES[case]
    mutate(src / "KuaiLive")
    out = tmp_path / "out"
    with pytest.raises(exc) as e:
        ingest(src, out, quiet=True)
    for needle in needles:
        assert needle in str(e.value), (needle, str(e.value))
    assert_nothing_written(out)
    # the same damage inside a zip is named as zip:member
    z = make_zip(src / "KuaiLive", tmp_path / "KuaiLive.zip")
    with pytest.raises(exc) as ez:
        ingest(z, out, quiet=True)
    assert "KuaiLive.zip" in str(ez.value) and needles[0] in str(ez.value)
    assert_nothing_written(out)


def test_truncated_and_corrupt_zip(src: Path, tmp_path: Path):
    z = make_zip(src / "KuaiLive", tmp_path / "KuaiLive.zip")
    data = z.read_bytes()
    cut = tmp_path / "cut.zip"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="cut.zip.*not a readable zip archive"):
        ingest(cut, tmp_path / "out", quiet=True)
    assert_nothing_written(tmp_path / "out")
    # flip bytes inside room.csv's compressed data: the central directory is intact, the member is not
    with zipfile.ZipFile(z) as zf:
        info = zf.getinfo("KuaiLive/room.csv")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    bad = bytearray(data)
    for i in range(start + 20, start + info.compress_size - 20):
        bad[i] ^= 0x5A
    corrupt = tmp_path / "corrupt.zip"
    corrupt.write_bytes(bytes(bad))
    with pytest.raises(DataError, match="corrupt.zip") as e:
        ingest(corrupt, tmp_path / "out", quiet=True)
    assert "room.csv" in str(e.value)
    assert_nothing_written(tmp_path / "out")


def test_missing_source(tmp_path: Path):
    with pytest.raises(DataError, match="nowhere.*not found"):
        ingest(tmp_path / "nowhere", tmp_path / "out", quiet=True)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds neither KuaiLive.zip"):
        ingest(tmp_path / "empty", tmp_path / "out", quiet=True)
    assert_nothing_written(tmp_path / "out")


def test_failed_reingest_keeps_older_output(src: Path, processed: Path):
    before = {p.name: p.read_bytes() for p in processed.iterdir()}
    (src / "KuaiLive" / "gift.csv").unlink()
    with pytest.raises(DataError, match="gift.csv"):
        ingest(src, processed, quiet=True)
    assert {p.name: p.read_bytes() for p in processed.iterdir()} == before
    assert not [p for p in processed.parent.iterdir() if p.name.startswith(f".{processed.name}.")]


def test_cli_reports_data_error(src: Path, tmp_path: Path, capsys):
    from benchmark.cli import main

    (src / "KuaiLive" / "room.csv").unlink()
    assert main(["ingest", "--source", str(src), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert "room.csv" in capsys.readouterr().err


def test_console_entry_exit_codes_and_output(src: Path, tmp_path: Path):
    """The console script's exit (benchmark.cli.entry, os._exit after flushing): stdout arrives whole when
    piped, a data error is one line and code 2, bad arguments code 2, --help code 0."""
    import subprocess
    import sys

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "benchmark.cli", *args], capture_output=True, text=True)

    ok = run("ingest", "--source", str(src), "--out", str(tmp_path / "out"))
    assert ok.returncode == 0, ok.stderr
    assert set(json.loads(ok.stdout)) == {"rows", "rooms_distinct", "unattributed"}
    (src / "KuaiLive" / "room.csv").unlink()
    bad = run("ingest", "--source", str(src), "--out", str(tmp_path / "out2"), "--quiet")
    assert bad.returncode == 2 and "room.csv" in bad.stderr and "Traceback" not in bad.stderr
    assert run("ingest").returncode == 2
    assert run("--help").returncode == 0


# --- the pieces ------------------------------------------------------------------------------------
def test_encode_ranges_order_and_malformed():
    values = ["100000+", "100000-500000", "0-10", "0", "5000+", "", None, "abc", "10-5", " 10-100 ", "0-10",
              "unknown", "1000-5000"]
    codes, bins, bad = encode_ranges(values)
    assert bins == ["0", "0-10", "10-100", "1000-5000", "5000+", "100000-500000", "100000+"]
    assert codes.dtype == np.int16
    assert codes.tolist() == [7, 6, 2, 1, 5, 0, 0, 0, 0, 3, 2, 0, 4]
    assert bad == 2  # "abc" and the reversed "10-5"; "", None and "unknown" are missing, not malformed
    arrow_codes, arrow_bins, arrow_bad = encode_ranges(pa.chunked_array([values[:5], values[5:]]))
    assert arrow_codes.tolist() == codes.tolist() and arrow_bins == bins and arrow_bad == bad
    empty, no_bins, none_bad = encode_ranges([])
    assert empty.size == 0 and no_bins == [] and none_bad == 0


def test_encode_dates():
    d, bad = encode_dates(["2023-05-03", "", "2024-02-30", "1970-01-02", "03/05/2023", None, "2023-05-03"])
    assert d.dtype == np.int32
    assert d.tolist() == [days("2023-05-03"), -1, -1, 1, -1, -1, days("2023-05-03")]
    assert bad == 2


def test_attribute_matches_brute_force():
    rng = np.random.default_rng(3)
    n_c, n_e = 400, 300
    c = [rng.integers(0, 5, n_c), rng.integers(0, 4, n_c), rng.integers(0, 50, n_c)]
    e = [rng.integers(0, 6, n_e), rng.integers(0, 5, n_e), rng.integers(0, 50, n_e)]
    got = attribute(*c, *e)
    for j in range(n_e):
        match = [i for i in range(n_c) if c[0][i] == e[0][j] and c[1][i] == e[1][j] and c[2][i] <= e[2][j]]
        best = max(match, key=lambda i: (c[2][i], i)) if match else -1
        assert got[j] == best, j


# --- speed (pytest --benchmark-enable -m bench; KUAILIVE_INGEST_SCALE=1 for the full published size) ------
def synthetic_release(root: Path, scale: float, seed: int = 0) -> Path:
    """A random release shaped like KuaiLive at `scale` x its published row counts (timing, not realism)."""
    rng = np.random.default_rng(seed)
    folder = root / "KuaiLive"
    folder.mkdir(parents=True)

    def n(x: int) -> int:
        return max(int(x * scale), 20)

    n_rooms, n_users, n_str, n_titles = n(11_613_708), n(23_772), n(452_621), n(500_000)
    live = rng.permutation(n_rooms).astype(np.int64) * 3 + 1000
    sid = rng.integers(0, n_str, n_rooms)
    start = T0 + rng.integers(0, 21 * 86_400_000, n_rooms)
    end = start + rng.integers(60_000, 8 * 3_600_000, n_rooms)
    title_ids = np.sort(rng.choice(50 * n_titles, n_titles, replace=False))
    name = np.where(rng.random(n_rooms) < 0.2, -1, title_ids[rng.integers(0, n_titles, n_rooms)])
    name[:n_titles] = title_ids
    dup = rng.integers(0, n_rooms, n(206_256))
    p_date = 20250505 + (start - T0) // 86_400_000
    tables = {"room.csv": {
        "p_date": np.r_[p_date, p_date[dup] + 1], "live_id": np.r_[live, live[dup]],
        "streamer_id": np.r_[sid, sid[dup]],
        "live_type": rng.integers(1, 4, n_rooms + dup.size), "start_timestamp": np.r_[start, start[dup]],
        "end_timestamp": np.r_[end, end[dup] + 3_600_000],
        "live_content_category": np.array(["shop", "game", "chat", "music"])[rng.integers(0, 4, n_rooms + dup.size)],
        "live_name_id": np.r_[name, name[dup]]}}
    users = rng.choice(2 * n_users, n_users, replace=False)

    def interactions(k: int) -> dict[str, np.ndarray]:
        r = rng.integers(0, n_rooms, k)
        return {"user_id": users[rng.integers(0, n_users, k)], "live_id": live[r], "streamer_id": sid[r],
                "timestamp": start[r] + (rng.random(k) * (end[r] - start[r])).astype(np.int64)}

    clicks = interactions(n(4_909_515))
    clicks["watch_live_time"] = np.exp(rng.normal(8.5, 2.0, clicks["user_id"].size)).astype(np.int64)
    tables["click.csv"], tables["negative.csv"] = clicks, interactions(n(12_705_835))
    for name_, k in (("comment.csv", 196_526), ("like.csv", 179_311), ("gift.csv", 72_646)):
        i = rng.integers(0, clicks["user_id"].size, n(k))
        tables[name_] = {c: clicks[c][i] for c in ("user_id", "live_id", "streamer_id", "timestamp")}
    tables["gift.csv"]["gift_price"] = np.exp(rng.normal(1, 2, tables["gift.csv"]["user_id"].size)).astype(np.int64)
    for name_, ids in (("user.csv", users), ("streamer.csv", np.arange(n_str))):
        cols = {}
        for c, kind in RAW_FILES[name_].columns:
            pick = {"int": None, "flag": ["0", "1"], "str": ["M", "F", "APPLE"],
                    "range": ["0", "0-10", "10-100", "100+"], "date": ["2020-01-01", "2023-05-03", ""]}[kind]
            cols[c] = ids if pick is None else np.array(pick)[rng.integers(0, len(pick), ids.size)]
        tables[name_] = cols
    for name_, cols in tables.items():
        pacsv.write_csv(pa.table(cols), folder / name_, write_options=pacsv.WriteOptions(quoting_style="none"))
    np.save(folder / "title_embeddings.npy", rng.normal(size=(n_titles, 128)).astype(np.float32))
    return root


@pytest.mark.bench
def test_ingest_speed(benchmark, tmp_path: Path):
    scale = float(os.environ.get("KUAILIVE_INGEST_SCALE", "0.01"))
    src = synthetic_release(tmp_path / "raw", scale)
    report = benchmark.pedantic(ingest, args=(src, tmp_path / "out"), kwargs={"quiet": True}, rounds=1, iterations=1)
    assert report["rows"]["click.csv"] == max(int(4_909_515 * scale), 20)
    assert report["streamer_mismatch"] == 0 and report["title_embeddings"]["rows"] == max(int(500_000 * scale), 20)
