"""The streaming protocol's reveal schedules on planted sessions: when each label becomes known."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from benchmark.runner import split_periods
from benchmark.streaming import (
    FAST_MS,
    SLOW_MS,
    TICK_MS,
    fast_slow_schedule,
    moment_schedule,
    reveal_inputs,
    tick_end,
)

T = 1_747_929_600_000 + 7 * TICK_MS + 4_000   # inside a tick of the test period
S, M, H = 1_000, 60_000, 3_600_000
LONG_VIEW_MS = 60 * S

# sample 1: a 90 s session: a like snapped to the entry, a like and a comment during it, a gift 20 min later
# sample 2: a 30 s session with nothing else; sample 3: a negative exposure; sample 4: a session whose
# gift comes 2 h later (never reaches fast_slow)
EX = {"sample_id": np.array([1, 2, 3, 4]), "ts": np.array([T, T + 5 * S, T + 6 * S, T + 7 * S]),
      "click": np.array([1, 1, 0, 1]), "watch_ms": np.array([90 * S, 30 * S, 0, 10 * S]),
      "reveal_ts": np.array([T + 20 * M, T + 35 * S, T + 6 * S, T + 7 * S + 2 * H]),
      "gift_value": np.array([50, 0, 0, 10])}
EVENTS = {"kind": np.array(["like", "like", "comment", "gift", "gift", "like"]),
          "ts": np.array([T, T + 10 * S, T + 40 * S, T + 20 * M, T + 7 * S + 2 * H, T + 9 * S]),
          "click_sample_id": np.array([1, 1, 1, 1, 4, -1])}   # the last one is unattributed


def _rows(schedule, sample_id, label):
    r = schedule[(schedule["sample_id"] == sample_id) & (schedule["label"] == label)]
    return list(zip(r["value"], r["reveal_ts"] - EX["ts"][EX["sample_id"] == sample_id][0], strict=True))


@pytest.fixture(scope="module")
def moment():
    return moment_schedule(EX, EVENTS, LONG_VIEW_MS)


def test_moment_reveals_each_label_when_it_is_known(moment):
    assert _rows(moment, 1, "click") == [(1.0, 0)]
    assert _rows(moment, 1, "long_view") == [(1.0, 60 * S)]            # at click + threshold, not at the end
    assert _rows(moment, 2, "long_view") == [(0.0, 30 * S)]            # not reached: a negative at the end
    # own time when after the click, the end when snapped to it; only the first is first_only
    likes = moment[(moment["sample_id"] == 1) & (moment["label"] == "like")]
    assert list(likes["reveal_ts"] - T) == [10 * S, 20 * M] and list(likes["first_only"]) == [True, False]
    assert _rows(moment, 1, "comment") == [(1.0, 40 * S)] and _rows(moment, 1, "gift") == [(1.0, 20 * M)]
    assert _rows(moment, 2, "gift") == [(0.0, 30 * S)]                 # never done: a negative at the end
    assert _rows(moment, 1, "watch_s") == [(90.0, 20 * M)] and _rows(moment, 1, "gift_value") == [(50.0, 20 * M)]


def test_a_negative_exposure_is_revealed_at_the_end_of_its_tick(moment):
    end = int(tick_end(EX["ts"][2:3])[0])
    assert end > T + 6 * S and (end - (T + 6 * S)) < TICK_MS and (end + 1) % TICK_MS == 0
    assert end // TICK_MS == (T + 6 * S) // TICK_MS   # in the exposure's own tick: delivered with its clicks
    for label in ("click", "long_view", "like", "comment", "gift"):
        assert _rows(moment, 3, label) == [(0.0, end - (T + 6 * S))]
    assert not _rows(moment, 3, "watch_s")


def test_nothing_is_revealed_before_its_own_sample_and_unattributed_events_are_ignored(moment):
    ts = dict(zip(EX["sample_id"], EX["ts"], strict=True))
    assert (moment["reveal_ts"].to_numpy() >= moment["sample_id"].map(ts).to_numpy()).all()
    assert len(moment[(moment["label"] == "like") & (moment["value"] > 0)]) == 2
    assert moment.equals(moment_schedule(EX, EVENTS, LONG_VIEW_MS))   # deterministic


def test_fast_slow_delivers_at_five_minutes_and_one_hour(moment):
    fs = fast_slow_schedule(moment, EX)

    def rows(sample_id, label):
        r = fs[(fs["sample_id"] == sample_id) & (fs["label"] == label)]
        return list(zip(r["value"], r["reveal_ts"] - EX["ts"][EX["sample_id"] == sample_id][0], r["slow"],
                        strict=True))

    assert rows(1, "like") == [(1.0, FAST_MS, False)]                  # seen within 5 min
    assert rows(1, "gift") == [(0.0, FAST_MS, False), (1.0, SLOW_MS, True)]  # 20 min: fast 0, slow positive
    assert rows(4, "gift") == [(0.0, FAST_MS, False)]                  # 2 h: never delivered as positive
    assert rows(3, "click") == [(0.0, FAST_MS, False)]
    assert rows(2, "watch_s") == [(30.0, FAST_MS, False)]              # its session ended within 5 min
    assert rows(1, "watch_s") == [(90.0, SLOW_MS, True)]               # ... within the hour
    assert rows(4, "watch_s") == []                                    # ... after it: never


def test_on_tiny_the_schedule_agrees_with_the_task_labels(tiny_data):
    """Over tiny's test period: one first positive per behaviour exactly where multi_behavior's label is 1,
    a value for every label of every sample, and nothing revealed before its own sample."""
    ds = "sim-tiny-s0"
    test = pq.read_table(tiny_data / "tasks" / ds / "multi_behavior" / "test.parquet").to_pandas()
    ex, events = reveal_inputs(tiny_data / "processed" / ds, split_periods(tiny_data, ds)["test"])
    assert set(ex["sample_id"]) == set(test["sample_id"])  # the stream covers every exposure of the test period
    m = moment_schedule(ex, events, LONG_VIEW_MS)
    for label in ("click", "long_view", "like", "comment", "gift"):
        first = m[(m["label"] == label) & m["first_only"] & (m["value"] > 0)]["sample_id"]
        assert first.is_unique
        assert set(first) == set(test.loc[test[label] == 1, "sample_id"]), label
        assert m[m["label"] == label]["sample_id"].nunique() == len(test)
    own = dict(zip(ex["sample_id"], ex["ts"], strict=True))
    assert (m["reveal_ts"].to_numpy() >= m["sample_id"].map(own).to_numpy()).all()
