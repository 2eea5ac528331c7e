"""The feature store's building blocks on hand-made cases: strictly-before counts, masking, live sets."""

import numpy as np
import pyarrow as pa

from benchmark.features.encoders import Vocab
from benchmark.features.history import ClickHistory, PairHistory, history_table
from benchmark.features.live_index import LiveIndex
from benchmark.features.moment import MomentContext

T = 1_747_000_000_000


def _exposures(rows):
    cols = ["sample_id", "user_id", "live_id", "streamer_id", "ts", "click", "watch_ms", "reveal_ts",
            "n_comment", "n_like", "n_gift", "gift_value"]
    return pa.table({c: np.array([r[i] for r in rows], dtype=np.int64) for i, c in enumerate(cols)})


def _row(sid, user, live, streamer, ts, click, watch=0, n_gift=0, gift=0):
    return (sid, user, live, streamer, ts, click, watch, ts + watch, 0, 0, n_gift, gift)


def test_history_is_strictly_before_and_masks_unrevealed_outcomes():
    ex = _exposures([
        _row(0, 7, 100, 1, T, 1, watch=60_000, n_gift=1, gift=50),   # session ends T+60s
        _row(1, 7, 101, 2, T + 10_000, 1, watch=5_000),              # ends T+15s
        _row(2, 7, 102, 3, T + 20_000, 0),                           # negative: not in the log
        _row(3, 8, 100, 1, T + 20_000, 1, watch=1_000),
    ])
    h = ClickHistory(history_table(ex), base_ts=T - 1)
    ts = np.array([T, T + 10_000, T + 30_000, T + 70_000])
    assert h.hist_len(np.array([7, 7, 7, 7]), ts).tolist() == [0, 1, 2, 2]
    last = h.last(np.array([7, 7]), np.array([T + 30_000, T + 70_000]), length=3)
    assert last["valid"].tolist() == [[False, True, True], [False, True, True]]
    # at T+30s the first session (ends T+60s) is still running: entry shown, outcome hidden
    assert last["live_id"][0].tolist() == [-1, 100, 101]
    assert last["revealed"][0].tolist() == [False, False, True]
    assert last["gift_value"][0].tolist() == [-1, -1, 0]
    assert last["watch_ms"][0].tolist() == [-1, -1, 5_000]
    # at T+70s it has ended and is revealed
    assert last["gift_value"][1].tolist() == [-1, 50, 0]
    assert h.hist_len(np.array([99]), np.array([T + 99_000])).tolist() == [0]


def test_pair_stats_counts_clicks_before_t_and_outcomes_after_reveal():
    ex = _exposures([
        _row(0, 7, 100, 1, T, 1, watch=60_000, n_gift=2, gift=30),
        _row(1, 7, 105, 1, T + 86_400_000, 1, watch=1_000),
    ])
    p = PairHistory(ClickHistory(history_table(ex), base_ts=T - 1))
    s = p.stats(np.array([7, 7, 7, 7, 8]), np.array([1, 1, 1, 1, 1]),
                np.array([T, T + 1, T + 60_001, T + 86_400_001, T + 86_400_001]))
    assert s["clicks"].tolist() == [0, 1, 1, 2, 0]
    assert s["last_click_ts"].tolist() == [-1, T, T, T + 86_400_000, -1]
    assert s["n_gift"].tolist() == [0, 0, 2, 2, 0]
    assert s["gift_value"].tolist() == [0, 0, 30, 30, 0]


def test_moment_context_windows_and_reveal_times():
    clicks = pa.table({"live_id": np.array([5, 5, 5, 6]), "ts": np.array([T, T + 100_000, T + 290_000, T])})
    events = pa.table({
        "kind": ["gift", "comment"], "live_id": np.array([5, 5]), "ts": np.array([T, T + 100_000]),
        "reveal_ts": np.array([T + 200_000, T + 100_000]), "gift_price": np.array([9, 0]),
    })
    m = MomentContext(clicks, events, base_ts=T - 1, windows_s=[30, 300])
    out = m.compute(np.array([5, 5, 5, 7]), np.array([T + 290_000, T + 300_000, T + 200_001, T + 1]))
    assert out["entries_30s"].tolist() == [0, 1, 0, 0]       # the click at exactly t is not before t
    assert out["entries_300s"].tolist() == [2, 3, 2, 0]
    assert out["entries_all"].tolist() == [2, 3, 2, 0]
    assert out["gifts_all"].tolist() == [1, 1, 1, 0]          # snapped to T, revealed at T+200s
    assert out["gift_value_30s"].tolist() == [0, 0, 9, 0]
    early = m.compute(np.array([5]), np.array([T + 150_000]))
    assert early["gifts_all"].tolist() == [0] and early["comments_all"].tolist() == [1]
    assert list(out) == m.columns()


def test_live_index_returns_exactly_the_live_streamers():
    live = np.array([1, 2, 3, 4, 5])
    streamer = np.array([10, 20, 10, 30, 40])
    start = np.array([T, T + 1_000, T + 5_000_000, T - 10_000_000, T + 100])
    end = np.array([T + 7_200_000, T + 2_000, T + 9_000_000, T + 20_000_000, T + 100])  # 5: zero length
    idx = LiveIndex(live, streamer, start, end)
    ts = np.array([T, T + 1_500, T + 2_000, T + 6_000_000, T + 30_000_000])
    offsets, s, rooms = idx.candidates(ts)
    got = [sorted(s[offsets[i]:offsets[i + 1]].tolist()) for i in range(ts.size)]
    assert got == [[10, 30], [10, 20, 30], [10, 30], [10, 30], []]
    # streamer 10 has two rooms live at T+6,000s: the later-starting one is served
    q3 = slice(offsets[3], offsets[4])
    assert rooms[q3][s[q3] == 10].tolist() == [3]
    assert idx.is_live(np.array([10, 20, 20, 40, 99]), np.array([T, T + 1_999, T + 2_000, T + 100, T])).tolist() \
        == [True, True, False, False, False]
    # brute force on random rooms
    rng = np.random.default_rng(0)
    st = T + rng.integers(0, 50 * 3_600_000, 500)
    en = st + rng.integers(1, 5 * 3_600_000, 500)
    sm = rng.integers(0, 60, 500)
    idx = LiveIndex(np.arange(500), sm, st, en)
    q = T + rng.integers(-3_600_000, 56 * 3_600_000, 300)
    offsets, s, _ = idx.candidates(q)
    for i, t in enumerate(q):
        assert s[offsets[i]:offsets[i + 1]].tolist() == sorted(set(sm[(st <= t) & (t < en)].tolist()))
    probe = rng.integers(0, 60, 300)
    assert idx.is_live(probe, q).tolist() == [bool(((sm == p) & (st <= t) & (t < en)).any())
                                              for p, t in zip(probe, q, strict=True)]
    # count (merged live spans) = the candidate sets' sizes, with overlapping, empty and inverted rooms
    en2 = en.copy()
    en2[::7] = st[::7]
    en2[3::11] = st[3::11] - 1
    q2 = np.concatenate([q, st[:50], en2[:50]])
    idx2 = LiveIndex(np.arange(500), sm, st, en2)
    assert idx2.count(q2).tolist() == np.diff(idx2.candidates(q2)[0]).tolist()


def test_vocab_maps_unseen_to_zero():
    v = Vocab(np.array([30, 10, 20, 10]))
    assert len(v) == 4
    assert v.encode(np.array([10, 20, 30, 5, 40])).tolist() == [1, 2, 3, 0, 0]


def test_sorted_searchsorted_and_cumulative_counts_match_brute_force_on_large_inputs():
    """The cache-friendly paths (taken above SORT_MIN queries) give exactly the plain answers."""
    from benchmark.features.cumulative import CumulativeIndex
    from benchmark.features.keys import SORT_MIN, KeyCoder, searchsorted_many

    rng = np.random.default_rng(3)
    n = 2 * SORT_MIN
    a = np.sort(rng.integers(0, 1000, 5000))
    v = rng.integers(-5, 1005, n)
    for side in ("left", "right"):
        assert np.array_equal(searchsorted_many(a, v, side=side), np.searchsorted(a, v, side=side))
    ent, at = rng.integers(0, 300, 20_000), T + rng.integers(0, 10_000_000, 20_000)
    val = rng.integers(0, 9, 20_000)
    index = CumulativeIndex(KeyCoder(ent, T - 1), ent, at, {"v": val})
    q_ent, q_ts = rng.integers(-2, 302, n), T + rng.integers(0, 10_000_000, n)
    since = q_ts - 2_000_000
    (_, c_all, s_all), (_, c_win, s_win) = index.query_codes(*index.coder.codes(q_ent), q_ts, [None, since])
    # brute force over the rows of each queried entity
    for i in rng.choice(n, 400, replace=False):
        rows = ent == q_ent[i]
        before = rows & (at < q_ts[i])
        window = before & (at >= since[i])
        assert c_all[i] == before.sum() and s_all["v"][i] == val[before].sum()
        assert c_win[i] == window.sum() and s_win["v"][i] == val[window].sum()
    _, c_one, _ = index.query(q_ent, q_ts, since)
    assert np.array_equal(c_one, c_win)
