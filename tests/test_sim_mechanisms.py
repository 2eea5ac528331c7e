"""Every KuaiLive-Sim mechanism is detectable in the written files with its switch on, and gone with it off.

Each case simulates the tiny preset with one switch off and compares one statistic of
benchmark.sim.report.mechanism_stats against the default run (docs/simulator.md lists them).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.sim import simulate
from benchmark.sim.presets import SWITCHES
from benchmark.sim.report import mechanism_stats

SEED = 3
# Gift concentration is a property of a few whales: it needs more users than tiny has.
BIGGER = {"gift_concentration": ("small", {"n_users": 1000})}


def _stats(tmp: Path, preset: str, overrides: dict) -> dict[str, float]:
    simulate(preset, SEED, tmp, overrides=overrides, quiet=True)
    return mechanism_stats(tmp)


@pytest.fixture(scope="module")
def on(tmp_path_factory) -> dict[str, float]:
    return _stats(tmp_path_factory.mktemp("on"), "tiny", {})


@pytest.fixture(scope="module")
def on_bigger(tmp_path_factory) -> dict[str, float]:
    preset, over = BIGGER["gift_concentration"]
    return _stats(tmp_path_factory.mktemp("on_bigger"), preset, over)


def check_popularity_tail(on, off):
    assert on["popularity_gini"] >= off["popularity_gini"] + 0.15


def check_category_clusters(on, off):
    assert on["title_category_accuracy"] >= 0.8
    assert off["title_category_accuracy"] <= off["title_category_chance"] + 0.1


def check_daily_peak(on, off):
    assert on["evening_start_share"] >= 0.5 and on["evening_exposure_share"] >= 0.5
    assert off["evening_start_share"] <= 0.35 and off["evening_exposure_share"] <= 0.35


def check_daily_rhythm(on, off):
    assert on["lag24_pairs"] >= 200 and off["lag24_pairs"] >= 200
    assert on["lag24_peak_ratio"] >= 2.0
    assert off["lag24_peak_ratio"] <= 1.4


def check_favourites(on, off):
    assert on["top3_streamer_click_share"] >= off["top3_streamer_click_share"] + 0.15


def check_highlights(on, off):
    assert on["highlight_ctr_ratio"] >= 1.5
    assert 0.8 <= off["highlight_ctr_ratio"] <= 1.25


def check_room_age(on, off):
    assert on["fresh_exposure_share"] >= 1.5 * off["fresh_exposure_share"]


def check_funnel(on, off):
    assert on["funnel_top_bottom_ratio"] >= 3.0
    assert off["funnel_top_bottom_ratio"] <= 1.5


def check_gift_concentration(on, off):
    assert on["gift_count_gini"] >= off["gift_count_gini"] + 0.05


def check_activity_tail(on, off):
    assert on["user_activity_p90_p10"] >= 3.5
    assert off["user_activity_p90_p10"] <= 3.0


def check_side_signal(on, off):
    # platform_profiles: user counts follow the latent activity (lifetime), so they track window clicks less.
    assert on["user_profile_activity_spearman"] >= 0.2 and on["streamer_fans_clicks_spearman"] >= 0.5
    assert abs(off["user_profile_activity_spearman"]) <= 0.15 and abs(off["streamer_fans_clicks_spearman"]) <= 0.15


def check_snap_timestamps(on, off):
    assert on["event_snap_share"] >= 0.95
    assert off["event_snap_share"] <= 0.05


def check_touched_rooms_only(on, off):
    assert on["touched_room_share"] == 1.0
    assert off["touched_room_share"] <= 0.9


def check_active_selection(on, off):
    assert on["all_four_share"] == 1.0
    assert off["all_four_share"] <= 0.9


def check_release_quirks(on, off):
    assert on["unattributed_share"] > 0 and on["streamer_mismatch_share"] > 0 and on["title_change_rooms"] > 0
    assert off["unattributed_share"] == 0 and off["streamer_mismatch_share"] == 0 and off["title_change_rooms"] == 0


def check_platform_traffic(on, off):
    # At small the lift is >= 1.5 (docs/simulator.md); tiny's few exposures per room make it noisier.
    assert on["highlight_exposure_lift"] >= 1.3
    assert off["highlight_exposure_lift"] <= 1.1


def check_content_drift(on, off):
    assert on["multi_category_streamers"] >= 0.10
    assert off["multi_category_streamers"] == 0.0


def check_weekly_rhythm(on, off):
    assert on["weekend_weekday_ratio"] >= off["weekend_weekday_ratio"] + 0.05
    assert 0.9 <= off["weekend_weekday_ratio"] <= 1.1


def check_platform_profiles(on, off):
    assert off["profile_click_partial"] >= on["profile_click_partial"] + 0.2


def check_match_value(on, off):
    assert on["oracle_watch_spearman"] >= off["oracle_watch_spearman"] + 0.1


def test_every_switch_has_a_check():
    assert sorted(SWITCHES) == sorted(n[len("check_"):] for n in globals() if n.startswith("check_"))


@pytest.mark.parametrize("switch", SWITCHES)
def test_mechanism_on_and_off(switch, on, on_bigger, tmp_path):
    preset, over = BIGGER.get(switch, ("tiny", {}))
    off = _stats(tmp_path, preset, {**over, switch: False})
    globals()[f"check_{switch}"](on_bigger if switch in BIGGER else on, off)


def test_dense_highlights_are_crowded(tmp_path):
    """dense (a mechanism study): most exposures inside a highlight follow another sampled user's entry by <= 30 s."""
    from benchmark.sim.report import highlight_stats

    simulate("dense", SEED, tmp_path, quiet=True)
    h = highlight_stats(tmp_path)
    assert h["entry30_in"] >= 0.5 and h["entry30_in"] > h["entry30_out"]
    assert h["exposure_share_in"] >= 1.5 * h["time_share"]
