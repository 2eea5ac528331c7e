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
