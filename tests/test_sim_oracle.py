"""The Oracle is the truth the simulator sampled from: it reproduces the stored probabilities and is calibrated."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from benchmark.errors import BenchmarkError
from benchmark.sim import simulate
from benchmark.sim.oracle import T0_MS, Oracle
from benchmark.sim.report import attribute


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    return simulate("tiny", 1, tmp_path_factory.mktemp("sim"), quiet=True)


@pytest.fixture(scope="module")
def labelled(out) -> pd.DataFrame:
    exp = pq.read_table(out / "oracle" / "exposures.parquet").to_pandas()
    click = pcsv.read_csv(out / "KuaiLive" / "click.csv").to_pandas()
    label = pd.MultiIndex.from_frame(exp[["user_id", "live_id", "timestamp"]]).isin(
        pd.MultiIndex.from_frame(click[["user_id", "live_id", "timestamp"]]))
    return exp.assign(click=label)


def test_oracle_reproduces_stored_truth(out, labelled):
    o = Oracle.load(out / "oracle")
    e = labelled
    np.testing.assert_allclose(o.click_prob(e.user_id, e.live_id, e.timestamp), e.p_click, rtol=0, atol=1e-6)
    assert (o.in_highlight(e.live_id, e.timestamp) == e.in_highlight).all()
    c = pq.read_table(out / "oracle" / "clicks.parquet").to_pandas()
    for col, fn in (("exp_watch_ms", o.expected_watch_ms), ("p_comment", o.p_comment), ("p_like", o.p_like),
                    ("p_gift", o.p_gift), ("exp_gift_value", o.expected_gift_value)):
        np.testing.assert_allclose(fn(c.user_id, c.live_id, c.timestamp), c[col], rtol=1e-5, err_msg=col)


def test_click_calibration_by_decile(labelled):
    q = pd.qcut(labelled["p_click"], 10, labels=False)
    g = labelled.groupby(q).agg(p=("p_click", "mean"), ctr=("click", "mean"), n=("click", "size"))
    se = np.sqrt(g["p"] * (1 - g["p"]) / g["n"])
    assert (np.abs(g["ctr"] - g["p"]) <= 0.01 + 4 * se).all(), g
    assert g["ctr"].is_monotonic_increasing


def test_post_click_truth_without_selection(tmp_path):
    """The all-four selection conditions on outcomes; without it realised rates match the oracle's means."""
    out = simulate("tiny", 2, tmp_path, overrides={"active_selection": False}, quiet=True)
    c = pq.read_table(out / "oracle" / "clicks.parquet").to_pandas()
    raw = out / "KuaiLive"
    click = pcsv.read_csv(raw / "click.csv").to_pandas()
    n = len(click)
    for kind, col in (("comment", "p_comment"), ("like", "p_like")):
        ev = pcsv.read_csv(raw / f"{kind}.csv").to_pandas()
        realised = (attribute(click, ev) >= 0).sum() / n
        expected = c[col].mean()
        assert abs(realised - expected) <= 0.2 * expected + 3 * np.sqrt(expected / n), kind
    watch = click["watch_live_time"].mean()
    assert abs(watch - c["exp_watch_ms"].mean()) <= 0.1 * watch


def test_oracle_scores_any_candidate(out):
    """A topk Oracle scores every room live at t, for any user; unknown ids are a clear error."""
    o = Oracle.load(out / "oracle")
    rooms = pq.read_table(out / "oracle" / "latent" / "rooms.parquet").to_pandas()
    t = T0_MS + 10 * 86_400_000 + 21 * 3_600_000
    live = rooms[(rooms.start_ts <= t) & (t < rooms.end_ts)]
    assert len(live) > 10
    user = o.user_ids[0]
    p = o.click_prob(np.full(len(live), user), live.live_id, np.full(len(live), t))
    assert p.shape == (len(live),) and np.isfinite(p).all() and (p > 0).all() and (p < 1).all()
    assert p.std() > 0
    with pytest.raises(BenchmarkError, match="unknown room"):
        o.click_prob([user], [-5], [t])


def test_load_rejects_non_oracle(tmp_path):
    with pytest.raises(BenchmarkError):
        Oracle.load(tmp_path)


def test_a_room_shows_its_segments_topics_in_turn():
    """Content.topic_at: the opening topic before the first change, then each segment's from its start on."""
    import numpy as np

    from benchmark.sim.oracle import T0_MS, Content, interval_key

    keys = interval_key(np.array([1, 1, 2]), np.array([T0_MS + 100, T0_MS + 200, T0_MS + 50]))
    c = Content(np.zeros((9, 2), np.float32), np.zeros(9, np.int8), np.array([0, 1, 2, 3], np.int32), keys,
                np.array([7, 8, 6], np.int32))
    rooms = np.array([0, 1, 1, 1, 1, 2, 2, 3])
    t = T0_MS + np.array([500, 99, 100, 199, 200, 49, 50, 10])
    assert c.topic_at(rooms, t).tolist() == [0, 1, 7, 7, 8, 2, 6, 3]


def test_each_ablation_hides_one_thing_and_averages_over_it(out, labelled):
    """Oracle.variants: highlight-blind mixes in/out of a highlight by the windows' share of live time, so a
    sample inside one gets less than the truth and one outside more; rhythm-blind mixes weekend and weekday;
    content-blind swaps the room's content for its streamer's average; the weights sum to 1."""
    o = Oracle.load(out / "oracle")
    e = labelled.iloc[::7]
    u, lv, ts = e.user_id.to_numpy(), e.live_id.to_numpy(), e.timestamp.to_numpy()
    truth = o.click_prob(u, lv, ts)
    (w, c), = o.variants(u, lv, ts)
    assert w == 1.0 and np.array_equal(o.truth.click_prob(c), truth)

    def mixed(blind: str) -> np.ndarray:
        parts = o.variants(u, lv, ts, blind)
        assert abs(sum(w for w, _ in parts) - 1.0) < 1e-12
        return np.sum([w * o.truth.click_prob(c) for w, c in parts], axis=0)

    assert 0.03 < o.highlight_share < 0.15
    hl = e.in_highlight.to_numpy()
    blind = mixed("highlights")
    assert hl.any() and (blind[hl] < truth[hl]).all() and (blind[~hl] > truth[~hl]).all()
    weekend = ((ts - T0_MS) // 86_400_000) % 7 >= 5
    assert weekend.any() and not np.allclose(mixed("rhythm"), truth)
    content = mixed("content")
    assert not np.allclose(content, truth) and np.corrcoef(content, truth)[0, 1] > 0.8
    with pytest.raises(BenchmarkError, match="blind must be one of"):
        o.variants(u, lv, ts, "taste")


def test_the_oracle_knows_who_the_feed_shows_what(out, labelled):
    """exposure_prob follows the feed's rules: the room each exposure showed is far likelier under it than
    another room live at that moment, and the feed intensity it uses integrates to the feed's slot mass."""
    from dataclasses import replace

    from sklearn.metrics import roc_auc_score

    from benchmark.sim.feed import slot_mass

    o = Oracle.load(out / "oracle")
    t_ = o.truth
    e = labelled.iloc[::5]
    u, lv, ts = e.user_id.to_numpy(), e.live_id.to_numpy(), e.timestamp.to_numpy()
    rng = np.random.default_rng(0)
    ri = np.arange(o.live_ids.size)
    other = np.array([rng.choice(ri[(t_.rooms["start"] <= t) & (t < t_.rooms["end"])]) for t in ts])
    shown = t_.exposure_prob(o.variants(u, lv, ts)[0][1])
    random = t_.exposure_prob(o.variants(u, o.live_ids[other], ts)[0][1])
    assert (shown > 0).all() and roc_auc_score(np.r_[np.ones(ts.size), np.zeros(ts.size)], np.r_[shown, random]) > 0.75
    # feed_intensity integrated over a slot (outside highlights) = the slot mass the feed draws rooms by.
    c = o.variants(u[:50], lv[:50], ts[:50])[0][1]
    c = c.take(~c.hl)
    bin_ms = t_.p.bin_min * 60_000
    lo = (c.t - T0_MS) // bin_ms * bin_ms
    start_rel = t_.rooms["start"][c.ri] - T0_MS
    a, b = np.maximum(lo, start_rel), np.minimum(lo + bin_ms, t_.rooms["end"][c.ri] - T0_MS)
    grid = a[:, None] + (b - a)[:, None] * (np.arange(2000) + 0.5)[None, :] / 2000  # midpoints of 2,000 steps
    at = replace(c.take(np.repeat(np.arange(c.t.size), 2000)), t=grid.ravel() + T0_MS)
    integral = t_.feed_intensity(at).reshape(c.t.size, 2000).mean(axis=1) * (b - a) / bin_ms
    popw = np.exp(t_.p.feed_pop_exponent * t_.streamers["log_pop"][c.si]).astype(np.float32)
    np.testing.assert_allclose(integral, slot_mass(t_.p, popw, start_rel, a, b, bin_ms), rtol=2e-3)


def test_the_topk_oracle_never_ranks_a_room_the_user_already_entered(tiny_data, tmp_path):
    """The topk query is a first entry, so the Oracle scores 0 a live room the user clicked before t: none
    of its top 10 is one while a room never entered is left to fill them."""
    from benchmark.params import ModelSpec
    from benchmark.runner import run_one

    ds = "sim-tiny-s0"
    (rec,) = run_one(ds, "topk", ModelSpec("Oracle", "baselines.simple:Oracle"), 0, tiny_data, tmp_path, quiet=True)
    assert rec["status"] == "ok", rec.get("error")
    preds = pq.read_table(tmp_path / ds / "topk" / "Oracle" / "seed0" / "predictions.parquet").to_pandas()
    queries = pq.read_table(tiny_data / "tasks" / ds / "topk" / "test.parquet").to_pandas()
    ex = pq.read_table(tiny_data / "processed" / ds / "exposures.parquet",
                       columns=["user_id", "live_id", "ts", "click"]).to_pandas()
    rooms = pq.read_table(tiny_data / "processed" / ds / "rooms.parquet",
                          columns=["live_id", "streamer_id", "start_ts", "end_ts"]).to_pandas()
    top = queries.merge(preds[["sample_id", "top"]], on="sample_id").explode("top").dropna(subset=["top"])
    top = top.assign(top=top["top"].astype(np.int64)).groupby("sample_id").head(10)
    shown = top.merge(rooms, left_on="top", right_on="streamer_id", suffixes=("", "_c"))
    shown = shown[(shown["start_ts"] <= shown["ts"]) & (shown["ts"] < shown["end_ts"])]  # the candidate's live room
    clicks = ex[ex["click"] == 1]
    entered = shown.merge(clicks, left_on=["user_id", "live_id_c"], right_on=["user_id", "live_id"],
                          suffixes=("", "_e"))
    entered = entered[entered["ts_e"] < entered["ts"]]
    assert len(shown) > 0 and len(entered) == 0, entered.head()
