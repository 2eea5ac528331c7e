"""KuaiLive-Sim's marginals sit in sensible bands around the published KuaiLive figures (tiny and small)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.sim import simulate
from benchmark.sim.report import ROWS, calibration_report, compute_stats, published_figures

# Bands for both tiny and small. Tiny has about 6 whales among 300 users, so one heavy whale can move its
# gift statistics a lot: those get the wider TINY_GIFT_BANDS.
BANDS = {
    "comments_per_click": (0.028, 0.06), "likes_per_click": (0.025, 0.055), "gifts_per_click": (0.009, 0.03),
    "negatives_per_click": (1.8, 3.6), "watch_median_s": (3.0, 8.0), "watch_mean_s": (80.0, 170.0),
    "gift_median": (1, 5), "gift_mean": (30, 160), "gift_p90": (40, 200), "gift_max": (1000, 13140),
    "streamers_lt5_share": (0.55, 0.85), "gift_snap_share": (0.95, 0.995), "rooms_per_row": (0.97, 0.997),
    "evening_start_share": (0.5, 0.85),
}
TINY_GIFT_BANDS = {"gifts_per_click": (0.009, 0.04), "gift_mean": (20, 400), "gift_p90": (30, 700)}


@pytest.fixture(scope="module", params=["tiny", "small"])
def sim(request, tmp_path_factory) -> tuple[str, Path]:
    return request.param, simulate(request.param, 0, tmp_path_factory.mktemp(request.param), quiet=True)


@pytest.fixture(scope="module")
def stats(sim) -> dict:
    return compute_stats(sim[1])


@pytest.mark.parametrize("key", sorted(BANDS))
def test_marginal_in_band(sim, stats, key):
    lo, hi = TINY_GIFT_BANDS.get(key, BANDS[key]) if sim[0] == "tiny" else BANDS[key]
    assert lo <= stats[key] <= hi, f"{key} = {stats[key]}"


def test_sizes(sim, stats):
    preset, _ = sim
    exposures = stats["clicks"] + stats["negatives"]
    if preset == "tiny":
        assert stats["users"] == 300 and 20_000 <= exposures <= 150_000
    else:
        assert stats["users"] == 2000 and 200_000 <= exposures <= 1_000_000
    # Rooms ephemeral: most touched rooms seen by few exposures, as in KuaiLive (11.6 M rooms / 17.6 M exposures).
    assert 0.4 <= stats["rooms_distinct"] / exposures <= 0.8


def test_oracle_auc_learnable_not_trivial(sim, stats):
    lo, hi = (0.82, 0.88) if sim[0] == "small" else (0.8, 0.9)
    assert lo <= stats["oracle_auc"] <= hi


def test_report_table(sim):
    text = calibration_report(sim[1])
    for label, _, _ in ROWS:
        assert label in text
    assert "23,772" in text and "KuaiLive-Sim" in text


def test_published_figures():
    pub = published_figures()
    assert pub["clicks"] == 4909515 and pub["gift_max"] == 13140 and pub["users"] == 23772
    assert {key for _, key, _ in ROWS} <= set(pub)


def test_simple_heuristics_below_oracle(sim):
    """Learnable but not trivial: causal popularity and repeat scores stay clearly below the oracle."""
    import numpy as np
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    from benchmark.sim.report import _labelled_exposures, _load

    if sim[0] != "small":
        pytest.skip("measured on small")
    d = _load(sim[1])
    lab = _labelled_exposures(d)
    room_s = d["room"].drop_duplicates("live_id").set_index("live_id")["streamer_id"]
    lab = lab.assign(streamer_id=room_s.reindex(lab["live_id"]).to_numpy()).sort_values(["timestamp", "user_id"])
    c = lab["click"].astype(int)
    streamer_clicks = lab.assign(c=c).groupby("streamer_id")["c"].cumsum() - c
    pair_clicks = lab.assign(c=c).groupby(["user_id", "streamer_id"])["c"].cumsum() - c
    oracle = roc_auc_score(lab["click"], lab["p_click"])
    for score in (streamer_clicks, pair_clicks, np.log1p(pair_clicks) * 3 + np.log1p(streamer_clicks)):
        assert roc_auc_score(lab["click"], pd.Series(score)) <= oracle - 0.03
