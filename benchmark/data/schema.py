"""The KuaiLive release's file layout, as written by Kuaishou and by KuaiLive-Sim.

One source of truth for the reader (ingest) and the writer (simulator): file names, column order,
kinds, and the legacy spellings the reader must still accept. See shared/spec/kuailive-format.md.
"""

from __future__ import annotations

from dataclasses import dataclass

# Column kinds: "int" = int64 id/count/epoch-ms, "str" = free string, "range" = binned range string
# ("18-23", "5000+", "0"), "date" = YYYY-MM-DD string, "flag" = 0/1 integer.
ONEHOT = [f"onehot_feat{i}" for i in range(7)]


@dataclass(frozen=True)
class RawFile:
    """One CSV of the release: its name and its (column, kind) pairs in released order."""

    name: str
    columns: tuple[tuple[str, str], ...]

    @property
    def column_names(self) -> list[str]:
        return [c for c, _ in self.columns]


CLICK = RawFile("click.csv", (("user_id", "int"), ("live_id", "int"), ("streamer_id", "int"),
                              ("timestamp", "int"), ("watch_live_time", "int")))
COMMENT = RawFile("comment.csv", (("user_id", "int"), ("live_id", "int"), ("streamer_id", "int"),
                                  ("timestamp", "int")))
LIKE = RawFile("like.csv", COMMENT.columns)
GIFT = RawFile("gift.csv", COMMENT.columns + (("gift_price", "int"),))
NEGATIVE = RawFile("negative.csv", COMMENT.columns)
ROOM = RawFile("room.csv", (("p_date", "int"), ("live_id", "int"), ("streamer_id", "int"),
                            ("live_type", "int"), ("start_timestamp", "int"), ("end_timestamp", "int"),
                            ("live_content_category", "str"), ("live_name_id", "int")))
USER = RawFile("user.csv", (
    ("user_id", "int"), ("age", "range"), ("gender", "str"), ("country", "str"),
    ("device_brand", "str"), ("device_price", "range"), ("reg_timestamp", "date"),
    ("fans_num", "range"), ("follow_num", "range"), ("first_watch_live_timestamp", "date"),
    ("accu_watch_live_cnt", "range"), ("accu_watch_live_duration", "range"),
    ("is_live_streamer", "flag"), ("is_photo_author", "flag"),
) + tuple((c, "flag") for c in ONEHOT))
STREAMER = RawFile("streamer.csv", (
    ("streamer_id", "int"), ("gender", "str"), ("age", "range"), ("country", "str"),
    ("device_brand", "str"), ("device_price", "range"), ("live_operation_tag", "str"),
    ("fans_user_num", "range"), ("fans_group_fans_num", "range"), ("follow_user_num", "range"),
    ("first_live_timestamp", "date"), ("accu_live_cnt", "range"), ("accu_live_duration", "range"),
    ("accu_play_cnt", "range"), ("accu_play_duration", "range"), ("reg_timestamp", "date"),
) + tuple((c, "flag") for c in ONEHOT))

RAW_FILES: dict[str, RawFile] = {f.name: f for f in (CLICK, COMMENT, LIKE, GIFT, NEGATIVE, ROOM, USER, STREAMER)}
EMBEDDINGS_FILE = "title_embeddings.npy"
EMBEDDING_DIM = 128
FOLDER = "KuaiLive"

# Spellings used before 2025-07-29 (and still by the dataset's own scripts).
LEGACY_FILE_NAMES = {"author.csv": "streamer.csv", "mapped_room.csv": "room.csv",
                     "title_embeddings_pca128.npy": EMBEDDINGS_FILE}
LEGACY_COLUMNS = {"author_id": "streamer_id"}

# Asia/Shanghai has had no DST since 1991: a fixed +08:00 offset is exact for this window.
TZ_OFFSET_MS = 8 * 3600 * 1000
DAY_MS = 24 * 3600 * 1000
