"""Leakage, through the real path: plant rows in raw CSVs, run ingest -> split -> features -> tasks,
and check the feature view a model receives. Nothing at or after a sample's time, no outcome of a
session still running at that time, and not the sample's own outcome may show (spec §4)."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from benchmark.features import FeatureStore
from tests.rawbuild import DAY, DAY0, HOUR, write_release

T = DAY0 + 18 * DAY + 20 * HOUR  # 2025-05-23 20:00 +08:00, a test day
A, B, C, D, E, F = 1, 2, 3, 4, 5, 6
R0, R, R2, R3 = 999, 1000, 1001, 1002


def _release(perturb_future: bool):
    """The planted world. With perturb_future, everything a feature at T must not know is changed."""
    k = 7 if perturb_future else 1
    rooms = [(R0, 50, DAY0 + DAY + 19 * HOUR, DAY0 + DAY + 23 * HOUR, "shop", 3),
             (R, 50, T - 2 * HOUR, T + 2 * HOUR, "shop", 5),
             (R2, 51, T - 2 * HOUR, T + 2 * HOUR, "game", 7),
             (R3, 52, T - HOUR, T + HOUR, "music", -1)]
    clicks = [
        (A, R0, 50, DAY0 + DAY + 20 * HOUR, 600_000),       # train-period history, revealed long ago
        (D, R, 50, DAY0 + DAY + 20 * HOUR, 100_000),        # D, E, F... also seen in train
        (E, R0, 50, DAY0 + DAY + 20 * HOUR, 100_000),
        (A, R2, 51, T - 10_000, 60_000),                     # session still running at T
        (D, R, 50, T - 20_000, 5_000),                       # ended at T-15s
        (E, R, 50, T - 60_000, 600_000 * k),                 # running at T
        (A, R, 50, T, 30_000 * k),                           # the sample itself (a click)
        (B, R, 50, T, 1_000 * k),                            # another entry at exactly T
        (C, R, 50, T + 1, 2_000),                            # just after T
        (F, R3, 52, T + 5_000, 1_000),                       # user and category only in test
    ]
    if perturb_future:
        clicks.append((D, R, 50, T + 50, 9_000))
    negatives = [(A, R2, 51, T), (C, R0, 50, DAY0 + DAY + 21 * HOUR)]
    comments = [(D, R, 50, T - 20_000), (B, R, 50, T), (A, R2, 51, T - 10_000),
                (E, R, 50, T - 30_000)]                              # not snapped: in E's running session
    likes = [(A, R, 50, T)] * (2 if perturb_future else 1)
    gifts = [(A, R0, 50, DAY0 + DAY + 20 * HOUR, 5), (A, R2, 51, T - 10_000, 100 * k),
             (E, R, 50, T - 60_000, 9 * k), (C, R, 50, T + 1, 40 * k), (A, R, 50, T, 3 * k)]
    return dict(clicks=clicks, negatives=negatives, rooms=rooms, comments=comments, likes=likes, gifts=gifts)


@pytest.fixture(scope="module")
def worlds(tmp_path_factory):
    from tests.conftest import run_stages

    out = {}
    for perturb in (False, True):
        root = tmp_path_factory.mktemp("perturbed" if perturb else "planted")
        write_release(root / "raw", **_release(perturb))
        paths = run_stages(root / "raw", root)
        out[perturb] = (paths, FeatureStore.open(paths["features"], paths["processed"]))
    return out


def _sample_id(paths, user, live, click):
    ex = pq.read_table(paths["processed"] / "exposures.parquet").to_pandas()
    row = ex[(ex.user_id == user) & (ex.live_id == live) & (ex.ts == T) & (ex.click == click)]
    assert len(row) == 1
    return int(row.sample_id.iloc[0])


def test_moment_context_sees_only_what_was_revealed_strictly_before_t(worlds):
    paths, store = worlds[False]
    s = store.samples([_sample_id(paths, A, R, 1)]).to_pylist()[0]
    assert s["entries_30s"] == 1        # D at T-20s; B at exactly T and C at T+1 are not before T
    assert s["entries_300s"] == 2       # D and E
    assert s["comments_30s"] == 1       # D's comment, revealed when D left at T-15s; B's (at T) is not
    assert s["gifts_all"] == 0 and s["gift_value_all"] == 0   # E's gift: session running until T+9min
    assert s["likes_all"] == 0          # the sample's own like
    assert s["hist_len"] == 2           # A's train click and the running session in R2
    s2 = store.samples([_sample_id(paths, A, R2, 0)]).to_pylist()[0]
    assert s2["entries_30s"] == 1       # A's own entry at T-10s is known at its timestamp
    assert s2["gifts_all"] == 0 and s2["comments_all"] == 0   # A's snapped gift/comment reveal at T+50s


def test_history_shows_a_running_session_without_its_outcome(worlds):
    _, store = worlds[False]
    h = store.history(np.array([A]), np.array([T]), length=3)
    assert h["live_id"][0].tolist() == [-1, R0, R2]
    assert h["revealed"][0].tolist() == [False, True, False]
    assert h["gift_value"][0].tolist() == [-1, 5, -1]
    assert h["watch_ms"][0].tolist() == [-1, 600_000, -1]
    pair = store.pair_stats(np.array([A]), np.array([51]), np.array([T]))
    assert pair["clicks"].tolist() == [1] and pair["gift_value"].tolist() == [0]


def test_features_at_t_do_not_change_when_the_future_changes(worlds):
    (p0, s0), (p1, s1) = worlds[False], worlds[True]
    for user, live, click in ((A, R, 1), (A, R2, 0), (B, R, 1)):
        a = s0.samples([_sample_id(p0, user, live, click)]).drop(["sample_id"]).to_pylist()
        b = s1.samples([_sample_id(p1, user, live, click)]).drop(["sample_id"]).to_pylist()
        assert a == b, (user, live)
        ha, hb = s0.history(np.array([user]), np.array([T]), 5), s1.history(np.array([user]), np.array([T]), 5)
        for col in ("live_id", "revealed", "watch_ms", "gift_value", "n_comment", "n_like"):
            assert ha[col].tolist() == hb[col].tolist(), col
    # and the planted future really did change the labels
    t0 = pq.read_table(p0["tasks"] / "gift_price" / "test.parquet").to_pandas()
    t1 = pq.read_table(p1["tasks"] / "gift_price" / "test.parquet").to_pandas()
    assert t0.gift_value.sum() != t1.gift_value.sum()


def test_behaviour_sequences_at_t_hold_only_what_was_known_strictly_before_t(worlds):
    (_, s0), (_, s1) = worlds[False], worlds[True]
    users, at = np.array([A, B, C, D, E, F]), np.full(6, T)
    a, b = s0.sequences(users, at), s1.sequences(users, at)
    assert np.array_equal(a.offsets, b.offsets)
    assert all(np.array_equal(a.columns[k], b.columns[k]) for k in a.columns)  # the future changed nothing
    kinds = ("click", "long_view", "like", "comment", "gift")

    def of(user: int) -> list[tuple[str, int]]:
        i = int(np.flatnonzero(users == user)[0])
        sl = slice(a.offsets[i], a.offsets[i + 1])
        return [(kinds[k], int(v)) for k, v in zip(a.columns["kind"][sl], a.columns["value"][sl], strict=True)]

    # A: the train session with its watch, long view and gift; the running session in R2 without its
    # watch, snapped comment and gift; A's own click at exactly T is not before T
    assert of(A) == [("click", 600_000), ("long_view", -1), ("gift", 5), ("click", -1)]
    # D: the session that ended at T-15s, with its watch and its snapped comment
    assert of(D) == [("click", 100_000), ("long_view", -1), ("click", 5_000), ("comment", -1)]
    # E: the session running at T shows neither its snapped gift nor its comment of T-30s
    assert of(E) == [("click", 100_000), ("long_view", -1), ("click", -1)]


def test_encoders_are_fitted_on_train_only(worlds):
    _, store = worlds[False]
    assert store.encode("user_id", np.array([A, D, F])).tolist()[2] == 0
    assert store.encode("user_id", np.array([A])).tolist()[0] > 0
    assert store.encode("category", np.array(["shop", "music"])).tolist() == [1, 0]
    assert store.encode("live_id", np.array([R0, R3])).tolist()[1] == 0


def test_task_files_carry_keys_and_labels(worlds):
    paths, _ = worlds[False]
    for task in ("ctr", "multi_behavior", "watch_time", "gift_price", "topk"):
        for split in ("train", "valid", "test"):
            cols = pq.read_schema(paths["tasks"] / task / f"{split}.parquet").names
            assert cols[:5] == ["sample_id", "user_id", "streamer_id", "live_id", "ts"], task
    ctr = pq.read_table(paths["tasks"] / "ctr" / "test.parquet").to_pandas()
    assert ctr.sample_id.is_monotonic_increasing and set(ctr.click) == {0, 1}
    topk = pq.read_table(paths["tasks"] / "topk" / "test.parquet").to_pandas()
    # one query per user per day; A's first new entry on the test day is R2 at T-10s
    assert topk.groupby("user_id").size().max() == 1
    assert topk[topk.user_id == A].live_id.tolist() == [R2]
