"""Behaviour sequences: the reveal rule per kind (planted rows), equality with a slow reference, the sealed
view's refusals and determinism."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from benchmark.check import DATASET
from benchmark.errors import BenchmarkError
from benchmark.features import FeatureStore
from benchmark.features.sequences import COLUMNS, KINDS, Sequences
from benchmark.features.view import FeatureView, FitClock, RowsClock, SealError

LONG_VIEW_S = 30
T0 = 1_746_400_000_000  # a time in the release's range (epoch ms)


# --- a planted processed folder ----------------------------------------------------------------------------
def _planted(tmp: Path) -> FeatureStore:
    """User 1: click A (sample 0, long watch, three gifts and a like snapped onto it, a gift 10 s in), a negative,
    click B (sample 2, a 5 s bounce) and an unattributed comment; user 2: a long click on the same room."""
    ex = pd.DataFrame({
        "sample_id": [0, 1, 2, 3], "user_id": [1, 1, 1, 2], "live_id": [100, 101, 102, 100],
        "streamer_id": [7, 8, 9, 7], "ts": [T0, T0 + 500, T0 + 200_000, T0 + 1_000],
        "click": np.array([1, 0, 1, 1], np.int8), "watch_ms": [60_000, 0, 5_000, 40_000]})
    ex["reveal_ts"] = ex["ts"] + ex["watch_ms"]
    for c in ("n_comment", "n_like", "n_gift"):
        ex[c] = np.zeros(4, np.int32)
    ex["gift_value"] = [50, 0, 0, 0]
    ev = pd.DataFrame({"kind": ["gift", "gift", "gift", "like", "gift", "comment"], "user_id": [1] * 6,
                       "live_id": [100] * 5 + [103], "streamer_id": [7] * 6,
                       "ts": [T0] * 4 + [T0 + 10_000, T0 + 100_000], "gift_price": [5, 9, 2, 0, 50, 0],
                       "click_sample_id": [0] * 5 + [-1]})
    ev["reveal_ts"] = [T0 + 60_000] * 5 + [T0 + 100_000]
    processed, features = tmp / "processed", tmp / "features"
    processed.mkdir()
    features.mkdir()
    pq.write_table(pa.Table.from_pandas(ex, preserve_index=False), processed / "exposures.parquet")
    pq.write_table(pa.Table.from_pandas(ev, preserve_index=False), processed / "events.parquet")
    (features / "store.json").write_text(json.dumps({"base_ts": T0 - 86_400_000, "moment_windows_s": [30],
                                                     "long_view_seconds": LONG_VIEW_S,
                                                     "processed_dir": str(processed)}))
    return FeatureStore.open(features)


@pytest.fixture
def planted(tmp_path) -> FeatureStore:
    return _planted(tmp_path)


def _seen(store: FeatureStore, t: int, user: int = 1, **kw) -> dict[tuple[str, int], int]:
    """(kind, sample_id) -> value of every event the user's sequence at t holds."""
    seq = store.sequences(np.array([user]), np.array([t]), **kw)
    c = seq.columns
    return {(KINDS[k], int(s)): int(v) for k, s, v in zip(c["kind"], c["sample_id"], c["value"], strict=True)}


def test_a_click_is_known_after_its_time_and_its_watch_only_after_its_session(planted):
    assert ("click", 0) not in _seen(planted, T0)                            # known exactly at t: not before t
    assert _seen(planted, T0 + 1)[("click", 0)] == -1                         # the session is running
    assert _seen(planted, T0 + 60_000)[("click", 0)] == -1                    # ends exactly at t
    assert _seen(planted, T0 + 60_001)[("click", 0)] == 60_000
    assert ("click", 1) not in _seen(planted, T0 + 10**9)                     # a negative is no event


def test_long_view_appears_with_the_watch_and_never_for_a_short_watch(planted):
    assert ("long_view", 0) not in _seen(planted, T0 + LONG_VIEW_S * 1000 + 1)  # the session runs on
    assert ("long_view", 0) not in _seen(planted, T0 + 60_000)
    assert _seen(planted, T0 + 60_001)[("long_view", 0)] == -1
    late = _seen(planted, T0 + 10**9)
    assert ("click", 2) in late and ("long_view", 2) not in late


def test_a_sessions_likes_and_gifts_appear_when_it_ends_an_unattributed_comment_at_its_time(planted):
    assert ("like", 0) not in _seen(planted, T0 + 1)
    assert ("like", 0) not in _seen(planted, T0 + 60_000)
    assert ("like", 0) in _seen(planted, T0 + 60_001)
    assert ("gift", 0) not in _seen(planted, T0 + 10_001)                     # 10 s in, the session runs on
    gifts = planted.sequences(np.array([1]), np.array([T0 + 60_001]), kinds="gift").columns["value"]
    assert gifts.tolist() == [5, 9, 2, 50]                                    # each gift with its value
    assert ("comment", -1) not in _seen(planted, T0 + 100_000)                # unattributed: at its own time
    assert ("comment", -1) in _seen(planted, T0 + 100_001)


def test_order_kinds_pairs_and_the_pretraining_log(planted):
    late = planted.sequences(np.array([1, 2, 99]), np.full(3, T0 + 10**9))
    assert late.lengths.tolist() == [9, 2, 0]                                  # user 99 is unknown: empty
    c = late.columns
    assert [KINDS[k] for k in c["kind"][:9]] == ["click", "long_view", "like", "gift", "gift", "gift", "gift",
                                                 "comment", "click"]
    assert c["value"][c["kind"] == KINDS.index("gift")].tolist() == [5, 9, 2, 50]  # ties: events.parquet's order
    assert np.all(np.diff(c["ts"][:9]) >= 0)
    gifts = planted.sequences(np.array([1]), np.array([T0 + 10**9]), kinds=("gift", "click"), max_len=2)
    assert [KINDS[k] for k in gifts.columns["kind"]] == ["gift", "click"]      # max_len counts those kinds only
    assert gifts.columns["value"][0] == 50
    pair = planted.sequences(np.array([1, 1]), np.full(2, T0 + 10**9), streamer_ids=np.array([7, 9]))
    assert pair.lengths.tolist() == [8, 1] and set(pair.columns["streamer_id"][:8]) == {7}
    before = planted.event_log(T0, T0 + 60_000)
    assert before.user_ids.tolist() == [1, 2]
    seen = dict(zip(zip(before.columns["kind"], before.columns["sample_id"], strict=True),
                    before.columns["value"], strict=True))
    assert seen[(0, 0)] == -1 and (KINDS.index("like"), 0) not in seen          # at `end` the session runs on
    after = planted.event_log(T0, T0 + 60_001)
    assert dict(zip(after.columns["sample_id"][after.columns["kind"] == 0], after.columns["value"][
        after.columns["kind"] == 0], strict=True))[0] == 60_000


def test_bad_arguments_are_refused(planted):
    one = (np.array([1]), np.array([T0]))
    for kw in ({"kinds": ("click", "share")}, {"kinds": ()}, {"max_len": 0}, {"max_len": 2.5}):
        with pytest.raises(BenchmarkError):
            planted.sequences(*one, **kw)
    with pytest.raises(BenchmarkError):
        planted.sequences(np.array([1, 2]), np.array([T0]))


def test_to_padded_left_pads_with_the_most_recent_last():
    seq = Sequences(np.array([0, 3, 3, 4]), {"ts": np.array([1, 2, 3, 9])})
    assert seq.to_padded("ts", 2).tolist() == [[2, 3], [-1, -1], [-1, 9]]
    assert seq.to_padded("ts", 4, pad=0).tolist() == [[0, 1, 2, 3], [0, 0, 0, 0], [0, 0, 0, 9]]
    assert seq.to_padded(np.array([5, 6, 7, 8]), 1).tolist() == [[7], [-1], [8]]
    with pytest.raises(BenchmarkError):
        seq.to_padded(np.arange(3), 2)


# --- the tiny preset -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def store(tiny_data) -> FeatureStore:
    return FeatureStore.open(tiny_data / "features" / DATASET, tiny_data / "processed" / DATASET)


@pytest.fixture(scope="module")
def periods(tiny_data) -> dict[str, tuple[int, int]]:
    bounds = json.loads((tiny_data / "split" / DATASET / "split_manifest.json").read_text())["boundaries"]
    return {name: (int(b["start_ms"]), int(b["end_ms"])) for name, b in bounds.items()}


@pytest.fixture(scope="module")
def reference(store) -> dict[int, list[tuple]]:
    """The event log built row by row in plain Python, independently of the module: user -> rows of
    (ts, kind, sample_id, streamer_id, live_id, value, shown_ts), sorted."""
    ex = pq.read_table(store.processed_dir / "exposures.parquet").to_pandas()
    clicks = {int(r.sample_id): r for r in ex[ex["click"] == 1].itertuples()}
    ev = pq.read_table(store.processed_dir / "events.parquet").to_pandas()
    rows: dict[int, list[tuple]] = {}
    for r in clicks.values():
        rows.setdefault(int(r.user_id), []).append((r.ts, 0, r.sample_id, r.streamer_id, r.live_id, r.watch_ms,
                                                    r.reveal_ts))
        if r.watch_ms >= store.long_view_ms:
            at = r.reveal_ts
            rows[int(r.user_id)].append((at, 1, r.sample_id, r.streamer_id, r.live_id, -1, at))
    for e in ev.itertuples():
        click = clicks.get(int(e.click_sample_id))
        known = max(e.ts, click.ts + click.watch_ms) if click is not None else e.ts  # the store's rule
        value = e.gift_price if e.kind == "gift" else -1
        rows.setdefault(int(e.user_id), []).append((known, KINDS.index(e.kind), e.click_sample_id, e.streamer_id,
                                                    e.live_id, value, known))
    # (ts, kind, sample_id) order; ties (events of one kind and session known at once) in events.parquet order
    return {u: sorted((tuple(int(x) for x in row) for row in r), key=lambda row: row[:3]) for u, r in rows.items()}


def _slow(reference, user: int, t: int, max_len, kinds, streamer) -> list[tuple]:
    codes = {KINDS.index(k) for k in (kinds or KINDS)}
    rows = [r for r in reference.get(user, []) if r[0] < t and r[1] in codes and (streamer is None or
                                                                                 r[3] == streamer)]
    rows = rows[-max_len:] if max_len else rows
    return [(r[1], r[0], r[3], r[4], r[2], r[5] if r[6] < t else -1) for r in rows]  # in COLUMNS order


def _queries(store, reference, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random users (a few unknown), at random times, many exactly at an event's known time or 1 ms after."""
    rng = np.random.default_rng(seed)
    u = rng.choice(np.array(sorted(reference)), n)
    u[:5] = 10**9
    ts = np.full(n, int(np.median([r[0] for r in reference[int(u[-1])]])))
    streamer = np.full(n, 7)
    for i in range(n):  # each query at (or just after) one of its own user's event times, with a streamer of theirs
        if int(u[i]) in reference:
            mine = reference[int(u[i])]
            ts[i] = mine[rng.integers(len(mine))][0] + rng.choice([0, 1, 600_000])
            streamer[i] = mine[rng.integers(len(mine))][3]
    return u, ts, streamer


@pytest.mark.parametrize("max_len, kinds, by_streamer", [
    (None, None, False), (7, None, False), (1, ("gift",), False), (3, ("click", "like", "comment"), False),
    (None, None, True), (4, ("click", "long_view"), True),
])
def test_equal_to_a_slow_reference(store, reference, max_len, kinds, by_streamer):
    u, ts, streamer = _queries(store, reference, 300, seed=(max_len or 0) + 10 * by_streamer)
    seq = store.sequences(u, ts, max_len, kinds, streamer if by_streamer else None)
    assert len(seq) == u.size and seq.offsets[0] == 0 and seq.offsets.dtype == np.int64
    total = 0
    for i in range(u.size):
        want = _slow(reference, int(u[i]), int(ts[i]), max_len, kinds, int(streamer[i]) if by_streamer else None)
        got = list(zip(*(seq.columns[c][seq.offsets[i]:seq.offsets[i + 1]].tolist() for c in COLUMNS),
                       strict=True))
        assert got == want, (i, int(u[i]), int(ts[i]))
        total += len(want)
    assert total > 0


def test_known_times_are_the_stores_reveal_times(store):
    """Every like, comment and gift is known at events.parquet's reveal time (after its session's watch when
    attributed), every long_view with its click's watch: the rule check's perturbation follows too."""
    ex = pq.read_table(store.processed_dir / "exposures.parquet").to_pandas().set_index("sample_id")
    ev = pq.read_table(store.processed_dir / "events.parquet").to_pandas()
    log = store.event_log(-(1 << 62), 1 << 62).columns
    events = np.isin(log["kind"], [KINDS.index(k) for k in ("like", "comment", "gift")])
    assert sorted(log["ts"][events].tolist()) == sorted(ev["reveal_ts"].tolist())
    mine = events & (log["sample_id"] >= 0)
    click = ex.loc[log["sample_id"][mine]]
    assert (log["ts"][mine] >= click["ts"].to_numpy() + click["watch_ms"].to_numpy()).all()
    long = log["kind"] == KINDS.index("long_view")
    assert long.any() and np.array_equal(log["ts"][long], ex.loc[log["sample_id"][long], "reveal_ts"].to_numpy())


def test_clicks_only_padded_are_the_click_history(store, reference):
    u, ts, _ = _queries(store, reference, 200, seed=3)
    seq = store.sequences(u, ts, 8, kinds="click")
    hist = store.history(u, ts, 8)
    assert np.array_equal(seq.to_padded("sample_id", 8), hist["sample_id"])
    assert np.array_equal(seq.to_padded("value", 8), hist["watch_ms"])


def test_two_calls_and_two_stores_give_identical_arrays(store, reference):
    u, ts, s = _queries(store, reference, 300, seed=5)
    fresh = FeatureStore.open(store.features_dir, store.processed_dir)
    for a, b in ((store.sequences(u, ts, 5), store.sequences(u, ts, 5)),
                 (store.sequences(u, ts, 5, streamer_ids=s), fresh.sequences(u, ts, 5, streamer_ids=s)),
                 (store.event_log(0, 1 << 62), fresh.event_log(0, 1 << 62))):
        assert np.array_equal(a.offsets, b.offsets)
        assert all(np.array_equal(a.columns[c], b.columns[c]) and a.columns[c].dtype == b.columns[c].dtype
                   for c in COLUMNS)


# --- the sealed view -----------------------------------------------------------------------------------------
def test_fitting_answers_up_to_the_test_start_and_no_later(store, periods):
    start = periods["test"][0]
    view = FeatureView(store, periods, FitClock(start))
    users = np.array(sorted(store.click_history.coder.values[:3]))
    assert len(view.sequences(users, np.full(3, start), 10)) == 3
    with pytest.raises(SealError, match="up to the start of the test period"):
        view.sequences(users, np.full(3, start + 1), 10)
    log = view.event_log()
    assert log.columns["ts"].max() < start and log.lengths.sum() == store.event_log(-(1 << 62), start).lengths.sum()
    with pytest.raises(SealError):
        view.event_log(end=start + 1)
    with pytest.raises(BenchmarkError):
        view.sequences(users, np.full(3, start), 0)
    with pytest.raises(BenchmarkError):
        view.sequences(users, np.full(3, start), kinds=("view",))


def test_predicting_answers_only_the_rows_handed_over(store, periods, tiny_data):
    rows = pq.read_table(tiny_data / "tasks" / DATASET / "ctr" / "test.parquet").to_pandas().iloc[:50]
    u, s, lv, ts = (rows[c].to_numpy() for c in ("user_id", "streamer_id", "live_id", "ts"))
    view = FeatureView(store, periods, RowsClock.of_rows(u, s, lv, ts, rows["sample_id"].to_numpy()))
    got = view.sequences(u, ts, 50)
    want = store.sequences(u, ts, 50)
    assert np.array_equal(got.offsets, want.offsets) and got.lengths.sum() > 0
    assert view.sequences(u, ts, 5, streamer_ids=s).columns["streamer_id"].tolist() == \
        store.sequences(u, ts, 5, streamer_ids=s).columns["streamer_id"].tolist()
    other = rows["streamer_id"].to_numpy()[::-1]
    bad = other != s
    for call in (lambda: view.sequences(u, ts + 1, 5),                        # a free timestamp
                 lambda: view.sequences(u + 10**6, ts, 5),                    # a user not handed over
                 lambda: view.sequences(u[bad], ts[bad], 5, streamer_ids=other[bad] + 10**6),
                 lambda: view.event_log(),
                 lambda: view.event_log(periods["train"][0], periods["valid"][0])):
        with pytest.raises(SealError):
            call()
