"""The fixed temporal split: Asia/Shanghai day boundaries to the millisecond, the manifest, bad params."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from benchmark.errors import BenchmarkError
from benchmark.split import assign, boundaries_ms, day_index
from tests.conftest import SPLIT, run_stages
from tests.rawbuild import DAY, DAY0, HOUR, write_release

TRAIN_END = DAY0 + 16 * DAY    # 2025-05-21 00:00 +08:00 = 2025-05-20 16:00 UTC
VALID_END = DAY0 + 18 * DAY    # 2025-05-23 00:00 +08:00
TEST_END = DAY0 + 21 * DAY     # 2025-05-26 00:00 +08:00


def test_boundaries_are_shanghai_midnights():
    b = boundaries_ms(SPLIT)
    assert b == {"train": (DAY0, TRAIN_END), "valid": (TRAIN_END, VALID_END), "test": (VALID_END, TEST_END)}
    assert day_index(np.array([DAY0 - 1, DAY0]))[1] - day_index(np.array([DAY0 - 1, DAY0]))[0] == 1


def test_assign_puts_each_millisecond_on_its_side_of_midnight():
    ts = np.array([DAY0 - 1, DAY0, TRAIN_END - 1, TRAIN_END, VALID_END - 1, VALID_END, TEST_END - 1, TEST_END])
    assert assign(ts, boundaries_ms(SPLIT)).tolist() == [-1, 0, 0, 1, 1, 2, 2, -1]


@pytest.mark.parametrize("bad, message", [
    ({**SPLIT, "valid": ["2025-05-20", "2025-05-22"]}, "not overlap"),
    ({**SPLIT, "test": ["2025-05-25", "2025-05-23"]}, "ends before it starts"),
    ({**SPLIT, "timezone": "UTC"}, "Asia/Shanghai"),
    ({k: v for k, v in SPLIT.items() if k != "valid"}, "split.valid"),
])
def test_bad_split_params_say_what_is_wrong(bad, message):
    with pytest.raises(BenchmarkError, match=message):
        boundaries_ms(bad)


def test_manifest_counts_hashes_and_card(tmp_path):
    # u1 clicks/negatives straddling both boundaries; streamer 2 appears only in test (unseen in train)
    rooms = [(10, 1, DAY0, TEST_END, "shop", -1), (20, 2, VALID_END - HOUR, TEST_END, "game", -1)]
    clicks = [(1, 10, 1, TRAIN_END - 1, 5_000), (1, 10, 1, TRAIN_END, 70_000), (1, 20, 2, VALID_END, 1_000)]
    negatives = [(1, 10, 1, DAY0 + HOUR), (2, 10, 1, VALID_END - 1), (2, 20, 2, VALID_END + HOUR),
                 (2, 10, 1, TEST_END)]  # the last one is outside every range
    paths = run_stages(write_release(tmp_path / "raw", clicks, negatives, rooms), tmp_path / "work")
    manifest = json.loads((paths["split"] / "split_manifest.json").read_text())
    s = manifest["splits"]
    assert [s[k]["rows"] for k in ("train", "valid", "test")] == [2, 2, 2]
    assert manifest["outside_window"] == 1
    assert [s[k]["clicks"] for k in ("train", "valid", "test")] == [1, 1, 1]
    assert s["valid"]["prevalence"]["multi_behavior.long_view"] == 0.5
    assert s["test"]["unseen_in_train"]["streamer"] == {"distinct": 1.0, "samples": 1.0}
    assert s["valid"]["unseen_in_train"]["user"] == {"distinct": 0.5, "samples": 0.5}
    table = pq.read_table(paths["split"] / "split.parquet")
    assert table.num_rows == 6 and sorted(set(table["split"].to_pylist())) == [0, 1, 2]
    assert len({s[k]["hash"] for k in s}) == 3 and len(manifest["source_hash"]) == 64
