"""Write a small release-exact KuaiLive folder from Python rows, for planted-case tests."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from benchmark.data.schema import EMBEDDING_DIM, FOLDER, RAW_FILES

DAY0 = 1746374400000  # 2025-05-05 00:00 +08:00
DAY = 86_400_000
HOUR = 3_600_000


def user_row(uid: int) -> list:
    return [uid, "18-23", "M", "China", "APPLE", "0", "2023-05-03", "0-10", "10-100", "2023-05-03",
            "0-50000", "0-1000000000", 0, 0, 0, 0, 0, 0, 0, 0, 0]


def streamer_row(sid: int) -> list:
    return [sid, "M", "24-30", "China", "APPLE", "5000+", "Relationship", "10000-100000", "0-10", "1000-10000",
            "2018-02-04", "100-500", "500000000-1000000000", "100000-500000", "50000000000-100000000000",
            "2014-07-03", 1, 0, 0, 0, 0, 0, 0]


def p_date(ts_ms: int) -> int:
    import datetime as dt

    d = dt.datetime.fromtimestamp((ts_ms + 8 * HOUR) / 1000, dt.UTC)
    return int(d.strftime("%Y%m%d"))


def write_release(root: Path, clicks: list, negatives: list, rooms: list, comments: list = (), likes: list = (),
                  gifts: list = (), users: list | None = None, streamers: list | None = None) -> Path:
    """rooms: (live_id, streamer_id, start, end, category, live_name_id); events as in the CSVs.

    Writes root/KuaiLive/ with every file and a title_embeddings.npy matching the titles; returns root.
    """
    folder = root / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    room_rows = [[p_date(s), lid, sid, 1, s, e, cat, name] for lid, sid, s, e, cat, name in rooms]
    users = users if users is not None else sorted({r[0] for r in list(clicks) + list(negatives)})
    streamers = streamers if streamers is not None else sorted({r[1] for r in rooms})
    data = {
        "click.csv": clicks, "negative.csv": negatives, "comment.csv": comments, "like.csv": likes,
        "gift.csv": gifts, "room.csv": room_rows, "user.csv": [user_row(u) for u in users],
        "streamer.csv": [streamer_row(s) for s in streamers],
    }
    for name, rows in data.items():
        with open(folder / name, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(RAW_FILES[name].column_names)
            w.writerows(rows)
    titles = sorted({r[5] for r in rooms if r[5] >= 0})
    emb = np.random.default_rng(0).normal(size=(len(titles), EMBEDDING_DIM)).astype(np.float32)
    np.save(folder / "title_embeddings.npy", emb)
    return root
