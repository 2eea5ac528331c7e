"""KuaiLive-Sim parameters: one frozen dataclass naming every knob, a switch per mechanism, three presets.

Every number the generative model uses lives here (docs/simulator.md lists them with their values per
preset and how each was calibrated), so a run is fully described by (preset, overrides, seed).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any

from benchmark.errors import BenchmarkError

CATEGORIES: tuple[str, ...] = ("shop", "game", "chat", "music", "dance", "outdoor", "food", "talent",
                               "education", "sports")

# The mechanism switches, in the order docs/simulator.md describes them.
SWITCHES: tuple[str, ...] = (
    "popularity_tail", "category_clusters", "daily_peak", "daily_rhythm", "favourites", "highlights",
    "room_age", "funnel", "gift_concentration", "activity_tail", "side_signal", "snap_timestamps",
    "touched_rooms_only", "active_selection", "release_quirks",
    # kuailive-sim-2's mechanisms: all off reproduces kuailive-sim-1 byte for byte (tests/test_sim_pinned.py).
    "platform_traffic", "content_drift", "weekly_rhythm", "platform_profiles", "match_value",
)
SIM2_SWITCHES: tuple[str, ...] = SWITCHES[-5:]


@dataclass(frozen=True)
class SimParams:
    """Every parameter of the generative model (defaults = the `small` preset)."""

    # --- sizes -----------------------------------------------------------------------------------
    n_users: int = 2000                 # users written (after the all-four-behaviours selection)
    n_streamers: int = 18000
    user_oversample: float = 7.0        # users simulated per user kept, before the selection step
    requests_per_user: float = 140.0    # mean feed requests of a simulated user over the 21 days (lognormal)

    # --- mechanism switches (False = the mechanism is removed, everything else unchanged) ---------
    popularity_tail: bool = True        # heavy-tailed streamer popularity (off: all as popular as a typical one)
    category_clusters: bool = True      # latent factors and title embeddings cluster by category
    daily_peak: bool = True             # evening peak 18:00-24:00 +08 of room starts and user sessions
    daily_rhythm: bool = True           # preferred hours of users and streamers, stable across days
    favourites: bool = True             # each user has a few favourite streamers shown and clicked repeatedly
    highlights: bool = True             # highlight windows raise a room's click-through
    room_age: bool = True               # fresh rooms get more exposure; warm rooms more clicks
    funnel: bool = True                 # like/comment/gift depend on engagement (watch) and affinity
    gift_concentration: bool = True     # whales: a few users gift far more often and far dearer
    activity_tail: bool = True          # heavy-tailed requests per user (off: the same mean for everyone)
    side_signal: bool = True            # profile columns are noisy functions of latent state and activity
    snap_timestamps: bool = True        # in-room events carry the entry click's timestamp
    touched_rooms_only: bool = True     # room.csv holds only rooms some exposure touched
    active_selection: bool = True       # keep only users who clicked, commented, liked and gifted
    release_quirks: bool = True         # unattributed events, click/room streamer mismatch, title changes
    platform_traffic: bool = True       # the feed follows each room's platform audience, which surges in highlights
    content_drift: bool = True          # each room has its own content (category, title, topic), changing in segments
    weekly_rhythm: bool = True          # weekends: more activity, later hours, other tastes; more streamers live
    platform_profiles: bool = True      # profile counts at platform scale (the sampled users a negligible part)
    match_value: bool = True            # watch time and gift value driven harder by the user-room match

    # --- latent space ---------------------------------------------------------------------------
    latent_dim: int = 16
    category_weight: float = 0.6        # share of a factor's variance explained by its category centroid
    taste_concentration: float = 0.35   # Dirichlet concentration of a user's category tastes (x 10 x share)
    category_shares: tuple[float, ...] = (0.16, 0.12, 0.20, 0.10, 0.09, 0.07, 0.08, 0.07, 0.05, 0.06)

    # --- streamers and their schedule -----------------------------------------------------------
    pop_sigma: float = 1.8              # sd of log popularity
    stream_day_base: float = -0.6       # logit of P(stream on a given day) for a median streamer
    stream_day_pop: float = 3.0         # ... per sd of log popularity
    stream_day_sigma: float = 1.0       # ... streamer-level noise
    rooms_per_block: float = 6.8        # mean rooms after the first in a day's broadcast block
    max_rooms_per_block: int = 12
    room_median_min: float = 10.0       # room duration: lognormal median (minutes) ...
    room_sigma: float = 0.8             # ... and sigma (a long right tail, capped at room_max_h)
    room_max_h: float = 20.0
    room_gap_median_min: float = 2.0    # pause between successive rooms of a block
    start_jitter_h: float = 0.4         # daily rhythm: block start = preferred hour + N(0, this)
    titles_extra: float = 1.0           # titles per streamer = 1 + Poisson(this)
    p_no_title: float = 0.08            # room without a title (live_name_id = -1)
    p_title_change: float = 0.3         # a later p_date row of a midnight-crossing room gets another title

    # --- highlight moments ------------------------------------------------------------------------
    highlight_rate_per_h: float = 1.5   # windows per live hour (Poisson)
    highlight_median_min: float = 3.0   # window length: lognormal median (minutes) ...
    highlight_sigma: float = 0.5        # ... and sigma

    # --- users ------------------------------------------------------------------------------------
    activity_sigma: float = 0.9         # sd of log requests per user (lognormal, before the actives floor)
    min_requests: float = 80.0          # "actives": users are drawn among those requesting at least this many
    rhythm_share: float = 0.75          # sessions at the user's preferred hour (rest: global profile)
    rhythm_sigma_h: float = 0.6
    active_day_share: float = 0.6       # mean share of the 21 days a user is active (Beta, per user)
    session_mean_len: float = 8.0       # exposures per session (geometric)
    gap_median_s: float = 12.0          # gap between successive exposures of a session (lognormal)
    gap_sigma: float = 1.0
    n_favourites: float = 4.0           # mean favourites per user (1 + Poisson(n - 1)), at most max_favourites
    max_favourites: int = 6
    fav_share: float = 0.45             # mean P(a request first looks for a live favourite) (Beta, per user)
    fav_pool: int = 64                  # popularity-drawn candidates a user's favourites are picked from
    fav_affinity: float = 2.0           # weight of affinity when picking favourites
    fav_hour_sigma_h: float = 1.5       # favourites stream near the user's preferred hour (rhythm on)

    # --- exposure process (the feed) ---------------------------------------------------------------
    bin_min: int = 15                   # time slot of the live-room index
    feed_pop_exponent: float = 0.6      # exploitation: feed weight per live minute = popularity ** this
    fresh_boost: float = 150.0          # exploration: a new room's popularity-free burst, worth this many
    fresh_tau_min: float = 3.0          # ... median-popularity live minutes, decaying as exp(-age / tau)
    feed_proposals: int = 1             # proposals per request: the first live at the request time is shown

    # --- click -------------------------------------------------------------------------------------
    click_base: float = -4.70
    click_user_sigma: float = 0.3
    click_affinity: float = 0.6
    click_popularity: float = 0.85      # per unit of log popularity
    click_favourite: float = 0.8
    click_highlight: float = 2.0
    click_tod: float = 0.3              # x (global activity curve at t - its mean)
    click_age: float = 0.3              # x (1 - exp(-room age / warm_tau_min) - 0.5)
    warm_tau_min: float = 10.0

    # --- watch time --------------------------------------------------------------------------------
    engage_base: float = -2.75          # P(engaged session) = sigmoid(base + user + affinity + fav + highlight)
    engage_user_sigma: float = 0.3
    engage_affinity: float = 0.5
    engage_favourite: float = 0.8
    engage_highlight: float = 0.4
    watch_engaged_median_s: float = 200.0
    watch_engaged_sigma: float = 1.3
    watch_affinity: float = 0.25        # log-watch shift per unit affinity (engaged sessions)
    watch_bounce_median_s: float = 3.0
    watch_bounce_sigma: float = 0.9

    # --- in-room events (per click; the bounce state multiplies odds by exp(*_bounce)) --------------
    comment_base: float = -3.355        # logit of P(comment | engaged session) at zero affinity
    comment_user_sigma: float = 0.35    # per-user propensity (shares a "social" factor with likes)
    comment_affinity: float = 0.4
    comment_bounce: float = -2.0
    like_base: float = -3.43
    like_user_sigma: float = 0.35
    like_affinity: float = 0.4
    like_bounce: float = -2.0
    gift_base: float = -4.90
    gift_user_sigma: float = 0.4
    gift_affinity: float = 0.3
    gift_favourite: float = 0.8         # gifts go to favourites more
    gift_bounce: float = -2.5
    gift_whale_share: float = 0.02      # whales: this share of users ...
    gift_whale_boost: float = 1.5       # ... have this much higher gift logit on average ...
    gift_whale_sigma: float = 2.0       # ... varying this much between whales (omega ~ N(0, 1))
    price_tilt_base: float = -0.16      # unit price: P(unit) ~ weight * unit ** tilt, tilt = base ...
    price_tilt_slope: float = 0.04      # ... + slope * z_gift (the user's gift propensity) ...
    price_tilt_whale: float = 0.3       # ... + whale * (this + whale_slope * omega): dearer for heavier whales ...
    price_tilt_whale_slope: float = 0.2
    price_tilt_sigma: float = 0.05      # ... + N(0, this)
    price_units: tuple[int, ...] = (1, 2, 5, 10, 20, 30, 52, 66, 88, 99, 188, 298, 520, 666, 1314)
    price_weights: tuple[float, ...] = (0.48, 0.16, 0.06, 0.08, 0.04, 0.025, 0.02, 0.025, 0.04, 0.008,
                                        0.012, 0.008, 0.01, 0.006, 0.01)
    gift_counts: tuple[int, ...] = (1, 2, 3, 5, 10)   # gift_price = unit x count
    gift_count_weights: tuple[float, ...] = (0.86, 0.06, 0.03, 0.03, 0.02)

    # --- kuailive-sim-2: platform traffic, content drift, weekly rhythm, platform profiles, match value ---
    hl_traffic_boost: float = 7.0       # platform audience (so feed exposure) inside a highlight, x the room's usual
    platform_scale: float = 20000.0     # platform viewers per sampled user (KuaiLive: ~23 k of ~400 M daily users)
    content_weight: float = 0.35        # share of the user-room match from the room's current topic (rest: streamer)
    topics_per_category: int = 12       # the topic bank: room contents, each inside one category
    variety_share: float = 0.3          # streamers with a second category (their second title is of it)
    title_topic_share: float = 0.7      # a titled room's topic is its title's (rest: another of its category)
    segment_rate_per_h: float = 1.0     # content changes per live hour inside a room (unannounced segments)
    segment_title_share: float = 0.5    # a change takes the topic of one of the streamer's titles (else its category's)
    weekend_activity: float = 1.08      # P(active day) and the pick of a session's day, x this on Sat/Sun
    weekend_hour_shift_h: float = 0.8   # weekend sessions start this much later
    weekend_tilt: tuple[float, ...] = (-1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, -1.0, 1.0)  # per category:
    #                                     leisure (game, outdoor, food, sports) up, shop and education down
    weekend_taste: float = 0.6          # weekend feed tastes tilt by exp(this x weekend_tilt[category])
    weekend_click: float = 0.3          # click logit + this x weekend_tilt[room category] on weekends
    weekend_stream: float = 0.3         # logit P(stream on a day) + this on weekends
    engage_match: float = 0.7           # match_value: extra engaged-session logit per unit match
    watch_match: float = 0.35           # ... extra log-watch per unit match (engaged sessions)
    price_match: float = 0.10           # ... extra unit-price tilt per unit match (better matches, dearer gifts)
    match_centre: float = 1.8           # ... all three centred at a typical click's match, so rates stay calibrated

    # --- release quirks ----------------------------------------------------------------------------
    snap_share: float = 0.988           # events stamped with the entry click's ts (rest: true in-session time)
    unlogged_rate: float = 0.0003       # negatives followed by an entry the log missed, yielding an event
    streamer_mismatch: float = 0.003    # click rows carrying another streamer_id than room.csv


_TINY = dict(n_users=300, n_streamers=2700, user_oversample=8.0, requests_per_user=130.0)
_SMALL: dict[str, Any] = {}
# A mechanism study, not KuaiLive-shaped: few streamers, so many sampled users share each live room.
_DENSE = dict(n_users=2000, n_streamers=150, user_oversample=4.0, requests_per_user=160.0)
_FULL = dict(n_users=23772, n_streamers=452621, user_oversample=2.5, requests_per_user=378.0, min_requests=300.0,
             activity_sigma=0.8)
PRESETS: dict[str, dict[str, Any]] = {"tiny": _TINY, "small": _SMALL, "dense": _DENSE, "full": _FULL}
STUDY_PRESETS = ("dense",)  # labelled "mechanism study, not KuaiLive-shaped" wherever they appear


# kuailive-sim-1: every sim-2 switch off and the values sim-2 recalibrated (on seed 1) back at sim-1's; with
# these overrides the model writes sim-1's files byte for byte (tests/test_sim_pinned.py).
SIM1_OVERRIDES: dict[str, Any] = {
    **{k: False for k in SIM2_SWITCHES},
    "click_base": -4.39, "engage_base": -2.3, "watch_engaged_median_s": 305.0, "price_tilt_base": -0.09,
    "comment_base": -3.22, "like_base": -3.32, "gift_base": -4.83,
}


def _coerce(name: str, default: Any, value: Any) -> Any:
    """An override converted to the type of the field's default, or a clear error."""
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if isinstance(default, int):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, tuple):
            kind = type(default[0])
            return tuple(kind(v) for v in value)
    except (TypeError, ValueError) as e:
        raise BenchmarkError(f"sim parameter '{name}': cannot use {value!r} ({e})") from e
    return value


def get_params(preset: str, overrides: dict[str, Any] | None = None) -> SimParams:
    """The parameters of a preset (tiny, small, dense, full), with `overrides` (field name -> value) applied."""
    if preset not in PRESETS:
        raise BenchmarkError(f"unknown sim preset '{preset}' (choose one of {', '.join(PRESETS)})")
    values = {**PRESETS[preset], **(overrides or {})}
    defaults = {f.name: f.default for f in fields(SimParams)}
    unknown = sorted(set(values) - set(defaults))
    if unknown:
        raise BenchmarkError(f"unknown sim parameter(s): {', '.join(unknown)}")
    params = SimParams(**{k: _coerce(k, defaults[k], v) for k, v in values.items()})
    validate(params)
    return params


def validate(p: SimParams) -> None:
    """Reject parameter sets the model cannot run with, in one clear sentence."""
    problems = []
    if p.n_users < 1 or p.n_streamers < 2:
        problems.append("n_users must be >= 1 and n_streamers >= 2")
    if p.user_oversample < 1.0:
        problems.append("user_oversample must be >= 1")
    if len(p.category_shares) != len(CATEGORIES) or abs(sum(p.category_shares) - 1) > 1e-6:
        problems.append(f"category_shares needs {len(CATEGORIES)} shares summing to 1")
    if len(p.price_units) != len(p.price_weights) or len(p.gift_counts) != len(p.gift_count_weights):
        problems.append("price_units/price_weights and gift_counts/gift_count_weights must pair up")
    if not 0 <= p.category_weight <= 1:
        problems.append("category_weight must lie in [0, 1]")
    if 1440 // p.bin_min * len(CATEGORIES) * 22 > 2**31 or p.bin_min < 1:
        problems.append("bin_min must be a positive number of minutes")
    if p.topics_per_category < 1 or not 0 <= p.content_weight <= 1:
        problems.append("topics_per_category must be >= 1 and content_weight in [0, 1]")
    if len(p.weekend_tilt) != len(CATEGORIES):
        problems.append(f"weekend_tilt needs one value per category ({len(CATEGORIES)})")
    if p.feed_proposals < 1 or p.max_favourites < 1 or p.max_rooms_per_block < 1:
        problems.append("feed_proposals, max_favourites and max_rooms_per_block must be >= 1")
    if problems:
        raise BenchmarkError("invalid sim parameters: " + "; ".join(problems))


def to_dict(p: SimParams) -> dict[str, Any]:
    """The parameters as a JSON-ready dict (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(p).items()}


def from_dict(d: dict[str, Any]) -> SimParams:
    """Inverse of to_dict (used by Oracle.load on params.json)."""
    defaults = {f.name: f.default for f in fields(SimParams)}
    unknown = sorted(set(d) - set(defaults))
    if unknown:
        raise BenchmarkError(f"params.json: unknown sim parameter(s): {', '.join(unknown)}")
    # A params.json without sim-2's switches was written by kuailive-sim-1, which had none of them.
    older = {k: False for k in SIM2_SWITCHES if k not in d}
    return SimParams(**{k: _coerce(k, defaults[k], v) for k, v in {**d, **older}.items()})
