"""When things happen: each streamer's rooms (daily blocks of short rooms, lifecycles), the highlight
windows inside rooms, and each user's sessions of feed requests."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.special import expit, logit

from benchmark.data.schema import DAY_MS
from benchmark.sim.oracle import (
    CAP_MS,
    MINUTE_MS,
    N_DAYS,
    STREAMER_PROFILE,
    T0_MS,
    T1_MS,
    USER_PROFILE,
    interval_key,
    packed_argsort,
)
from benchmark.sim.presets import SimParams
from benchmark.sim.vectorised import (
    HOUR_MS,
    running_max_prev,
    sample_hours,
    seg_exclusive_cumsum,
    sorted_positions,
)

if TYPE_CHECKING:
    from benchmark.sim.world import World


def weekend_days(day: np.ndarray) -> np.ndarray:
    """Whether each window day index (0 = Monday 2025-05-05; -1 the Sunday before) is a Saturday or Sunday."""
    return np.mod(day, 7) >= 5


def make_rooms(p: SimParams, rng: np.random.Generator, st: dict) -> tuple[dict, np.ndarray]:
    """Each streamer streams on some days a block of back-to-back short rooms from (about) its preferred hour.

    Returns the rooms sorted by (streamer, start), none overlapping within a streamer, and their
    sorted look-up keys interval_key(streamer, start).
    """
    n = p.n_streamers
    days = np.arange(-1, N_DAYS)
    p_day = st["p_day"][:, None].astype(np.float32)
    if p.weekly_rhythm:  # more streamers live on Saturdays and Sundays
        p_day = expit(logit(st["p_day"][:, None]) + p.weekend_stream * weekend_days(days)[None, :]).astype(np.float32)
    on = rng.random((n, days.size), dtype=np.float32) < p_day
    b_s, b_d = np.nonzero(on)
    nb = b_s.size
    if p.daily_rhythm:
        h = (st["hour"][b_s] + p.start_jitter_h * rng.standard_normal(nb)) % 24.0
    else:
        h = sample_hours(rng, STREAMER_PROFILE, nb, p.daily_peak)
    b_start = T0_MS + days[b_d].astype(np.int64) * DAY_MS + (h * HOUR_MS).astype(np.int64)
    k = 1 + np.minimum(rng.poisson(p.rooms_per_block, nb), p.max_rooms_per_block - 1)
    nr = int(k.sum())
    z = rng.standard_normal(nr, dtype=np.float32)
    dur = np.exp(np.float32(np.log(p.room_median_min * MINUTE_MS)) + np.float32(p.room_sigma) * z)
    dur = np.clip(dur, MINUTE_MS, p.room_max_h * HOUR_MS).astype(np.int64)
    rng.standard_normal(nr, dtype=np.float32, out=z)
    gap = np.exp(np.float32(np.log(p.room_gap_median_min * MINUTE_MS)) + np.float32(0.8) * z).astype(np.int64)
    del z
    gap += dur
    start = seg_exclusive_cumsum(gap, k)  # exact: int64 milliseconds
    del gap
    start += np.repeat(b_start, k)
    end = np.minimum(start + dur, CAP_MS)
    del dur
    s = np.repeat(b_s.astype(np.int32), k)
    keep = np.nonzero((end > T0_MS) & (start < T1_MS))[0]
    start, end, s = start[keep], end[keep], s[keep]
    # Drop rooms that would overlap an earlier room of the same streamer (a long block meeting the next day's).
    start_key = interval_key(s, start)
    ok = np.nonzero(start_key >= running_max_prev(interval_key(s, end)))[0]
    start, end, s, start_key = start[ok], end[ok], s[ok], start_key[ok]
    nr = start.size
    live_type = st["live_type"][s].copy()
    other = rng.random(nr) < 0.1
    live_type[other] = (1 + rng.integers(0, 4, int(other.sum()))).astype(np.int8)
    rooms = {"streamer": s, "start": start, "end": end, "live_type": live_type}
    return rooms, start_key


def make_highlights(p: SimParams, rng: np.random.Generator, rooms: dict,
                    subset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Poisson highlight windows (minutes long, non-overlapping) in the rooms `subset` (sorted indices).

    Returns keys interval_key(room, start) sorted by (room, start) and the windows' ends. Only rooms
    that can matter (exposed or written) get windows drawn, in a fixed order, so a room's windows do
    not depend on the rest of the run.
    """
    dur = (rooms["end"][subset] - rooms["start"][subset]).astype(np.float64)
    m = rng.poisson(p.highlight_rate_per_h * dur / HOUR_MS)
    has = np.nonzero(m)[0]
    m = m[has].astype(np.int64)
    if has.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    pos = sorted_positions(rng, m)
    j = np.repeat(has, m)
    r = subset[j]
    h_start = rooms["start"][r] + (pos * dur[j]).astype(np.int64)
    length = np.exp(np.log(p.highlight_median_min * MINUTE_MS) + p.highlight_sigma * rng.standard_normal(r.size))
    h_end = np.minimum(h_start + length.astype(np.int64), rooms["end"][r])
    key = interval_key(r, h_start)
    ok = (h_end > h_start) & (key >= running_max_prev(interval_key(r, h_end)))
    return key[ok], h_end[ok]


def add_highlights(p: SimParams, rng: np.random.Generator, w: World, exposed: np.ndarray) -> None:
    """Draw the highlight windows of exposed rooms (and, touched_rooms_only off, of every other room after)."""
    key, end = make_highlights(p, rng, w.rooms, np.nonzero(exposed)[0])
    if not p.touched_rooms_only:
        k2, e2 = make_highlights(p, rng, w.rooms, np.nonzero(~exposed)[0])
        key, end = np.concatenate([key, k2]), np.concatenate([end, e2])
        order = np.argsort(key, kind="stable")
        key, end = key[order], end[order]
    w.hl_key, w.hl_end = key, end


def make_requests(p: SimParams, rng: np.random.Generator,
                  users: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Feed requests in sessions on the user's active days at the user's hours, seconds apart.

    Returns (user, time, session) per request sorted by (time, user), and each session's start time.
    """
    n = users["requests"].size
    L = p.session_mean_len
    n_sess = np.maximum(1, rng.poisson(users["requests"] / L))
    # weekly_rhythm: Saturdays and Sundays are likelier active days and likelier picked for a session.
    day_w = np.where(weekend_days(np.arange(N_DAYS)), p.weekend_activity, 1.0) if p.weekly_rhythm else None
    share = users["active_share"][:, None] if day_w is None else np.minimum(users["active_share"][:, None] * day_w, 1)
    act = rng.random((n, N_DAYS)) < share
    none = ~act.any(axis=1)
    act[np.nonzero(none)[0], rng.integers(0, N_DAYS, int(none.sum()))] = True
    act_u, act_d = np.nonzero(act)
    cnt = act.sum(axis=1)
    off = np.cumsum(cnt) - cnt
    su = np.repeat(np.arange(n, dtype=np.int32), n_sess)
    if day_w is None:
        day = act_d[off[su] + (rng.random(su.size) * cnt[su]).astype(np.int64)]
    else:  # weighted pick among the user's active days: search the user's stretch of the cumulated weights
        cw = np.cumsum(day_w[act_d])
        lo = np.where(off > 0, cw[np.maximum(off - 1, 0)], 0.0)
        hi = cw[off + cnt - 1]
        target = lo[su] + rng.random(su.size) * (hi[su] - lo[su])
        pick = np.minimum(np.searchsorted(cw, target, side="right"), off[su] + cnt[su] - 1)
        day = act_d[np.maximum(pick, off[su])]
    hour = sample_hours(rng, USER_PROFILE, su.size, p.daily_peak)
    if p.daily_rhythm:
        own = rng.random(su.size) < p.rhythm_share
        hour[own] = (users["hour"][su[own]] + p.rhythm_sigma_h * rng.standard_normal(int(own.sum()))) % 24.0
    if p.weekly_rhythm:  # weekend sessions start later (past midnight: early the next day)
        hour = np.where(weekend_days(day), hour + p.weekend_hour_shift_h, hour)
    s_start = T0_MS + day.astype(np.int64) * DAY_MS + (hour * HOUR_MS).astype(np.int64)
    length = rng.geometric(1.0 / L, su.size).astype(np.int64)
    sess = np.repeat(np.arange(su.size, dtype=np.int32), length)
    gaps = np.exp(np.log(p.gap_median_s * 1000.0) + p.gap_sigma * rng.standard_normal(sess.size))
    t = s_start[sess] + seg_exclusive_cumsum(gaps, length).astype(np.int64)
    keep = np.nonzero(t < T1_MS)[0]
    order = keep[packed_argsort(t[keep] - T0_MS)]  # stable: ties stay in user order
    return su[sess[order]], t[order], sess[order], s_start
